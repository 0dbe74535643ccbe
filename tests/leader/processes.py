"""Lease replicas as processes (`tests.leader.lease_child`), for the tests and `bench/failover.py`.

async with lease_processes(url, key, "a", "b") as (a, b):
    killed = a.signal(signal.SIGKILL)
    await b.wait(lambda c: c.leading)
    print(b.of("gained")[0]["t"] - killed)   # seconds to hand over (one monotonic clock for all)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bot.leader import LeaseTiming
from tests.conftest import eventually
from tests.leader.conftest import FAST

ROOT = Path(__file__).resolve().parents[2]


class LeaseProcess:
    """One `tests.leader.lease_child` process and the events it printed (read as they come)."""

    def __init__(self, holder: str, proc: asyncio.subprocess.Process) -> None:
        self.holder = holder
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            text = line.decode(errors="replace").strip()
            self.events.append(json.loads(text) if text.startswith("{") else {"event": "output", "text": text})

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]

    @property
    def leading(self) -> bool:
        """Gained more often than lost, by what it printed."""
        return len(self.of("gained")) > len(self.of("lost"))

    async def wait(self, check: Callable[[LeaseProcess], bool]) -> None:
        await eventually(lambda: check(self))

    def signal(self, sig: signal.Signals) -> float:
        self.proc.send_signal(sig)
        return time.monotonic()

    async def close(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGCONT)
                self.proc.kill()
            await self.proc.wait()
        await self._reader


@contextlib.asynccontextmanager
async def lease_processes(
    url: str, key: int, *holders: str, timing: LeaseTiming = FAST
) -> AsyncIterator[list[LeaseProcess]]:
    """Start one child per holder, in order, each once the previous is `ready`; all killed afterwards."""
    started: list[LeaseProcess] = []
    try:
        for holder in holders:
            options = {"url": url, "key": key, "holder": holder, "timing": asdict(timing)}
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.leader.lease_child",
                json.dumps(options),
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            child = LeaseProcess(holder, proc)
            started.append(child)
            await child.wait(lambda c: bool(c.of("ready")))
        yield started
    finally:
        for child in started:
            await child.close()


async def eventually_within(seconds: float, check: Callable[[], bool], *children: LeaseProcess) -> None:
    """`eventually` with a stated bound (the pause test waits out a lease); on a timeout, what `children` printed."""
    try:
        async with asyncio.timeout(seconds):
            while not check():  # noqa: ASYNC110
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"not within {seconds:g}s:\n{story(*children)}") from None


def story(*children: LeaseProcess) -> str:
    """What each child printed but its `act` ticks, with times relative to the first event: for failure messages
    (a child's warnings, such as a failed health check, arrive as `output` events)."""
    events = [(e["t"], c.holder, e) for c in children for e in c.events if e["event"] != "act" and "t" in e]
    start = min((t for t, _, _ in events), default=0.0)
    lines = [f"{t - start:7.3f} {holder}: {e}" for t, holder, e in sorted(events, key=lambda x: x[0])]
    lines += [f"        {c.holder}: {e['text']}" for c in children for e in c.events if e["event"] == "output"]
    return "\n".join(lines)
