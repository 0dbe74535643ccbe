"""Benchmark: how fast leadership moves between replica processes, and how fast a wake-up reaches the leader.

Replicas here are lease processes (`tests.leader.lease_child`) on one PostgreSQL database, with the timings the bot
derives from WATCH_INTERVAL_SECONDS (`LeaseTiming.for_watch_interval`). For each way a leader can go, it measures
the seconds from the signal to the moment a standby holds the lock under a new term (one monotonic clock for all
processes), and checks the promise: under 2 x WATCH_INTERVAL_SECONDS, every term one more than the last.

- `sigterm`: a clean stop (releases and notifies);
- `sigkill`: the process dies, the kernel closes its socket;
- `terminate`: the server ends its session (`pg_terminate_backend`: a database failover, an admin);
- `sigstop`: the process freezes, its socket stays open; the server ends the silent session after the lease.

Then the latency of `bot.wakeups.notify` from one connection to the leader's callback (p50/p99).

    .venv/bin/python bench/failover.py [--postgres URL] [--interval 2] [--rounds 3]

The URL defaults to $DISBOT_TEST_POSTGRES_URL; a database `leader_bench_<pid>` is created there and dropped.
(To come with the PostgreSQL store: the same scenarios with 2-3 `dis-bot serve` processes, counting alerts at the
fake Slack: see tests/leader/replicas.py.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

from bot.leader import LEADERSHIP_DDL, LeaseTiming, PostgresLease, asyncpg_dsn
from bot.wakeups import OUTBOX_QUEUED, notify
from tests.leader.conftest import with_database
from tests.leader.processes import LeaseProcess, eventually_within, lease_processes

SCENARIOS = ("sigterm", "sigkill", "terminate", "sigstop")


async def handover(url: str, admin: asyncpg.Connection, timing: LeaseTiming, scenario: str) -> tuple[float, int]:
    """One leader and one standby; end the leader one way; seconds until the standby leads, and its term."""
    key = random.randrange(1, 2**62)
    before = int(await admin.fetchval("SELECT term FROM leadership WHERE id = 1"))
    async with lease_processes(url, key, "a", "b", timing=timing) as (a, b):
        await eventually_within(timing.lease * 4 + 5, lambda: a.leading)
        if scenario == "terminate":
            [pid] = [e["pid"] for e in a.of("gained")]
            started = time.monotonic()
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
        else:
            sig = {"sigterm": signal.SIGTERM, "sigkill": signal.SIGKILL, "sigstop": signal.SIGSTOP}[scenario]
            started = a.signal(sig)
        await eventually_within(timing.lease * 4 + 5, lambda: b.leading)
        gained = b.of("gained")[0]
        if scenario == "sigstop":
            await resumed_without_acting(a)
    assert gained["term"] == before + 2, (gained, before)  # a took before + 1
    return gained["t"] - started, int(gained["term"])


async def resumed_without_acting(a: LeaseProcess) -> None:
    resumed = a.signal(signal.SIGCONT)
    await eventually_within(10, lambda: bool(a.of("lost")))
    assert all(e["t"] < resumed for e in a.of("act")), "the paused leader acted after resuming"


async def wakeups(url: str, n: int = 200) -> list[float]:
    """Seconds from `notify()` on one connection to the lease's callback on another, n times."""
    arrived: asyncio.Queue[float] = asyncio.Queue()
    timing = LeaseTiming(lease=3, check_interval=1, check_timeout=1, retry_interval=0.5)
    lease = PostgresLease(
        url,
        holder="bench",
        timing=timing,
        key=random.randrange(1, 2**62),
        record=None,
        listen={OUTBOX_QUEUED: lambda _: arrived.put_nowait(time.monotonic())},
    )
    await lease.start()
    await arrived.get()  # the "reconnected" wake-up
    conn = await asyncpg.connect(asyncpg_dsn(url))
    latencies = []
    try:
        for i in range(n):
            sent = time.monotonic()
            await notify(conn, OUTBOX_QUEUED, str(i))
            latencies.append(await asyncio.wait_for(arrived.get(), 5) - sent)
    finally:
        await conn.close()
        await lease.stop()
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("DISBOT_TEST_POSTGRES_URL"))
    parser.add_argument("--interval", type=float, default=2.0, help="WATCH_INTERVAL_SECONDS to derive timings from")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    args = parser.parse_args()
    if not args.postgres:
        parser.error("give --postgres URL or set DISBOT_TEST_POSTGRES_URL")
    timing = LeaseTiming.for_watch_interval(args.interval)
    name = f"leader_bench_{os.getpid()}"
    server = await asyncpg.connect(asyncpg_dsn(args.postgres))
    await server.execute(f'CREATE DATABASE "{name}"')
    url = with_database(args.postgres, name)
    admin = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await admin.execute(LEADERSHIP_DDL)
        await admin.execute("INSERT INTO leadership (id, term) VALUES (1, 0)")
        print(
            f"WATCH_INTERVAL_SECONDS={args.interval:g}: lease {timing.lease:g}s, check every "
            f"{timing.check_interval:.2f}s (timeout {timing.check_timeout:.2f}s), "
            f"standby retry {timing.retry_interval:g}s; budget 2 x interval = {2 * args.interval:g}s"
        )
        for scenario in args.scenarios:
            seconds = [(await handover(url, admin, timing, scenario))[0] for _ in range(args.rounds)]
            verdict = "ok" if max(seconds) < 2 * args.interval else "OVER BUDGET"
            print(
                f"  {scenario:<9} handover: median {statistics.median(seconds):.3f}s, max {max(seconds):.3f}s "
                f"over {args.rounds} rounds ({verdict})"
            )
        latencies = sorted(await wakeups(url))
        p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99) - 1]
        print(f"  wake-up (NOTIFY -> leader's callback): p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms")
    finally:
        await admin.close()
        await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await server.close()


if __name__ == "__main__":
    asyncio.run(main())
