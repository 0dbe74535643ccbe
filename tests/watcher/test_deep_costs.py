"""What deep reads cost DIS, measured at the simulator: requests in flight never above WATCH_CONCURRENCY, and a
command reading a task the watcher is reading shares its request.
"""

from __future__ import annotations

import asyncio

from bot.dis.simulator import SimTask
from bot.services.lag import stream_lags
from tests.watcher.conftest import MakeRig
from tests.watcher.test_silent_alerts import MINUTE


async def test_deep_reads_stay_inside_watch_concurrency(make_rig: MakeRig) -> None:
    """Twelve streams of three stalled tasks each, found in one cycle (a list, a description and three details
    per stream): at most WATCH_CONCURRENCY=3 requests are ever being answered at once, and the bound is used."""
    rig = make_rig(WATCH_CONCURRENCY=3)
    rig.sim.data_clock = rig.clock
    names = [f"s{i:02d}" for i in range(12)]
    for name in names:
        rig.sim.add_stream(name, [SimTask(f"t{j}") for j in range(3)], partitions=2)
        rig.sim.produce(name, 100)
        rig.sim.flow()
        await rig.watch(name)
    for name in names:
        for j in range(3):
            rig.sim.stall(name, f"t{j}")
        rig.sim.produce(name, 10)
    rig.sim.latency = 0.01
    rig.sim.reset_counts()
    rig.clock.advance(47 * MINUTE)
    await rig.cycle()
    assert len(await rig.store.open_episodes()) == 36
    assert rig.sim.count() == 12 * (1 + 1 + 3)
    assert rig.sim.max_in_flight == 3


async def test_a_command_reading_the_task_the_watcher_is_reading_shares_its_request(make_rig: MakeRig) -> None:
    """`/dis tasks` (its deep reads, fresh) while the watcher's read of the same task is in flight: one request
    for that task's details."""
    rig = make_rig()
    rig.sim.data_clock = rig.clock
    rig.sim.add_stream("orders", [SimTask("to-obs")], partitions=1)
    rig.sim.produce("orders", 10)
    rig.sim.flow()
    await rig.watch("orders")
    rig.sim.stall("orders", "to-obs")
    rig.sim.produce("orders", 10)
    rig.clock.advance(47 * MINUTE)
    details = f"/v2/{rig.sim.project_id}/streams/orders/transfer-tasks/to-obs"
    listed = await rig.watcher.tasks.tasks("orders", fresh=True)
    rig.sim.reset_counts()
    rig.sim.delay_next(1, 0.3, details, exact=True)
    cycle = asyncio.create_task(rig.cycle())
    async with asyncio.timeout(5):
        while rig.sim.counts[f"GET {details}"] == 0:  # noqa: ASYNC110 - the simulator runs on this loop
            await asyncio.sleep(0.005)
    lags = await stream_lags(rig.watcher.tasks, listed, stall_after=30 * MINUTE, fresh=True, now=rig.clock())
    await cycle
    assert lags["to-obs"].backlog == 10
    assert rig.sim.counts[f"GET {details}"] == 1
    assert len(rig.posts()) == 1
