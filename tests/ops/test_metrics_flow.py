"""Metrics move as people use the bot: commands, ack latency, DIS requests and retries, cache lookups."""

from __future__ import annotations

import asyncio
import time

from bot.metrics import REGISTRY
from bot.server import build_watcher
from bot.store import open_store
from tests.conftest import FAST_RETRY
from tests.ops.conftest import Bot


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_commands_are_counted_by_subcommand_and_outcome(make_bot) -> None:
    """An answered command counts ok; an unknown stream counts user_error; DIS failing counts dis_error."""
    bot: Bot = await make_bot()
    ok = value("disbot_commands_total", subcommand="tasks", outcome="ok")
    user = value("disbot_commands_total", subcommand="tasks", outcome="user_error")
    dis = value("disbot_commands_total", subcommand="tasks", outcome="dis_error")
    acks = value("disbot_ack_latency_seconds_count", kind="command")

    await bot.command("tasks orders-prod")
    await bot.command("tasks no-such-stream")
    bot.sim.fail_next(FAST_RETRY.attempts, status=503)
    await bot.command("tasks orders-prod")

    assert value("disbot_commands_total", subcommand="tasks", outcome="ok") == ok + 1
    assert value("disbot_commands_total", subcommand="tasks", outcome="user_error") == user + 1
    assert value("disbot_commands_total", subcommand="tasks", outcome="dis_error") == dis + 1
    assert value("disbot_ack_latency_seconds_count", kind="command") == acks + 3


async def test_dis_requests_retries_and_latency_are_counted(make_bot) -> None:
    """Each DIS attempt is counted by endpoint and status, retries by reason, latency observed per attempt."""
    bot: Bot = await make_bot()
    ok = value("disbot_dis_requests_total", endpoint="list_transfer_tasks", status="200")
    failed = value("disbot_dis_requests_total", endpoint="list_transfer_tasks", status="503")
    retries = value("disbot_dis_retries_total", endpoint="list_transfer_tasks", reason="unavailable")
    observed = value("disbot_dis_request_seconds_count", endpoint="list_transfer_tasks")

    bot.sim.fail_next(2, status=503)
    await bot.command("tasks orders-prod")  # two failed attempts, then an answer

    assert value("disbot_dis_requests_total", endpoint="list_transfer_tasks", status="503") == failed + 2
    assert value("disbot_dis_requests_total", endpoint="list_transfer_tasks", status="200") == ok + 1
    assert value("disbot_dis_retries_total", endpoint="list_transfer_tasks", reason="unavailable") == retries + 2
    assert value("disbot_dis_request_seconds_count", endpoint="list_transfer_tasks") == observed + 3


async def test_cache_hits_and_misses_are_counted(make_bot) -> None:
    """With a cache TTL, the first read is a miss and the second a hit."""
    bot: Bot = await make_bot(CACHE_TTL_SECONDS=60)
    hits, misses = value("disbot_cache_events_total", event="hit"), value("disbot_cache_events_total", event="miss")
    await bot.command("tasks orders-prod")
    await bot.command("tasks orders-prod")
    assert value("disbot_cache_events_total", event="miss") == misses + 1
    assert value("disbot_cache_events_total", event="hit") == hits + 1


async def test_identical_reads_in_flight_are_counted_as_coalesced(make_bot) -> None:
    """Two people asking for the same stream at the same moment: one miss reads DIS, the other waits for it."""
    bot: Bot = await make_bot()
    coalesced, misses = (
        value("disbot_cache_events_total", event="coalesced"),
        value("disbot_cache_events_total", event="miss"),
    )
    reads = bot.sim.count("/transfer-tasks")
    bot.sim.latency = 0.3  # the first read is still in flight when the second question arrives
    await asyncio.gather(bot.command("tasks orders-prod", user="U0ONE"), bot.command("tasks orders-prod", user="U0TWO"))
    assert bot.sim.count("/transfer-tasks") == reads + 1
    assert value("disbot_cache_events_total", event="miss") == misses + 1
    assert value("disbot_cache_events_total", event="coalesced") == coalesced + 1


async def test_watch_lag_shows_cycles_that_start_behind_schedule(make_bot) -> None:
    """A poll cycle longer than the interval makes the next one start late: the lag gauge says by how much."""
    bot: Bot = await make_bot(WATCH_INTERVAL_SECONDS=0.1)
    store = open_store("sqlite:///:memory:")
    await store.upsert_subscription("C0ALERTS", "orders-prod", now=time.time())
    watcher = build_watcher(bot.deps, store=store, spread=0, channel_interval=0)
    bot.sim.latency = 0.4  # each cycle takes at least 0.4 s against an interval of 0.1 s
    await watcher.start()
    try:
        async with asyncio.timeout(10):
            # The watcher runs on its own timer; there is no event for "a cycle began": poll its counter.
            while watcher.cycles < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        assert value("disbot_watch_lag_seconds") >= 0.25
        bot.sim.latency = 0.0
        async with asyncio.timeout(10):
            while value("disbot_watch_lag_seconds") > 0.05:  # noqa: ASYNC110 - on schedule again: lag back to ~0
                await asyncio.sleep(0.02)
    finally:
        await watcher.stop()
        await store.close()
