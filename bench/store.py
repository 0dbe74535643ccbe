"""Benchmark: what one store call costs, on SQLite (a fresh file) or PostgreSQL (`--database-url`).

Times `--calls` sequential calls of each kind, one at a time on an idle event loop (the cost a poll or a
command pays per call), and prints the mean and p99 per call:

- read: `subscriptions()` of one channel (one SELECT, no transaction);
- write: `set_alert_mention` (one UPDATE in its own transaction);
- returning: `enqueue` (INSERT ... RETURNING, a new outbox row each time);
- transaction: `upsert_subscription` of an existing watch (two SELECTs and an UPDATE, one transaction);
- batch: `save_task_states` of 50 tasks (one executemany in a fenced transaction).

    .venv/bin/python bench/store.py [--calls 500] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.store import connect_store
from bot.store.base import KnownTask

NOW = 1_700_000_000.0


async def timed(calls: int, call: Callable[[int], Awaitable[object]]) -> list[float]:
    """Seconds of each of `calls` sequential calls (after 10 untimed ones: warm caches and compiled SQL)."""
    for i in range(10):
        await call(-1 - i)
    out = []
    for i in range(calls):
        t0 = time.perf_counter()
        await call(i)
        out.append(time.perf_counter() - t0)
    return out


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * len(ordered)) - 1)]


async def run(calls: int, database_url: str) -> None:
    store = await connect_store(database_url)
    try:
        for c in range(20):
            await store.upsert_subscription(f"C{c}", "orders", now=NOW)
        alert = await store.create_alert("C1", "task", now=NOW)
        tasks = [KnownTask("orders", f"task-{i}", "RUNNING") for i in range(50)]
        kinds: dict[str, Callable[[int], Awaitable[object]]] = {
            "read": lambda i: store.subscriptions(channel_id="C1"),
            "write": lambda i: store.set_alert_mention(alert.id, f"<@U{i}>"),
            "returning": lambda i: store.enqueue(f"k{i}", "C1", "message", now=NOW, payload={"text": "x"}),
            "transaction": lambda i: store.upsert_subscription("C1", "orders", now=NOW),
            "batch": lambda i: store.save_task_states("orders", tasks),
        }
        engine = store.target.engine
        for name, call in kinds.items():
            seconds = await timed(calls, call)
            mean, worst = statistics.fmean(seconds) * 1e6, p99(seconds) * 1e6
            print(f"{engine:10} {name:12} mean {mean:8.0f} µs   p99 {worst:8.0f} µs   ({calls} calls)")
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file")
    args = parser.parse_args()
    if args.database_url:
        asyncio.run(run(args.calls, args.database_url))
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args.calls, f"sqlite:///{tmp}/bench.db"))


if __name__ == "__main__":
    main()
