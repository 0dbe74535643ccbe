"""The App Home tab in a running bot with a watcher: what it shows after real polls and alerts."""

from __future__ import annotations

import json
import time

import pytest
from slack_sdk.models.views import View

from bot.blocks.limits import MAX_HOME_BLOCKS
from bot.devtools.render import render_blocks
from bot.dis.simulator import SimTask
from bot.metrics import REGISTRY
from bot.server import build_watcher
from bot.store import open_store
from tests.ops.conftest import Bot
from tests.slack.blockkit import validate_blocks


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def total(sample: str) -> float:
    """The sum of a counter over all its labels."""
    return sum(s.value for m in REGISTRY.collect() for s in m.samples if s.name == sample)


@pytest.fixture
async def watched(make_bot):
    """A bot whose watcher watches orders-prod in C0ALERTS (one task already ERROR in the simulator)."""
    bot: Bot = await make_bot()
    store = open_store("sqlite:///:memory:")
    watcher = build_watcher(bot.deps, store=store, spread=0, channel_interval=0)
    await store.upsert_subscription("C0ALERTS", "orders-prod", now=time.time())
    yield bot, watcher
    await store.close()


async def publish_home(bot: Bot) -> dict:
    before = bot.fake.count("views.publish")
    await bot.home_opened()
    calls = await bot.fake.wait_for("views.publish", count=before + 1)
    view = calls[-1].payload["view"]
    View(**view).to_dict()  # validates the view and every block in it (validate_json alone skips the blocks)
    validate_blocks(view["blocks"], max_blocks=MAX_HOME_BLOCKS)
    return view


async def test_home_shows_streams_alerts_and_last_read(watched) -> None:
    """After a poll raised an alert, the tab lists the stream, its tasks per state, the read time and the link."""
    bot, watcher = watched
    await watcher.run_cycle()
    await watcher.flush()
    [post] = await bot.fake.wait_for("chat.postMessage", where=lambda c: c.payload.get("channel") == "C0ALERTS")
    ts = post.response["ts"]

    view = await publish_home(bot)
    shown = "\n".join(render_blocks(view["blocks"]))
    assert "*orders-prod* → #C0ALERTS" in shown
    assert "🔴 1 ERROR · 🟢 1 RUNNING · read " in shown
    assert "Open alerts (1)" in shown and "*orders-prod* / to-dws ERROR" in shown
    link = f"https://fake.slack.test/archives/C0ALERTS/p{ts.replace('.', '')}"
    assert f"<{link}|open message>" in json.dumps(view)


async def test_home_follows_recovery(watched) -> None:
    """When the task recovers, the next opening shows no open alert and every task RUNNING."""
    bot, watcher = watched
    await watcher.run_cycle()
    await watcher.flush()
    bot.sim.set_state("orders-prod", "to-dws", "RUNNING")
    await watcher.run_cycle()
    await watcher.flush()
    shown = "\n".join(render_blocks((await publish_home(bot))["blocks"]))
    assert "No open alerts." in shown
    assert "🟢 2 RUNNING" in shown


async def test_other_tabs_are_ignored(watched) -> None:
    """Opening the Messages tab publishes nothing."""
    bot, _ = watched
    await bot.home_opened(tab="messages")
    await bot.home_opened()  # a later Home opening is published: the first event was handled (and ignored)
    await bot.fake.wait_for("views.publish")
    await bot.fake.wait_quiet(0.2)
    assert bot.fake.count("views.publish") == 1


async def test_without_a_watcher_the_tab_shows_how_to_use_the_bot(make_bot) -> None:
    """A bot without a watcher store still publishes a valid tab: the how-to."""
    bot: Bot = await make_bot()
    view = await publish_home(bot)
    assert "/dis status" in json.dumps(view)


async def test_alert_and_state_metrics_move_with_the_watcher(watched) -> None:
    """Alerts raised/resolved, tasks per state, cycle duration, outbox depth and failures follow the watcher."""
    bot, watcher = watched
    raised, resolved = (
        value("disbot_alerts_total", event="raised", problem="state"),
        value("disbot_alerts_total", event="resolved", problem="state"),
    )
    cycles = value("disbot_watch_cycle_seconds_count")

    await watcher.run_cycle()
    assert value("disbot_alerts_total", event="raised", problem="state") == raised + 1
    assert value("disbot_watched_tasks", stream="orders-prod", state="ERROR") == 1
    assert value("disbot_watched_tasks", stream="orders-prod", state="RUNNING") == 1
    assert await watcher.store.outbox_depth() == 1  # the alert waits in the outbox
    failures = total("disbot_outbox_delivery_failures_total")
    bot.fake.fail_next("chat.postMessage", status=500)
    await watcher.flush()
    assert total("disbot_outbox_delivery_failures_total") == failures + 1
    assert value("disbot_outbox_depth") == 1  # still waiting, to be retried after a backoff

    bot.sim.set_state("orders-prod", "to-dws", "RUNNING")
    await watcher.run_cycle()
    assert value("disbot_alerts_total", event="resolved", problem="state") == resolved + 1
    assert value("disbot_watched_tasks", stream="orders-prod", state="ERROR") == 0
    assert value("disbot_watched_tasks", stream="orders-prod", state="RUNNING") == 2
    assert value("disbot_watch_cycle_seconds_count") == cycles + 2


@pytest.mark.parametrize("streams", [0, 1, 300])
async def test_home_in_a_running_bot_with_0_1_and_300_watched_streams(make_bot, streams) -> None:
    """After real polls of 0, 1 or 300 watched streams (a third failing), the published tab is valid, within
    100 blocks, and names every stream."""
    bot: Bot = await make_bot()
    store = open_store("sqlite:///:memory:")
    try:
        watcher = build_watcher(bot.deps, store=store, spread=0, channel_interval=0)
        names = [f"s-{i:03d}" for i in range(streams)]
        async with store.transaction():  # one commit for the setup
            for i, name in enumerate(names):
                bot.sim.add_stream(name, [SimTask("to-obs", state="ERROR" if i % 3 == 0 else "RUNNING")])
                await store.upsert_subscription(f"C{i % 7}", name, now=time.time())
        await watcher.run_cycle()
        view = await publish_home(bot)
        shown = json.dumps(view["blocks"])
        if streams:
            assert f"Watched streams ({streams})" in shown
            assert all(f"*{name}*" in shown for name in names)
            alerts = len(await store.open_alerts())  # problems of one channel and cycle share one alert
            assert alerts >= 1 and f"Open alerts ({alerts})" in shown
        else:
            assert "Nothing is watched yet" in shown
    finally:
        await store.close()
