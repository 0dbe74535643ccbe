"""`dis-bot serve` as a real process: HTTP on $PORT with the watcher inside, SIGTERM ends it with exit code 0."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

import httpx

from bot.devtools.fake_slack import FakeSlack
from bot.dis.simulator import SimTask
from tests.conftest import SIM_PROJECT, SIM_REGION, SIM_TOKEN

BOT_TOKEN = "xoxb-process-test-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_for_line(stream: asyncio.StreamReader, needle: str, seen: list[str], timeout: float = 30) -> None:  # noqa: ASYNC109
    async def scan() -> None:
        while True:
            line = (await stream.readline()).decode(errors="replace")
            if not line:
                raise AssertionError(f"process ended before {needle!r}; output:\n{''.join(seen)}")
            seen.append(line)
            if needle in line:
                return

    await asyncio.wait_for(scan(), timeout)


async def test_serve_alerts_and_exits_0_on_sigterm(sim, tmp_path) -> None:
    """The served bot posts an alert for a failing watched task, and SIGTERM stops it cleanly (exit 0)."""
    sim.add_stream("orders-prod", [SimTask("to-obs", state="RUNNING")])
    port = free_port()
    async with FakeSlack(token=BOT_TOKEN) as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DIS_", "CLOUD_SDK_", "IAM_", "SLACK_"))}
        env.update(
            DIS_REGION=SIM_REGION,
            DIS_PROJECT_ID=SIM_PROJECT,
            DIS_ENDPOINT=sim.url,
            DIS_AUTH_TOKEN=SIM_TOKEN,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET="signing-secret-for-test",
            SLACK_API_URL=fake.url,
            PORT=str(port),
            DATABASE_URL=f"sqlite:///{tmp_path}/bot.db",
            DIS_WATCH="orders-prod=C0ALERTS",
            WATCH_INTERVAL_SECONDS="0.5",
            LOG_FORMAT="json",
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "serve",
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        seen: list[str] = []
        try:
            assert proc.stdout is not None
            await wait_for_line(proc.stdout, "server.started", seen)
            async with httpx.AsyncClient() as http:
                assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
            sim.set_state("orders-prod", "to-obs", "ERROR")
            [alert] = await fake.wait_for("chat.postMessage", count=1, timeout=20)
            assert alert.payload["channel"] == "C0ALERTS"
            assert "to-obs" in alert.payload["text"]
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 20)
            seen.append((await proc.stdout.read()).decode(errors="replace"))
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        output = "".join(seen)
        assert code == 0, output
        assert "server.stopping" in output
        assert "Traceback" not in output
        for secret in (SIM_TOKEN, BOT_TOKEN, "signing-secret-for-test"):
            assert secret not in output
