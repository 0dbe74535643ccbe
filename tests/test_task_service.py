"""TaskService: single flight, TTL, fresh reads and errors never cached, counted by the simulator."""

from __future__ import annotations

import asyncio

import pytest

from bot.dis.simulator import SimTask
from bot.errors import InvalidName, Unavailable
from bot.services.tasks import SingleFlightCache, TaskService
from tests.conftest import ManualClock, eventually

LIST_PATH = "/transfer-tasks"


def service(client, ttl: float = 15.0, clock: ManualClock | None = None) -> TaskService:
    svc = TaskService(client, ttl)
    if clock is not None:
        svc.cache = SingleFlightCache(ttl, clock=clock)
    return svc


async def test_hundred_concurrent_callers_make_one_request(sim, make_client) -> None:
    """100 concurrent reads of one stream cause exactly one upstream request."""
    sim.add_stream("orders-prod", [SimTask("to-obs"), SimTask("to-dli", state="ERROR", destination_type="DLI")])
    sim.latency = 0.2  # keep the first request in flight while the others arrive
    svc = service(make_client(sim))
    results = await asyncio.gather(*(svc.tasks("orders-prod") for _ in range(100)))
    assert sim.count(LIST_PATH) == 1
    assert all(r == results[0] for r in results)
    assert [t.task_name for t in results[0].sorted_tasks()] == ["to-dli", "to-obs"]
    assert svc.cache.stats.misses == 1
    assert svc.cache.stats.coalesced == 99


async def test_different_streams_are_fetched_separately(sim, make_client) -> None:
    """The key is (project, stream): two streams, two requests."""
    sim.add_stream("a", [SimTask("t")])
    sim.add_stream("b", [SimTask("t")])
    svc = service(make_client(sim))
    await asyncio.gather(svc.tasks("a"), svc.tasks("b"), svc.tasks("a"))
    assert sim.count(LIST_PATH) == 2


async def test_ttl_serves_from_cache_then_expires(sim, make_client) -> None:
    """Within the TTL a repeat read is a hit; after it, DIS is asked again."""
    sim.add_stream("a", [SimTask("t")])
    clock = ManualClock()
    svc = service(make_client(sim), ttl=15, clock=clock)
    await svc.tasks("a")
    clock.now += 14
    await svc.tasks("a")
    assert sim.count(LIST_PATH) == 1
    clock.now += 2
    sim.set_state("a", "t", "ABNORMAL")
    fresh = await svc.tasks("a")
    assert sim.count(LIST_PATH) == 2
    assert fresh.tasks[0].state == "ABNORMAL"


async def test_fresh_read_bypasses_cache_and_updates_it(sim, make_client) -> None:
    """fresh=True (Refresh button, watcher) asks DIS and later reads see the new value."""
    sim.add_stream("a", [SimTask("t")])
    svc = service(make_client(sim))
    await svc.tasks("a")
    sim.set_state("a", "t", "ERROR")
    assert (await svc.tasks("a")).tasks[0].state == "RUNNING"
    assert (await svc.tasks("a", fresh=True)).tasks[0].state == "ERROR"
    assert (await svc.tasks("a")).tasks[0].state == "ERROR"
    assert sim.count(LIST_PATH) == 2


async def test_errors_are_not_cached(sim, make_client) -> None:
    """A failed read is shared by its concurrent callers but the next read tries again."""
    sim.add_stream("a", [SimTask("t")])
    sim.latency = 0.1
    sim.fail_next(4, status=503, path=LIST_PATH)
    svc = service(make_client(sim))
    outcomes = await asyncio.gather(*(svc.tasks("a") for _ in range(5)), return_exceptions=True)
    assert all(isinstance(o, Unavailable) for o in outcomes)
    failed_requests = sim.count(LIST_PATH)
    assert failed_requests == 4  # one caller's four attempts, shared by all five
    sim.latency = 0
    ok = await svc.tasks("a")
    assert ok.tasks[0].task_name == "t"


async def test_cancelled_loader_does_not_cancel_the_waiters(sim, make_client) -> None:
    """When the caller doing the load is cancelled, a caller waiting on it still gets an answer."""
    sim.add_stream("a", [SimTask("t")])
    sim.latency = 0.2
    svc = service(make_client(sim))
    leader = asyncio.create_task(svc.tasks("a"))
    await eventually(lambda: sim.count(LIST_PATH) == 1)
    follower = asyncio.create_task(svc.tasks("a"))
    await eventually(lambda: svc.cache.stats.coalesced == 1)
    leader.cancel()
    result = await follower
    assert result.tasks[0].task_name == "t"
    assert leader.cancelled()
    assert svc.cache.stats.misses == 2 and sim.count(LIST_PATH) == 2


async def test_cancelled_waiter_leaves_the_load_alone(sim, make_client) -> None:
    """Cancelling a waiting caller cancels only that caller: the load goes on for the others."""
    sim.add_stream("a", [SimTask("t")])
    sim.latency = 0.2
    svc = service(make_client(sim))
    leader = asyncio.create_task(svc.tasks("a"))
    await eventually(lambda: sim.count(LIST_PATH) == 1)
    follower = asyncio.create_task(svc.tasks("a"))
    await eventually(lambda: svc.cache.stats.coalesced == 1)
    follower.cancel()
    assert (await leader).tasks[0].task_name == "t"
    assert follower.cancelled()
    assert sim.count(LIST_PATH) == 1


@pytest.mark.parametrize("name", ["", "bad name", "x" * 65, "../etc", "naïve"])
async def test_invalid_names_send_nothing(sim, make_client, name: str) -> None:
    """A name DIS would refuse is rejected before any request."""
    svc = service(make_client(sim))
    with pytest.raises(InvalidName):
        await svc.tasks(name)
    with pytest.raises(InvalidName):
        await svc.task("ok", name)
    assert sim.count() == 0
