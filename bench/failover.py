"""Benchmark: how fast leadership moves between replicas, and whether an alert is lost or doubled on the way.

Two sections, both run by default (`--sections`):

`serve`: 3 real `dis-bot serve` processes (`--replicas`) on one PostgreSQL database, against the DIS simulator
and the fake Slack in this process (the harness of tests/leader/replicas.py). Five streams, one channel each,
flip ERROR/RUNNING; before each flip but the first, the leader is SIGKILLed mid-cycle (at the moment its first
read of the new states reaches the simulator, which answers reads after 0.2 s), and a fresh replica starts as a
supervisor would restart the killed one. Per kill: seconds from the signal until another replica's `/metrics`
says `disbot_leader 1`, and until the first alert or recovery reached the fake Slack; the posts of that episode.
Then the median and max takeover over the kills, and the posts Slack took against the transitions scripted:
"alerts sent N / expected M, duplicates D, lost L" (alerts and recovery replies counted per channel).

`lease`: lease processes (`tests.leader.lease_child`) with the timings the bot derives from
WATCH_INTERVAL_SECONDS (`LeaseTiming.for_watch_interval`). For each way a leader can go, the seconds from the
signal to the moment a standby holds the lock under a new term (one monotonic clock for all processes), checked
against the promise: under 2 x WATCH_INTERVAL_SECONDS, every term one more than the last.

- `sigterm`: a clean stop (releases and notifies);
- `sigkill`: the process dies, the kernel closes its socket;
- `terminate`: the server ends its session (`pg_terminate_backend`: a database failover, an admin);
- `sigstop`: the process freezes, its socket stays open; the server ends the silent session after the lease.

Then the latency of `bot.wakeups.notify` from one connection to the leader's callback (p50/p99).

    .venv/bin/python bench/failover.py [--postgres URL] [--interval 2] [--kills 5] [--rounds 3]

The URL defaults to $DISBOT_TEST_POSTGRES_URL; each section creates its own database there and drops it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

from bot.devtools.fake_slack import Call, FakeSlack
from bot.dis.simulator import DisSimulator, SimTask
from bot.leader import LEADERSHIP_DDL, LeaseTiming, PostgresLease, asyncpg_dsn
from bot.wakeups import OUTBOX_QUEUED, notify
from tests.conftest import new_simulator
from tests.leader.conftest import with_database
from tests.leader.processes import LeaseProcess, eventually_within, lease_processes
from tests.leader.replicas import Replicas, delivered, fresh_database, keys, leader_among, serve_replicas, term, until
from tests.test_serve_process import BOT_TOKEN

SCENARIOS = ("sigterm", "sigkill", "terminate", "sigstop")
SECTIONS = ("serve", "lease")
#: The simulator answers every request this late, so a cycle's reads are in flight long enough to kill into.
READ_LATENCY = 0.2
TASKS_PATH = "/transfer-tasks"


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


# --- serve: real `dis-bot serve` replicas ---


@dataclass
class Episode:
    """One SIGKILL of the leader and what followed, until that flip's posts were all in (or the wait ran out)."""

    victim: str
    leader: str
    terms: tuple[int, int]
    takeover: float  # kill -> another replica's /metrics says disbot_leader 1
    first_post: float | None  # kill -> the first alert or recovery Slack accepted after it
    posts: int  # of this flip, Slack accepted
    by_victim: int  # of those, before the kill (the victim had read some new states already)


def posts(fake: FakeSlack) -> list[Call]:
    """Alerts and recovery replies Slack accepted, oldest first."""
    return fake.calls_to("chat.postMessage", ok=True)


def counts(calls: list[Call], channel: str) -> tuple[int, int]:
    """(alerts, recovery replies in their threads) that reached `channel`."""
    mine = [c for c in calls if c.payload["channel"] == channel]
    replies = sum(1 for c in mine if c.payload.get("thread_ts"))
    return len(mine) - replies, replies


def expected(steps: int) -> tuple[int, int]:
    """(alerts, recoveries) per channel after `steps` flips: even flips fail the task, odd ones recover it."""
    return (steps + 1) // 2, steps // 2


@dataclass
class Script:
    """Streams s0..s4 (one task each, channel C<S0>..) flipped step by step under replicas that get killed."""

    sim: DisSimulator
    fake: FakeSlack
    url: str
    replicas: Replicas
    channels: list[str]
    interval: float

    @property
    def wait(self) -> float:
        """How long one step's posts may take: a takeover, a cycle and delivery, with room for a slow machine."""
        return 4 * self.interval + 15

    def flip(self, step: int) -> None:
        state = "ERROR" if step % 2 == 0 else "RUNNING"
        for stream in self.sim.stream_names():
            self.sim.set_state(stream, "task", state)

    async def told(self, step: int) -> bool:
        """Whether every channel got the posts of flips 0..step within the wait."""
        want = expected(step + 1)

        def done() -> bool:
            calls = posts(self.fake)
            return all(a >= want[0] and r >= want[1] for a, r in (counts(calls, c) for c in self.channels))

        try:
            return await until(done, timeout=self.wait)
        except TimeoutError:
            return False

    async def killed_step(self, step: int) -> Episode:
        """Flip with the leader SIGKILLed at its first read of the new states; a new replica starts at once."""
        # The last step's answers recorded: the kill falls into a cycle, not into a Slack round trip.
        await until(lambda: delivered(self.url), timeout=30)
        victim = await leader_among(self.replicas.alive, timeout=30)
        before_term, before = await term(self.url), len(posts(self.fake))
        reads = self.sim.count(TASKS_PATH)
        self.flip(step)
        await until(lambda: self.sim.count(TASKS_PATH) > reads, timeout=2 * self.interval + 5)
        killed = victim.kill()  # the read's answer is READ_LATENCY away: mid-cycle
        joining = asyncio.create_task(self.replicas.add())  # a supervisor restarting it
        leader = await leader_among([r for r in self.replicas.alive if r is not victim], timeout=self.wait)
        takeover = time.monotonic() - killed
        complete = await self.told(step)
        await joining
        flip = posts(self.fake)[before:]
        after = [c.at - killed for c in flip if c.at > killed]
        terms = (before_term, await term(self.url))
        first = min(after, default=None)
        episode = Episode(victim.name, leader.name, terms, takeover, first, len(flip), len(flip) - len(after))
        if not complete:
            print(f"  (step {step}: not every post arrived within {self.wait:g}s)")
        return episode


async def serve_failover(server_url: str, interval: float, kills: int, n: int, n_streams: int = 5) -> None:
    """Script the flips and kills (see the module docstring) and print what Slack received."""
    streams = [f"s{i}" for i in range(n_streams)]
    channels = [f"C{s.upper()}" for s in streams]
    env = {
        "DIS_WATCH": ",".join(f"{s}={c}" for s, c in zip(streams, channels, strict=True)),
        "WATCH_INTERVAL_SECONDS": str(interval),
    }
    started = time.monotonic()
    async with new_simulator() as sim, fresh_database(server_url) as url, FakeSlack(token=BOT_TOKEN) as fake:
        for stream in streams:
            sim.add_stream(stream, [SimTask("task", state="RUNNING")])
        with tempfile.TemporaryDirectory(prefix="failover-bench-") as cwd:
            async with serve_replicas(sim, fake, url, Path(cwd), n=n, **env) as replicas:
                await leader_among(replicas.alive, timeout=30)
                sim.latency = READ_LATENCY
                script = Script(sim, fake, url, replicas, channels, interval)
                script.flip(0)
                if not await script.told(0):
                    print(f"  (step 0: not every alert arrived within {script.wait:g}s)")
                episodes = [await script.killed_step(step) for step in range(1, kills + 1)]
                await fake.wait_quiet(3 * interval, timeout=30)
                codes = [await r.stop() for r in replicas.alive]
        report(posts(fake), channels, episodes, kills + 1, interval)
        print(f"  the replicas left exited with {codes}; {time.monotonic() - started:.0f}s in all")


def report(calls: list[Call], channels: list[str], episodes: list[Episode], steps: int, interval: float) -> None:
    for i, e in enumerate(episodes, 1):
        first = f"{e.first_post:.2f}s" if e.first_post is not None else "none"
        print(
            f"  kill {i}: {e.victim} (term {e.terms[0]}) -> {e.leader} leads (term {e.terms[1]}) after "
            f"{e.takeover:.3f}s; first post {first} after the kill; {e.posts}/{len(channels)} posts for the flip"
            f"{f' ({e.by_victim} by {e.victim} before it died)' if e.by_victim else ''}"
        )
    takeovers = [e.takeover for e in episodes]
    firsts = [e.first_post for e in episodes if e.first_post is not None]
    if takeovers:
        print(
            f"  failover (SIGKILL -> another replica's disbot_leader 1): median {statistics.median(takeovers):.3f}s, "
            f"max {max(takeovers):.3f}s over {len(takeovers)} kills "
            f"({'ok' if max(takeovers) < 2 * interval else 'OVER BUDGET'}: budget 2 x interval = {2 * interval:g}s)"
        )
    if firsts:
        print(
            f"  SIGKILL -> first alert/recovery at Slack: median {statistics.median(firsts):.2f}s, "
            f"max {max(firsts):.2f}s"
        )
    duplicates = lost = 0
    want = expected(steps)
    for channel in channels:
        for got, wanted in zip(counts(calls, channel), want, strict=True):
            duplicates += max(0, got - wanted)
            lost += max(0, wanted - got)
    twice = sum(n - 1 for n in keys(calls).values() if n > 1)
    print(
        f"  alerts sent {len(calls)} / expected {len(channels) * steps}, duplicates {duplicates}, lost {lost} "
        f"(alerts and recovery replies, {steps} flips x {len(channels)} channels; idempotency keys sent twice: {twice})"
    )


# --- lease: lease processes ---


async def lease_section(server_url: str, interval: float, rounds: int, scenarios: list[str]) -> None:
    timing = LeaseTiming.for_watch_interval(interval)
    name = f"leader_bench_{os.getpid()}"
    server = await asyncpg.connect(asyncpg_dsn(server_url))
    await server.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    admin = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await admin.execute(LEADERSHIP_DDL)
        await admin.execute("INSERT INTO leadership (id, term) VALUES (1, 0)")
        print(
            f"lease processes, WATCH_INTERVAL_SECONDS={interval:g}: lease {timing.lease:g}s, check every "
            f"{timing.check_interval:.2f}s (timeout {timing.check_timeout:.2f}s), "
            f"standby retry {timing.retry_interval:g}s; budget 2 x interval = {2 * interval:g}s"
        )
        for scenario in scenarios:
            seconds = [(await handover(url, admin, timing, scenario))[0] for _ in range(rounds)]
            verdict = "ok" if max(seconds) < 2 * interval else "OVER BUDGET"
            print(
                f"  {scenario:<9} handover: median {statistics.median(seconds):.3f}s, max {max(seconds):.3f}s "
                f"over {rounds} rounds ({verdict})"
            )
        latencies = sorted(await wakeups(url))
        p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99) - 1]
        print(f"  wake-up (NOTIFY -> leader's callback): p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms")
    finally:
        await admin.close()
        await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await server.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("DISBOT_TEST_POSTGRES_URL"))
    parser.add_argument("--interval", type=float, default=2.0, help="WATCH_INTERVAL_SECONDS (the lease follows it)")
    parser.add_argument("--kills", type=int, default=5, help="serve: SIGKILLs of the leader")
    parser.add_argument("--replicas", type=int, default=3, help="serve: `dis-bot serve` processes at a time")
    parser.add_argument("--rounds", type=int, default=3, help="lease: rounds per scenario")
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    args = parser.parse_args()
    if not args.postgres:
        parser.error("give --postgres URL or set DISBOT_TEST_POSTGRES_URL")
    if "serve" in args.sections:
        print(
            f"dis-bot serve x {args.replicas} on one PostgreSQL database, WATCH_INTERVAL_SECONDS={args.interval:g}, "
            f"5 streams flipping, {args.kills} SIGKILLs of the leader mid-cycle:"
        )
        await serve_failover(args.postgres, args.interval, args.kills, args.replicas)
    if "lease" in args.sections:
        await lease_section(args.postgres, args.interval, args.rounds, args.scenarios)


if __name__ == "__main__":
    asyncio.run(main())
