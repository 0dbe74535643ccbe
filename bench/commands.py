"""Benchmark: a burst of signed `/dis tasks` requests at the bot's HTTP endpoint while DIS takes 1 s to answer.

Everything runs for real on 127.0.0.1: the DIS simulator (1 s latency), the fake Slack Web API (which also
receives the answers at its response_url), and the bot's aiohttp server with Bolt's signature verification.
Prints the ack latency (p50/p99/max, what Slack's 3-second deadline applies to), the time until every answer
arrived, and how many DIS calls the burst caused (single flight: one per stream).

    .venv/bin/python bench/commands.py [--requests 200] [--streams 5] [--latency 1.0]

`--storm` measures the store instead: the bot serves HTTP with its watcher on DATABASE_URL (`--database-url`,
a fresh SQLite file by default; PostgreSQL works the same), and while one watcher cycle records a storm of
`--transitions` task transitions (every watched task turns ERROR: episodes, alerts and outbox rows, delivered
to the fake Slack as they are queued), `--waves` waves of `--concurrent` signed `/dis watching` commands hit
the endpoint, 20 ms apart. Prints the ack latency of those commands (p50/p99/max) and the cycle's time.

    .venv/bin/python bench/commands.py --storm [--transitions 120] [--concurrent 40] [--waves 5] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Settings
from bot.devtools.fake_slack import FakeSlack
from bot.dis.simulator import DisSimulator, SimTask
from bot.server import build_runtime
from tests.slack.payloads import slash_command
from tests.slack_signing import signed_headers

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


def bench_settings(sim: DisSimulator, fake: FakeSlack, **extra: Any) -> Settings:
    """The bot's settings against this benchmark's simulator and fake Slack (HTTP mode, a free port)."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        DIS_REGION="cn-north-4",
        DIS_PROJECT_ID=sim.project_id,
        DIS_ENDPOINT=sim.url,
        DIS_AUTH_TOKEN="bench-dis-token",
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.url,
        PORT=0,
        **extra,
    )


async def run(requests: int, streams: int, latency: float) -> None:
    logging.basicConfig(level=logging.WARNING)
    async with DisSimulator(token="bench-dis-token") as sim, FakeSlack(token=TOKEN) as fake:
        names = [f"stream-{i:02d}" for i in range(streams)]
        for name in names:
            sim.add_stream(
                name, [SimTask("to-obs"), SimTask("to-dli", state="ERROR"), SimTask("paused", state="PAUSED")]
            )
        sim.latency = latency
        settings = bench_settings(sim, fake)
        runtime = build_runtime(settings, host="127.0.0.1", socket_mode=False)
        await runtime.server.start()
        url = runtime.server.url + "/slack/events"
        # aiohttp rather than httpx for the load: httpx's pool bookkeeping grows with open connections and would
        # show up as server latency in this single-process benchmark.
        connector = aiohttp.TCPConnector(limit=requests)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
            # Warm-up: Bolt's one-time auth.test and the TCP connections, so the burst measures steady state.
            warm = slash_command("help", user="U0WARM", channel="C0", response_url=fake.response_url("warm"))
            async with http.post(url, data=warm.encode(), headers=signed_headers(SECRET, warm)) as response:
                await response.read()
            await fake.wait_for("response_url", where=lambda c: c.hook_id == "warm")
            sim.reset_counts()

            async def one(i: int) -> float:
                body = slash_command(
                    f"tasks {names[i % streams]}",
                    user=f"U{i:04d}",
                    channel="C0OPS",
                    response_url=fake.response_url(f"r{i}"),
                )
                started = time.perf_counter()
                async with http.post(url, data=body.encode(), headers=signed_headers(SECRET, body)) as response:
                    await response.read()
                elapsed = time.perf_counter() - started
                if response.status != 200:
                    raise RuntimeError(f"request {i}: HTTP {response.status}")
                return elapsed

            burst_start = time.monotonic()
            acks = await asyncio.gather(*(one(i) for i in range(requests)))
            acked = time.monotonic() - burst_start
            answers = await fake.wait_for(
                "response_url", count=requests, timeout=60, where=lambda c: (c.hook_id or "").startswith("r")
            )
            all_answered = max(c.at for c in answers) - burst_start
        await runtime.server.stop()
        await runtime.deps.dis.aclose()

    print(f"burst: {requests} signed `/dis tasks` requests over {streams} streams, DIS latency {latency:g} s")
    print(
        f"ack latency   p50 {statistics.median(acks) * 1000:7.1f} ms   "
        f"p99 {percentile(acks, 99) * 1000:7.1f} ms   max {max(acks) * 1000:7.1f} ms"
    )
    print(f"all {requests} acks in    {acked:6.2f} s")
    print(f"all answers in       {all_answered:6.2f} s (at the response_url)")
    print(f"DIS calls            {sim.count('/transfer-tasks')} (single flight: one per stream)")


async def storm(transitions: int, concurrent: int, waves: int, streams: int, database_url: str | None) -> None:
    from bot.watcher.watcher import Watcher

    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{tmp}/bench.db"
        async with DisSimulator(token="bench-dis-token") as sim, FakeSlack(token=TOKEN) as fake:
            names = [f"stream-{i:02d}" for i in range(streams)]
            per = -(-transitions // streams)
            tasks = {name: [f"task-{j:03d}" for j in range(per)] for name in names}
            left = transitions
            for name in names:
                tasks[name] = tasks[name][: min(per, left)]
                left -= len(tasks[name])
                sim.add_stream(name, [SimTask(t) for t in tasks[name]])
            settings = bench_settings(
                sim,
                fake,
                DATABASE_URL=url,
                # Each task in its own channel's watch: one alert per stream and channel, many rows.
                DIS_WATCH=",".join(f"{name}=C{i:03d}" for i, name in enumerate(names)),
                WATCH_INTERVAL_SECONDS=3600,  # cycles are run by hand below
            )
            watching = {"channel_interval": 0.0, "spread": 0.0}
            runtime = build_runtime(settings, host="127.0.0.1", socket_mode=False, watcher=watching)
            await runtime.server.start()
            watcher = runtime.watcher
            assert isinstance(watcher, Watcher)
            await watcher.run_cycle()  # the baseline, before the storm
            endpoint = runtime.server.url + "/slack/events"
            connector = aiohttp.TCPConnector(limit=concurrent * 2)
            async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:

                async def one(i: int) -> float:
                    body = slash_command(
                        "watching", user=f"U{i:04d}", channel="C000", response_url=fake.response_url(f"s{i}")
                    )
                    started = time.perf_counter()
                    async with http.post(endpoint, data=body.encode(), headers=signed_headers(SECRET, body)) as r:
                        await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"request {i}: HTTP {r.status}")
                    return time.perf_counter() - started

                await asyncio.gather(*(one(-1 - i) for i in range(concurrent)))  # warm-up (auth.test, sockets)
                for name in names:
                    for task in tasks[name]:
                        sim.set_state(name, task, "ERROR")
                t0 = time.perf_counter()
                cycle = asyncio.ensure_future(watcher.run_cycle())
                acks: list[float] = []
                overlapped = 0
                # Waves 20 ms apart while the cycle runs (each command's work after its ack reads the store, so
                # waves without a pause would queue work faster than any store serves it).
                for wave in range(waves):
                    acks += await asyncio.gather(*(one(wave * concurrent + i) for i in range(concurrent)))
                    overlapped += not cycle.done()
                    await asyncio.sleep(0.02)
                await cycle
                seconds = time.perf_counter() - t0
                episodes = len(await watcher.store.open_episodes())
            await runtime.server.stop()
            await runtime.deps.dis.aclose()
    engine = url.split(":", 1)[0]
    print(f"storm on {engine}: {episodes} transitions recorded in one cycle of {seconds:.2f} s")
    print(
        f"ack latency ({len(acks)} commands, {waves} waves of {concurrent}, {overlapped} during the cycle)"
        f"   p50 {statistics.median(acks) * 1000:6.1f} ms   p99 {percentile(acks, 99) * 1000:6.1f} ms"
        f"   max {max(acks) * 1000:6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--streams", type=int, default=5)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--storm", action="store_true", help="ack latency while the watcher records a storm")
    parser.add_argument("--transitions", type=int, default=120)
    parser.add_argument("--concurrent", type=int, default=40)
    parser.add_argument("--waves", type=int, default=5)
    parser.add_argument("--database-url", default=None, help="the store for --storm (default: a new SQLite file)")
    args = parser.parse_args()
    if args.storm:
        asyncio.run(storm(args.transitions, args.concurrent, args.waves, max(1, args.streams), args.database_url))
    else:
        asyncio.run(run(args.requests, args.streams, args.latency))


if __name__ == "__main__":
    main()
