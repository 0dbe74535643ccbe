"""Benchmark: the watcher polling 1,000 streams x 5 dump tasks against the DIS simulator at 50 ms latency.

The simulator runs in its own process (driven over a pipe), so the CPU time measured here is the bot's alone:
DIS client, TaskService, alert engine and SQLite store. The fake Slack Web API runs in this process (it only
sees the few alert posts and their edits). Prints, for each concurrency C:

- cycle time against the ideal ceil(streams / C) x latency (reads back to back, no spreading),
- CPU time per cycle (`time.process_time`),
- then peak traced memory per watched task (`tracemalloc`, during two cycles),
- and, with the real loop running, the time from a state change in DIS to the alert's arrival at Slack
  (p50/p99, in a post or in the edit that added it to the cycle's message), plus the part of it the bot
  itself adds (from the poll that saw the change to the post or edit), and the posts and edits it took;
- DIS calls per cycle by kind (task lists, task details, stream descriptions) at the default
  WATCH_INTERVAL_SECONDS, WATCH_STALL_MINUTES and WATCH_DEEP_INTERVAL_SECONDS, averaged over one deep interval
  (the watcher's clock stepped by one interval per cycle, DIS at 0 ms): all tasks healthy, then 5 % of them
  stalled; and whether the deep reads add at most 50 % to the list reads.

    .venv/bin/python bench/watcher.py [--streams 1000] [--tasks 5] [--latency 0.05] [--concurrency 10 50]
    .venv/bin/python bench/watcher.py --deep-only      # only the calls per cycle by kind
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOKEN = "bench-dis-token"
SLACK_TOKEN = "xoxb-bench"
CHANNELS = 10


# ---------------------------------------------------------------------- the simulator's process


def simulator_process(conn: Connection, streams: int, tasks: int, latency: float, live: bool = False) -> None:
    """Serve a simulator with `streams` x `tasks` RUNNING tasks; apply state changes sent over `conn`.

    `live`: the tasks transfer by the simulator's data clock (every 300 s, as OBS dumps do), which the parent
    moves with its own ("time"), so a stepped watcher sees healthy tasks as healthy.
    """
    from bot.dis.simulator import DisSimulator, SimTask

    sim = DisSimulator(token=TOKEN)
    data_now = [time.time()]
    if live:
        sim.data_clock = lambda: data_now[0]
    for i in range(streams):
        sim.add_stream(stream_name(i), [SimTask(f"task-{j}", live=live) for j in range(tasks)])
    sim.latency = latency
    with sim.running_in_thread() as url:
        conn.send(("ready", url, sim.project_id))
        while True:
            message = conn.recv()
            if message[0] == "set":
                _, stream, task, state = message
                sim.set_state(stream, task, state)
                conn.send(time.time())
            elif message[0] == "count":
                conn.send(sim.count(path="/transfer-tasks"))
            elif message[0] == "time":
                data_now[0] = message[1]
                conn.send(None)
            elif message[0] == "kinds":
                conn.send(request_kinds(sim))
            elif message[0] == "stall":
                _, pairs, ago, records = message
                for stream, task in pairs:
                    sim.stall(stream, task, ago=ago)
                    sim.produce(stream, records)
                conn.send(None)
            elif message[0] == "reset":
                sim.reset_counts()
                conn.send(None)
            else:
                conn.send(None)
                return


def stream_name(i: int) -> str:
    return f"stream-{i:04d}"


def request_kinds(sim: Any) -> dict[str, int]:
    """The simulator's requests so far by kind: task lists, task details, stream descriptions."""
    kinds = {"list": 0, "details": 0, "describe": 0}
    for key, n in sim.counts.items():
        path = key.partition(" ")[2]
        parts = path.strip("/").split("/")  # v2 / project / streams / NAME [/ transfer-tasks [/ TASK]]
        if len(parts) == 5 and parts[4] == "transfer-tasks":
            kinds["list"] += n
        elif len(parts) == 6 and parts[4] == "transfer-tasks":
            kinds["details"] += n
        elif len(parts) == 4 and parts[2] == "streams":
            kinds["describe"] += n
    return kinds


class Simulator:
    """The parent's handle on the simulator process."""

    def __init__(self, streams: int, tasks: int, latency: float, live: bool = False) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=simulator_process, args=(child, streams, tasks, latency, live), daemon=True)
        self.process.start()
        _, self.url, self.project_id = self.conn.recv()

    def ask(self, *message: Any) -> Any:
        self.conn.send(message)
        return self.conn.recv()

    def close(self) -> None:
        self.ask("stop")
        self.process.join(5)


# ---------------------------------------------------------------------- the bot's side


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


def build(
    sim: Any,
    fake_url: str,
    db: str,
    concurrency: int,
    interval: float,
    env: dict[str, Any] | None = None,
    **options: Any,
) -> Any:
    """A Watcher on `db` against `sim` (a `Simulator` or a `DisSimulator`); `env` adds settings by name."""
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.blocks.alerts import BLOCK_KIT_ALERTS
    from bot.config import Settings
    from bot.dis.client import DisClient
    from bot.services.tasks import TaskService
    from bot.store import open_store
    from bot.watcher.watcher import Watcher

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        DIS_REGION="cn-north-4",
        DIS_PROJECT_ID=sim.project_id,
        DIS_ENDPOINT=sim.url,
        DIS_AUTH_TOKEN=TOKEN,
        WATCH_INTERVAL_SECONDS=interval,
        WATCH_CONCURRENCY=concurrency,
        **(env or {}),
    )
    store = open_store(f"sqlite:///{db}")
    client = DisClient(settings)
    tasks = TaskService(client, settings.cache_ttl_seconds)
    slack = AsyncWebClient(token=SLACK_TOKEN, base_url=fake_url)
    return Watcher(settings, store, tasks, slack, renderer=BLOCK_KIT_ALERTS, **options)


async def subscribe(db: str, streams: int) -> None:
    """1,000 watches over 10 channels, baselines already taken (as after the first day)."""
    from bot.store import open_store

    store = open_store(f"sqlite:///{db}")
    async with store.transaction():
        for i in range(streams):
            channel = f"C{i % CHANNELS:04d}BENCH"
            await store.upsert_subscription(channel, stream_name(i), now=time.time())
            await store.set_baseline_done(channel, stream_name(i))
    await store.close()


async def cycles(sim: Simulator, fake_url: str, db: str, concurrency: int, latency: float, n: int) -> dict[str, Any]:
    """Time `n` back-to-back cycles at concurrency C (after one warm-up cycle)."""
    watcher = build(sim, fake_url, db, concurrency, 60.0, spread=0.0)
    await watcher.run_cycle()
    sim.ask("reset")
    walls, cpus = [], []
    for _ in range(n):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await watcher.run_cycle()
        walls.append(time.perf_counter() - wall0)
        cpus.append(time.process_time() - cpu0)
    reads = sim.ask("count") / n
    await watcher.tasks.client.aclose()
    await watcher.store.close()
    ideal = math.ceil(len(watcher.engine.states) / concurrency) * latency
    return {
        "c": concurrency,
        "wall": statistics.median(walls),
        "cpu": statistics.median(cpus),
        "ideal": ideal,
        "reads": reads,
    }


async def memory(sim: Simulator, fake_url: str, db: str, concurrency: int, watched_tasks: int) -> tuple[float, float]:
    """Peak and steady traced memory per watched task while the watcher runs two cycles."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    watcher = build(sim, fake_url, db, concurrency, 60.0, spread=0.0)
    for _ in range(2):
        await watcher.run_cycle()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    await watcher.tasks.client.aclose()
    await watcher.store.close()
    return (peak - base) / watched_tasks, (current - base) / watched_tasks


async def latency_run(
    sim: Simulator, fake: Any, db: str, concurrency: int, interval: float, changes: int, streams: int
) -> dict[str, Any]:
    """The real loop: change `changes` tasks to ERROR at random moments; time each until its alert reaches Slack."""
    watcher = build(sim, fake.url, db, concurrency, interval, spread=0.5)
    await watcher.start()
    await asyncio.sleep(interval)  # let the first cycle pass
    rng = random.Random(7)
    picked = rng.sample(range(streams), changes)
    changed: dict[str, float] = {}
    for i in picked:
        await asyncio.sleep(rng.uniform(0, 2 * interval / 3))
        changed[f"{stream_name(i)}/task-1"] = await asyncio.to_thread(sim.ask, "set", stream_name(i), "task-1", "ERROR")
    deadline = time.monotonic() + 3 * interval + 10
    # A cycle's later problems join its first message (chat.update), so count names rather than wait for N posts.
    while time.monotonic() < deadline and len(arrivals(fake, changed)) < len(changed):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    await watcher.stop(timeout=10)
    await watcher.tasks.client.aclose()
    seen = arrivals(fake, changed)
    started = {f"{e.stream}/{e.task_name}": e.started_at for e in await watcher.store.open_episodes()}
    await watcher.store.close()
    total = [seen[name] - changed[name] for name in seen]
    own = [seen[name] - started[name] for name in seen if name in started]
    posts = sum(1 for c in fake.calls_to("chat.postMessage", ok=True) if not c.payload.get("thread_ts"))
    updates = len(fake.calls_to("chat.update", ok=True))
    return {"n": len(seen), "of": len(changed), "total": total, "own": own, "posts": posts, "updates": updates}


class SteppedClock:
    """The watcher's wall clock, moved by hand: one cycle is one WATCH_INTERVAL_SECONDS, without waiting for it."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def deep_calls(sim: Simulator, fake_url: str, db: str, streams: int, tasks: int) -> dict[str, Any]:
    """DIS calls per cycle by kind at the default settings, averaged over one WATCH_DEEP_INTERVAL_SECONDS: healthy,
    then with 5 % of the tasks stalled (one task in each of `streams * tasks / 20` streams)."""
    from bot.config import Settings

    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    interval, deep = defaults.watch_interval_seconds, defaults.watch_deep_interval_seconds
    clock = SteppedClock()
    sim.ask("time", clock.now)
    watcher = build(sim, fake_url, db, 50, interval, spread=0.0, clock=clock)
    n = max(1, round(deep / interval))
    out: dict[str, Any] = {"cycles": n, "interval": interval, "deep": deep, "stall": defaults.watch_stall_minutes}

    async def run(label: str) -> None:
        sim.ask("reset")
        first: dict[str, int] | None = None
        for _ in range(n):
            clock.now += interval
            sim.ask("time", clock.now)
            await watcher.run_cycle()
            if first is None:
                first = sim.ask("kinds")
        total = sim.ask("kinds")
        out[label] = {kind: count / n for kind, count in total.items()}
        out[label + "_first"] = first

    await run("healthy")
    count = max(1, streams * tasks // 20)  # 5 %, one per stream as far as they go: the most descriptions
    step = max(1, streams // count)
    stalled = [(stream_name(i * step % streams), f"task-{i * step // streams % tasks}") for i in range(count)]
    sim.ask("stall", stalled, 3600.0, 100)
    await run("stalled")
    out["stalled_tasks"] = len(stalled)
    out["alerted"] = len({(e.stream, e.task_name) for e in await watcher.store.open_episodes()})
    await watcher.tasks.client.aclose()
    await watcher.store.close()
    return out


def print_deep_calls(r: dict[str, Any], streams: int, tasks: int) -> None:
    print(
        f"DIS calls per cycle by kind, {streams} streams x {tasks} tasks, defaults: WATCH_INTERVAL_SECONDS="
        f"{r['interval']:g}, WATCH_STALL_MINUTES={r['stall']:g}, WATCH_DEEP_INTERVAL_SECONDS={r['deep']:g} "
        f"(mean of {r['cycles']} cycles = one deep interval)"
    )
    print(f"{'':>22} {'list':>8} {'details':>8} {'describe':>9} {'deep/list':>10}")
    for label, name in (("healthy", "healthy"), ("stalled", f"{r['stalled_tasks']} tasks stalled (5%)")):
        k = r[label]
        ratio = (k["details"] + k["describe"]) / k["list"] if k["list"] else 0.0
        print(
            f"{name:>22} {k['list']:>8.1f} {k['details']:>8.1f} {k['describe']:>9.1f} {ratio:>9.0%}"
            f"  {'(<= 50%: ok)' if ratio <= 0.5 else '(> 50%: TOO MANY)'}"
        )
    first = r["stalled_first"]
    print(
        f"  the cycle that found the stalls: {first['list']} lists, {first['details']} details, "
        f"{first['describe']} descriptions; {r['alerted']} tasks alerted"
    )


def arrivals(fake: Any, names: dict[str, float]) -> dict[str, float]:
    """When each task first appeared at Slack: in an alert's post, or in an edit that added it."""
    out: dict[str, float] = {}
    for call in fake.calls:
        if not call.ok or call.method not in ("chat.postMessage", "chat.update") or call.payload.get("thread_ts"):
            continue
        shown = call.text + json.dumps(call.blocks)
        for name in names:
            stream, task = name.split("/")
            if name not in out and (name in call.text or (f"*{stream}*" in shown and f"`{task}`" in shown)):
                out[name] = call.wall
    return out


async def main(args: argparse.Namespace) -> None:
    from bot.devtools.fake_slack import FakeSlack

    logging.basicConfig(level=logging.ERROR)
    started = time.perf_counter()
    if args.deep_only:
        await deep_only(args)
        print(f"total run time {time.perf_counter() - started:.1f} s")
        return
    sim = Simulator(args.streams, args.tasks, args.latency)
    watched = args.streams * args.tasks
    print(
        f"watcher benchmark: {args.streams} streams x {args.tasks} tasks ({watched} watched tasks), "
        f"DIS latency {args.latency * 1000:.0f} ms, simulator in its own process"
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = str(Path(tmp) / "bench.db")
            await subscribe(db, args.streams)
            async with FakeSlack(token=SLACK_TOKEN) as fake:
                print(f"{'C':>4} {'cycle':>9} {'ideal':>9} {'ratio':>6} {'CPU/cycle':>10} {'reads/cycle':>12}")
                for c in args.concurrency:
                    r = await cycles(sim, fake.url, db, c, args.latency, args.cycles)
                    print(
                        f"{r['c']:>4} {r['wall']:>8.2f}s {r['ideal']:>8.2f}s {r['wall'] / r['ideal']:>6.2f} "
                        f"{r['cpu']:>9.3f}s {r['reads']:>12.0f}"
                    )
                peak, steady = await memory(sim, fake.url, db, max(args.concurrency), watched)
                print(
                    f"memory: {peak / 1024:.2f} KiB peak per watched task during a cycle, "
                    f"{steady / 1024:.2f} KiB held between cycles (tracemalloc)"
                )
                c = max(args.concurrency)
                r = await latency_run(sim, fake, db, c, args.interval, args.changes, args.streams)
                total, own = r["total"], r["own"]
                print(
                    f"state change -> alert at Slack ({r['n']}/{r['of']} changes, WATCH_INTERVAL_SECONDS="
                    f"{args.interval:g}, C={c}, spread 50%): p50 {percentile(total, 50):.2f} s, "
                    f"p99 {percentile(total, 99):.2f} s"
                )
                print(
                    f"  of which poll that saw it -> post or edit: p50 {percentile(own, 50) * 1000:.0f} ms, "
                    f"p99 {percentile(own, 99) * 1000:.0f} ms; Slack calls: {r['posts']} alert posts, "
                    f"{r['updates']} chat.update"
                )
    finally:
        sim.close()
    await deep_only(args)
    print(f"total run time {time.perf_counter() - started:.1f} s")


async def deep_only(args: argparse.Namespace) -> None:
    """The calls-per-kind section, on a simulator of its own (no latency: the counts do not depend on it)."""
    from bot.devtools.fake_slack import FakeSlack

    sim = Simulator(args.streams, args.tasks, 0.0, live=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = str(Path(tmp) / "deep.db")
            await subscribe(db, args.streams)
            async with FakeSlack(token=SLACK_TOKEN) as fake:
                r = await deep_calls(sim, fake.url, db, args.streams, args.tasks)
        print_deep_calls(r, args.streams, args.tasks)
    finally:
        sim.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.05, help="DIS latency in seconds")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[10, 50], help="WATCH_CONCURRENCY values")
    parser.add_argument("--cycles", type=int, default=2, help="timed cycles per concurrency")
    parser.add_argument("--interval", type=float, default=3.0, help="WATCH_INTERVAL_SECONDS of the latency run")
    parser.add_argument("--changes", type=int, default=20, help="state changes timed in the latency run")
    parser.add_argument("--deep-only", action="store_true", help="only the DIS calls per cycle by kind")
    asyncio.run(main(parser.parse_args()))
