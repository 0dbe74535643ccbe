"""A replica reduced to its lease, as a process the tests can SIGKILL, SIGSTOP and SIGTERM.

    python -m tests.leader.lease_child '{"url": ..., "key": 123, "holder": "a", "timing": {"lease": 1.5, ...}}'

Writes one JSON object per line on stdout, each with `t` (time.monotonic(), the same clock in every process):
`ready` (after `start()`, with `leader`), `gained` (`term`, `pid` of its server session), `lost` (`reason`),
`act` every 50 ms while `is_leader` says it may act (`term`), and `stopped` after a SIGTERM made it release the
lease.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from typing import Any

from bot.leader import LeaseTiming, PostgresLease


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, "t": time.monotonic(), **fields}), flush=True)


async def main(options: dict[str, Any]) -> None:
    lease = PostgresLease(
        options["url"],
        holder=options["holder"],
        key=options["key"],
        timing=LeaseTiming(**options["timing"]),
        on_gained=lambda term: emit("gained", term=term, pid=lease.backend_pid),
        on_lost=lambda reason: emit("lost", reason=reason),
        record=None,
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await lease.start()
    emit("ready", leader=lease.is_leader)
    while not stop.is_set():
        # What a poll loop would do: act only while the lease says so, checked right before acting.
        if lease.is_leader:
            emit("act", term=lease.term)
        try:
            await asyncio.wait_for(stop.wait(), 0.05)
        except TimeoutError:
            pass
    await lease.stop()
    emit("stopped")


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
