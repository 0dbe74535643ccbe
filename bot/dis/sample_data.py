"""A realistic sample tenant for the simulator (`dis-bot simulator`, the offline demo, benchmarks).

Six streams with 1-5 dump tasks each across OBS/DLI/DWS/MRS, one task already ABNORMAL, one ERROR with
discarded records and one stuck in STARTING. Records keep arriving in every stream (24 h retention) and RUNNING
tasks are live, so their last transfer time and offsets keep moving, except for the silent failures: one task is
RUNNING but stalled (nothing sent for 47 minutes while records pile up) and one keeps discarding records.
Test-and-demo code only: production code never imports this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable

from bot.dis.simulator.server import DisSimulator
from bot.dis.simulator.world import DAY_MS, SimPartition, SimTask

HOUR_MS = 3_600_000

#: stream -> (partitions, days since creation, [(task, destination, state, records/s, deliver interval s)])
_STREAMS: dict[str, tuple[int, int, list[tuple[str, str, str, float, int]]]] = {
    "orders-prod": (
        3,
        412,
        [
            ("orders-to-obs", "OBS", "RUNNING", 120.0, 300),
            ("orders-to-dws", "DWS", "RUNNING", 120.0, 60),
            ("orders-archive-2023", "OBS", "PAUSED", 0.0, 900),
        ],
    ),
    "clickstream": (
        4,
        230,
        [
            ("clicks-obs-hourly", "OBS", "RUNNING", 900.0, 300),
            ("clicks-dli-sessions", "DLI", "RUNNING", 900.0, 120),
            ("clicks-mrs-hdfs", "MRS", "ABNORMAL", 0.0, 300),
        ],
    ),
    "iot-telemetry": (
        4,
        180,
        [
            ("telemetry-raw-obs", "OBS", "RUNNING", 2500.0, 60),
            ("telemetry-parquet", "OBS", "RUNNING", 2500.0, 900),
            ("telemetry-dli", "DLI", "RUNNING", 2500.0, 300),
            ("telemetry-dws-rollup", "DWS", "RUNNING", 2500.0, 300),
            ("telemetry-mrs-backfill", "MRS", "PAUSED", 0.0, 300),
        ],
    ),
    "payments-cdc": (
        2,
        95,
        [
            ("payments-dws", "DWS", "RUNNING", 40.0, 60),
            ("payments-obs-audit", "OBS", "ERROR", 0.0, 300),
        ],
    ),
    "app-logs": (1, 60, [("app-logs-obs", "OBS", "RUNNING", 300.0, 300)]),
    "inventory-sync": (
        2,
        21,
        [
            ("inventory-dli", "DLI", "RUNNING", 15.0, 300),
            ("inventory-obs-snapshots", "OBS", "STARTING", 0.0, 900),
        ],
    ),
}

#: How long ago the broken tasks last moved data (staleness shows up in alerts).
_STALLED_FOR_MS = {"ABNORMAL": 47 * 60_000, "ERROR": 3 * HOUR_MS + 12 * 60_000, "PAUSED": 9 * DAY_MS}
#: The RUNNING task that moves nothing, and for how long it has not.
STALLED_TASK = ("inventory-sync", "inventory-dli")
_STALLED_TASK_FOR_MS = 47 * 60_000
#: The RUNNING task that keeps dropping records, and how many per second on each partition.
DISCARDING_TASK = ("clickstream", "clicks-dli-sessions")
_DISCARDS_PER_SECOND = 0.5


def sample_dataset(sim: DisSimulator, *, seed: int = 7) -> list[str]:
    """Add the sample streams to `sim` and return their names.

    Args:
        seed: makes offsets and timestamps reproducible between runs (relative to now).
    """
    rng = random.Random(seed)
    now = int(sim.data_clock() * 1000)
    for stream_name, (partitions, age_days, specs) in _STREAMS.items():
        created = now - age_days * DAY_MS - rng.randrange(HOUR_MS)
        # Records arrive as fast as the stream's running tasks send them (each task reads every record).
        rate = max((spec[3] for spec in specs), default=0.0) / partitions
        ends = [rng.randrange(1_000_000, 90_000_000) for _ in range(partitions)]
        tasks = []
        for task_name, destination, state, _rate, interval in specs:
            task_created = created + rng.randrange(1, max(2, age_days // 2)) * DAY_MS
            stalled = (stream_name, task_name) == STALLED_TASK
            quiet_ms = _STALLED_TASK_FOR_MS if stalled else _STALLED_FOR_MS.get(state, 0)
            jitter = rng.randrange(interval * 1000)  # drawn for every task, so the other tasks stay as they were
            last = now - quiet_ms - (0 if stalled else jitter)
            behind = int(rate * (now - last) / 1000)  # what arrived since the last transfer
            discarding = (stream_name, task_name) == DISCARDING_TASK
            parts = [
                SimPartition(
                    last_transfer_offset=max(0, end - behind),
                    discard=rng.randrange(200, 5000) if state == "ERROR" or discarding else 0,
                )
                for end in ends
            ]
            tasks.append(
                SimTask(
                    task_name,
                    state=state,
                    destination_type=destination,
                    create_time=task_created,
                    last_transfer_timestamp=last,
                    live=True,
                    deliver_interval=interval,
                    partitions=parts,
                    stalled=stalled,
                    discard_per_second=_DISCARDS_PER_SECOND if discarding else 0.0,
                )
            )
        sim.add_stream(stream_name, tasks, partitions=partitions, create_time=created, retention_period=24, rate=rate)
        for index, end in enumerate(ends):
            sim.produce(stream_name, end, partition=index)
    return list(_STREAMS)


async def serve(
    port: int,
    *,
    host: str = "127.0.0.1",
    churn: bool = False,
    churn_interval: float = 20.0,
    seed: int | None = None,
    latency: float = 0.0,
    project_id: str = "0123456789abcdef0123456789abcdef",
    token: str = "sim-token",
    region: str = "cn-north-4",
    out: Callable[[str], None] = print,
) -> None:
    """Run a simulator with the sample dataset until cancelled, after printing the settings to use it."""
    sim = DisSimulator(
        project_id=project_id,
        token=token,
        iam_users={("sim-domain", "sim-user"): "sim-password"},
        project_name=region,
    )
    sim.latency = latency
    sample_dataset(sim)
    url = await sim.start(host=host, port=port)
    try:
        if churn:
            sim.churn(interval=churn_interval, rng=random.Random(seed))
        out(f"DIS simulator listening on {url} ({len(sim.stream_names())} streams; Ctrl-C to stop)")
        out("Point the bot at it with:")
        out(f"  export DIS_ENDPOINT={url}")
        out(f"  export DIS_PROJECT_ID={project_id}")
        out(f"  export DIS_REGION={region}")
        out(f"  export DIS_AUTH_TOKEN={token}")
        out(f"Or instead of DIS_AUTH_TOKEN: CLOUD_SDK_AK={sim.ak} CLOUD_SDK_SK={sim.sk}")
        out(f"Or: IAM_ENDPOINT={url} IAM_DOMAIN_NAME=sim-domain IAM_USERNAME=sim-user IAM_PASSWORD=sim-password")
        out("Streams: " + ", ".join(sim.stream_names()))
        await asyncio.Event().wait()
    finally:
        with contextlib.suppress(Exception):
            await sim.stop()
