"""Benchmark of DIS reads: concurrency, CPU per fetch, cache hits and the single-flight path.

    .venv/bin/python bench/fetch.py [--streams 1000] [--concurrency 50] [--latency 0.05]

The simulator runs in a separate process so the CPU numbers are the bot's own. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import Settings
from bot.dis.client import DisClient
from bot.services.tasks import TaskService

PROJECT = "0123456789abcdef0123456789abcdef"
TOKEN = "bench-token-0123456789"


def _simulator_process(streams: int, latency: float, ready: mp.Queue, stop: mp.Event) -> None:
    from bot.dis.simulator import DisSimulator, SimTask

    async def run() -> None:
        sim = DisSimulator(project_id=PROJECT, token=TOKEN)
        for i in range(streams):
            sim.add_stream(f"stream-{i:04d}", [SimTask(f"task-{j}") for j in range(5)])
        sim.latency = latency
        url = await sim.start()
        ready.put(url)
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        ready.put(sim.count("/transfer-tasks"))
        await sim.stop()

    asyncio.run(run())


async def bench(url: str, streams: int, concurrency: int, latency: float) -> dict[str, float]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        DIS_REGION="cn-north-4",
        DIS_PROJECT_ID=PROJECT,
        DIS_ENDPOINT=url,
        DIS_AUTH_TOKEN=TOKEN,
    )
    out: dict[str, float] = {}
    async with DisClient(settings) as client:
        svc = TaskService(client, ttl=3600)
        names = [f"stream-{i:04d}" for i in range(streams)]
        await svc.tasks(names[0], fresh=True)  # warm the connection pool and code paths

        sem = asyncio.Semaphore(concurrency)

        async def one(name: str) -> None:
            async with sem:
                await svc.tasks(name, fresh=True)

        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(n) for n in names))
        out["wall"] = time.perf_counter() - t0
        out["cpu_per_1000"] = (time.process_time() - cpu0) * 1000 / streams
        out["ideal"] = math.ceil(streams / concurrency) * latency

        # The same streams again, as the watcher polls them: warm connections and parsed URLs.
        cpu0 = time.process_time()
        await asyncio.gather(*(one(n) for n in names))
        out["cpu_per_1000_repeat"] = (time.process_time() - cpu0) * 1000 / streams

        hits = []
        for name in names[:2000] * 5:
            t = time.perf_counter()
            await svc.tasks(name)
            hits.append(time.perf_counter() - t)
        out["hit_p50_us"] = statistics.median(hits) * 1e6
        out["hit_p99_us"] = sorted(hits)[int(len(hits) * 0.99)] * 1e6

        callers = 10_000
        svc.cache.invalidate((client.project_id, "tasks", names[1]))
        t0 = time.perf_counter()
        await asyncio.gather(*(svc.tasks(names[1]) for _ in range(callers)))
        out["coalesced_wall"] = time.perf_counter() - t0
        out["coalesced_callers"] = callers
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    ready: mp.Queue = ctx.Queue()
    stop = ctx.Event()
    proc = ctx.Process(target=_simulator_process, args=(args.streams, args.latency, ready, stop), daemon=True)
    proc.start()
    url = ready.get(timeout=60)
    try:
        r = asyncio.run(bench(url, args.streams, args.concurrency, args.latency))
    finally:
        stop.set()
        upstream = ready.get(timeout=30)
        proc.join(timeout=30)

    n, c, lat = args.streams, args.concurrency, args.latency
    print(f"DIS fetch benchmark: N={n} streams, C={c}, simulator latency L={lat * 1000:.0f} ms (separate process)")
    print(
        f"  wall time           {r['wall']:.3f} s   ideal ceil(N/C)*L = {r['ideal']:.3f} s   "
        f"ratio {r['wall'] / r['ideal']:.2f}x (target <= 1.2x)"
    )
    print(
        f"  CPU per 1000 fetches {r['cpu_per_1000']:.3f} s first pass, {r['cpu_per_1000_repeat']:.3f} s repeat pass "
        "(bot process only)"
    )
    print(f"  cache hit latency   p50 {r['hit_p50_us']:.1f} us   p99 {r['hit_p99_us']:.1f} us")
    rate = r["coalesced_callers"] / r["coalesced_wall"]
    print(
        f"  single flight       {int(r['coalesced_callers'])} concurrent callers of one stream served in "
        f"{r['coalesced_wall'] * 1000:.0f} ms ({rate:,.0f} requests/s)"
    )
    print(f"  upstream requests   {upstream} (= 2 x {n} + 1 warm-up + 1 coalesced)")


if __name__ == "__main__":
    main()
