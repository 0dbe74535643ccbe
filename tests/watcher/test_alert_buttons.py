"""Acknowledge/Snooze values are data: a click acts only on an alert of the conversation it came from.

Through the bot's real endpoint with its watcher (the fixtures of `test_slack_surface`); crafted payloads:
a click in a view (App Home: no conversation), a 40-digit id, a Refresh value naming a command.
"""

from __future__ import annotations

import json
import logging
import time

from bot.dis.simulator import SimTask
from bot.watcher.ids import ALERT_ACK
from tests.slack import payloads
from tests.slack.blockkit import all_text, buttons
from tests.slack.conftest import ALICE, CHANNEL, SlackBot
from tests.watcher import test_slack_surface as surface

# The whole bot with its watcher, as `test_slack_surface` builds it (fixtures reused, not copied).
bot, fake, watcher_of = surface.bot, surface.fake, surface.watcher_of


async def _alert(bot: SlackBot):
    """Watch `orders` here and let its task fail: the alert message."""
    bot.sim.add_stream("orders", [SimTask("to-obs")])
    await bot.answer(await bot.command("watch orders"))
    bot.sim.set_state("orders", "to-obs", "ERROR")
    await watcher_of(bot).run_cycle()
    [alert] = await bot.fake.wait_for("chat.postMessage", timeout=5)
    return alert


async def test_acknowledge_from_a_view_changes_nothing(bot: SlackBot) -> None:
    """An Acknowledge click from App Home (no conversation) does not acknowledge; the clicker is told in a DM."""
    alert = await _alert(bot)
    value = buttons(alert.payload)[ALERT_ACK]["value"]
    response, _ = await bot.post(payloads.view_block_actions(ALERT_ACK, value, user="U0BOB"))
    assert response.status_code == 200
    [note] = await bot.fake.wait_for("chat.postMessage", timeout=5, where=lambda c: c.payload["channel"] == "U0BOB")
    assert "alert's own message" in all_text(note.payload)
    [stored] = await bot.deps.watches.store.open_alerts()
    assert stored.acked_by is None


async def test_snooze_from_a_view_changes_nothing(bot: SlackBot) -> None:
    """A Snooze click from App Home snoozes nothing (the alert's channel is not where it came from)."""
    alert = await _alert(bot)
    value = buttons(alert.payload)["dis_alert_snooze_4h"]["value"]
    await bot.post(payloads.view_block_actions("dis_alert_snooze_4h", value, user="U0BOB"))
    await bot.fake.wait_for("chat.postMessage", timeout=5, where=lambda c: c.payload["channel"] == "U0BOB")
    assert await bot.deps.watches.store.snoozes(now=time.time()) == []


async def test_a_forty_digit_alert_id_gets_a_polite_answer(bot: SlackBot, caplog) -> None:
    """Acknowledge with a 40-digit value: a polite answer, no listener crash, nothing acknowledged."""
    await _alert(bot)
    caplog.set_level(logging.INFO)
    click = await bot.click(ALERT_ACK, "1" * 40, ephemeral=False)
    answer = await bot.answer(click)
    assert "could not read that button" in all_text(answer.payload)
    assert not [r for r in caplog.records if r.getMessage() == "slack.listener_failed"]
    [stored] = await bot.deps.watches.store.open_alerts()
    assert stored.acked_by is None


async def test_a_refresh_value_naming_a_command_does_not_run_it(bot: SlackBot) -> None:
    """A Refresh whose value says `unwatch orders` is refused: the watch stays."""
    bot.sim.add_stream("orders", [SimTask("to-obs")])
    await bot.answer(await bot.command("watch orders"))
    click = await bot.click("dis.refresh", json.dumps({"c": "unwatch", "a": ["orders"]}), user=ALICE)
    answer = await bot.answer(click)
    assert "could not read that button" in all_text(answer.payload)
    assert [s.stream for s in await bot.deps.watches.store.subscriptions(channel_id=CHANNEL)] == ["orders"]
