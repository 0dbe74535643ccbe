"""Benchmark: a burst of signed `/dis tasks` requests at the bot's HTTP endpoint while DIS takes 1 s to answer.

Everything runs for real on 127.0.0.1: the DIS simulator (1 s latency), the fake Slack Web API (which also
receives the answers at its response_url), and the bot's aiohttp server with Bolt's signature verification.
Prints the ack latency (p50/p99/max, what Slack's 3-second deadline applies to), the time until every answer
arrived, and how many DIS calls the burst caused (single flight: one per stream).

    .venv/bin/python bench/commands.py [--requests 200] [--streams 5] [--latency 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from pathlib import Path

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


async def run(requests: int, streams: int, latency: float) -> None:
    logging.basicConfig(level=logging.WARNING)
    async with DisSimulator(token="bench-dis-token") as sim, FakeSlack(token=TOKEN) as fake:
        names = [f"stream-{i:02d}" for i in range(streams)]
        for name in names:
            sim.add_stream(
                name, [SimTask("to-obs"), SimTask("to-dli", state="ERROR"), SimTask("paused", state="PAUSED")]
            )
        sim.latency = latency
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            DIS_REGION="cn-north-4",
            DIS_PROJECT_ID=sim.project_id,
            DIS_ENDPOINT=sim.url,
            DIS_AUTH_TOKEN="bench-dis-token",
            SLACK_BOT_TOKEN=TOKEN,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=fake.url,
            PORT=0,
        )
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--streams", type=int, default=5)
    parser.add_argument("--latency", type=float, default=1.0)
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.streams, args.latency))


if __name__ == "__main__":
    main()
