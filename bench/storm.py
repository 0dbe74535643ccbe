"""Benchmark: new alerts in a channel that already has 200 edits and reminders queued (an alert storm).

The watcher runs for real (its poll loop every `--interval` seconds, not a multiple of the outbox's pace so
polls meet it at every phase, and its outbox at Slack's pace of one call per second per channel) against the
DIS simulator and the fake Slack Web API, which answers each call after `--slack-latency` (Slack's round
trip). Setup, not timed: ten alerts are posted in one channel, then 19 reminders and one edit each are
queued for them and not sent (200 rows). Then, at random moments 1-3 s apart, one more task of that channel
turns ERROR. For each new alert it prints the time from the poll that saw the failure (its episode's start)
to the post's arrival at Slack (p50/p90/max), the same from the state change in DIS, and how much of the
backlog was still queued when the last one arrived.

    .venv/bin/python bench/storm.py [--alerts 10] [--reminders 19] [--new 15] [--interval 1.3] [--slack-latency 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.watcher import SLACK_TOKEN, TOKEN, build, percentile
from bot.devtools.fake_slack import Call, FakeSlack
from bot.dis.simulator import DisSimulator, SimTask

CHANNEL = "C0STORM"
OLD = "storm-old"
NEW = "storm-new"


class ShiftedClock:
    """Wall-clock time plus an offset the setup moves forward, so reminders come due without waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


async def subscribe(db: str) -> None:
    """Watch both streams in CHANNEL, baselines taken."""
    from bot.store import open_store

    store = open_store(f"sqlite:///{db}")
    for stream in (OLD, NEW):
        await store.upsert_subscription(CHANNEL, stream, now=time.time())
        await store.set_baseline_done(CHANNEL, stream)
    await store.close()


async def queue_backlog(
    sim: DisSimulator, fake: FakeSlack, db: str, clock: ShiftedClock, args: argparse.Namespace
) -> int:
    """Post `alerts` alerts, then queue `reminders` reminders and one edit for each, unsent; returns the depth."""
    watcher = build(
        sim, fake.url, db, 10, 1.0, {"WATCH_REPEAT_MINUTES": 1}, clock=clock, spread=0.0, channel_interval=0
    )
    for i in range(args.alerts):  # one problem per cycle: one alert each
        sim.set_state(OLD, f"t{i:02d}", "ERROR")
        await watcher.run_cycle()
        await watcher.flush()
    for _ in range(args.reminders):
        clock.offset += 60  # every alert is due a reminder
        await watcher.run_cycle()
    for i in range(args.alerts):
        sim.set_state(OLD, f"t{i:02d}", "ABNORMAL")  # every alert is due an edit
    await watcher.run_cycle()
    depth = await watcher.store.outbox_depth()
    await watcher.tasks.client.aclose()
    await watcher.store.close()
    return int(depth)


def new_posts(fake: FakeSlack, names: dict[str, float]) -> dict[str, Call]:
    """The first top-level post naming each new task."""
    out: dict[str, Call] = {}
    for call in fake.calls_to("chat.postMessage", ok=True):
        if not call.payload.get("thread_ts"):
            for name in names:
                if f"{NEW}/{name}" in call.text:
                    out.setdefault(name, call)
    return out


async def storm(
    sim: DisSimulator, fake: FakeSlack, db: str, clock: ShiftedClock, args: argparse.Namespace
) -> dict[str, Any]:
    """The real loop under the backlog: fail one new task at a time; time each until its post."""
    watcher = build(sim, fake.url, db, 10, args.interval, clock=clock, spread=0.0, channel_interval=1.0)
    await watcher.start()
    rng = random.Random(7)
    changed: dict[str, float] = {}
    for i in range(args.new):
        await asyncio.sleep(rng.uniform(1.0, 3.0))
        name = f"n{i:02d}"
        sim.set_state(NEW, name, "ERROR")
        changed[name] = time.time()
    deadline = time.monotonic() + args.deadline
    while time.monotonic() < deadline and len(new_posts(fake, changed)) < len(changed):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    left = await watcher.store.outbox_depth()
    seen = new_posts(fake, changed)
    started = {e.task_name: e.started_at - clock.offset for e in await watcher.store.open_episodes(stream=NEW)}
    await watcher.stop(timeout=0.5)
    await watcher.tasks.client.aclose()
    return {
        "n": len(seen),
        "of": len(changed),
        "own": [seen[name].wall - started[name] for name in seen if name in started],
        "total": [seen[name].wall - changed[name] for name in seen],
        "left": left,
    }


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.ERROR)
    began = time.perf_counter()
    sim = DisSimulator(token=TOKEN)
    sim.add_stream(OLD, [SimTask(f"t{i:02d}") for i in range(args.alerts)])
    sim.add_stream(NEW, [SimTask(f"n{i:02d}") for i in range(args.new)])
    clock = ShiftedClock()
    async with sim, FakeSlack(token=SLACK_TOKEN) as fake:
        with tempfile.TemporaryDirectory() as tmp:
            db = str(Path(tmp) / "storm.db")
            await subscribe(db)
            depth = await queue_backlog(sim, fake, db, clock, args)
            fake.latency = args.slack_latency
            print(
                f"storm benchmark: {depth} edits and reminders queued for one channel ({args.alerts} alerts), "
                f"then {args.new} new failures there, 1-3 s apart; one Slack call per second per channel, "
                f"Slack answering in {args.slack_latency * 1000:.0f} ms, WATCH_INTERVAL_SECONDS={args.interval:g}"
            )
            r = await storm(sim, fake, db, clock, args)
    own, total = r["own"], r["total"]
    if not own:
        print(f"no new alert reached Slack within {args.deadline:g} s ({r['left']} rows still queued)")
        return
    print(
        f"poll that saw it -> post at Slack ({r['n']}/{r['of']} new alerts): p50 {percentile(own, 50):.2f} s, "
        f"p90 {percentile(own, 90):.2f} s, max {max(own):.2f} s"
    )
    print(
        f"state change in DIS -> post at Slack: p50 {percentile(total, 50):.2f} s, p90 {percentile(total, 90):.2f} s, "
        f"max {max(total):.2f} s; backlog still queued when the last arrived: {r['left']} of {depth}"
    )
    print(f"total run time {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=10, help="alerts the backlog belongs to")
    parser.add_argument("--reminders", type=int, default=19, help="reminders queued per alert (plus one edit)")
    parser.add_argument("--new", type=int, default=15, help="new failures timed under the backlog")
    parser.add_argument("--interval", type=float, default=1.3, help="WATCH_INTERVAL_SECONDS")
    parser.add_argument("--slack-latency", type=float, default=0.1, help="seconds Slack takes to answer")
    parser.add_argument("--deadline", type=float, default=30.0, help="seconds to wait for the last new alert")
    asyncio.run(main(parser.parse_args()))
