"""Slack heard from again after an outage: the alert that waited out a long outbox backoff goes at once, whether
Slack is back through a Web API call that works or through the Socket Mode websocket opening again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.dis.simulator import SimTask
from bot.store.base import PENDING, OutboxItem
from bot.watcher.outbox import Backoff
from bot.watcher.watcher import Watcher
from tests.slack.conftest import ALICE, CHANNEL, MakeSocketBot, SocketBot

#: A backoff no test waits out: a row due before it is due because Slack came back.
LONG = Backoff(base=300.0, cap=300.0, jitter=False)


def watcher_of(bot: SocketBot) -> Watcher:
    assert bot.runtime.watcher is not None
    return bot.runtime.watcher


async def start(make_socket_bot: MakeSocketBot, tmp_path: Path) -> SocketBot:
    """The bot in Socket Mode with its watcher (cycles driven by the test) and a 300 s outbox backoff."""
    return await make_socket_bot(
        DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
        WATCH_INTERVAL_SECONDS=3600,
        watcher={"spread": 0.0, "channel_interval": 0.0, "backoff": LONG},
    )


async def alert_waiting_for_slack(bot: SocketBot) -> OutboxItem:
    """A task fails and Slack answers its alert with a 503: the alert's row waits out the 300 s backoff."""
    watcher = watcher_of(bot)
    bot.sim.add_stream("orders", [SimTask("to-obs")])
    await bot.deps.watches.watch(CHANNEL, "orders", user_id=ALICE)
    await watcher.run_cycle()
    bot.fake.fail_next("chat.postMessage", status=503)
    bot.sim.set_state("orders", "to-obs", "ERROR")
    await watcher.run_cycle()

    async def waiting() -> OutboxItem:
        while True:
            rows = await watcher.store.outbox(state=PENDING)
            if rows and rows[0].last_error == "server_error":
                return rows[0]
            await asyncio.sleep(0.01)

    row = await asyncio.wait_for(waiting(), 5)
    assert row.not_before >= watcher.clock() + 250
    assert bot.fake.calls_to("chat.postMessage", ok=True) == []
    return row


async def test_a_web_api_call_that_works_after_failures_sends_the_waiting_alert(
    make_socket_bot: MakeSocketBot, tmp_path: Path
) -> None:
    """Slack answers a Web API call again after failing: the alert whose row waits 300 s is posted at once."""
    bot = await start(make_socket_bot, tmp_path)
    await alert_waiting_for_slack(bot)
    assert not bot.deps.health.status()[1]["slack"]["ok"]  # the 503 was seen
    await bot.deps.slack.auth_test()
    [post] = await bot.fake.wait_for("chat.postMessage", timeout=5, where=lambda c: c.ok)
    assert "to-obs" in post.text
    assert await watcher_of(bot).store.outbox(state=PENDING) == []


async def test_the_websocket_opening_again_sends_the_waiting_alert(
    make_socket_bot: MakeSocketBot, tmp_path: Path
) -> None:
    """The Socket Mode websocket closes and opens again: the alert whose row waits 300 s is posted right after the
    new connection, with no Web API call having worked in between."""
    bot = await start(make_socket_bot, tmp_path)
    await alert_waiting_for_slack(bot)
    first = bot.fake.socket_connections[-1]
    await bot.fake.socket_close(first)
    [post] = await bot.fake.wait_for("chat.postMessage", timeout=5, where=lambda c: c.ok)
    assert "to-obs" in post.text
    second = bot.fake.socket_connections[-1]
    assert second is not first and second.opened_at <= post.at
    web_api = [c for c in bot.fake.calls if c.ok and not c.method.startswith(("socket_mode.", "apps.connections."))]
    assert not [c for c in web_api if first.opened_at < c.at < post.at], web_api
