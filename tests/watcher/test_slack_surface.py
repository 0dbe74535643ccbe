"""`/dis watch|unwatch|watching` and the Acknowledge/Snooze buttons through the bot's real HTTP endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.devtools.fake_slack import FakeSlack
from bot.dis.client import DisClient
from bot.dis.simulator import DisSimulator, SimTask
from bot.server import build_deps, build_runtime
from bot.services.watches import WatchService
from bot.watcher.ids import ALERT_ACK
from bot.watcher.watcher import Watcher
from tests.conftest import FAST_RETRY, WriteLock, settings_for
from tests.slack import payloads
from tests.slack.blockkit import all_text, buttons, validate_message
from tests.slack.conftest import ALICE, BOT_TOKEN, CHANNEL, SIGNING_SECRET, SlackBot

ONCALL_ESCAPED = "<!subteam^S0ONCALL|@oncall>"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token=BOT_TOKEN) as fake_slack:
        yield fake_slack


@pytest.fixture
async def bot(sim: DisSimulator, fake: FakeSlack, tmp_path: Path) -> AsyncIterator[SlackBot]:
    """The whole bot with its watcher (interval 1 h: cycles are driven by the test)."""
    settings = settings_for(
        sim,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.url,
        PORT=0,
        DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
        WATCH_INTERVAL_SECONDS=3600,
    )
    deps = build_deps(settings, dis=DisClient(settings, retry=FAST_RETRY))
    runtime = build_runtime(
        settings,
        deps=deps,
        host="127.0.0.1",
        socket_mode=False,
        watcher={"spread": 0.0, "channel_interval": 0.0},
    )
    await runtime.server.start()
    async with httpx.AsyncClient(timeout=10) as http:
        yield SlackBot(runtime, fake, sim, http)
    await runtime.server.stop()
    await deps.dis.aclose()


def watcher_of(bot: SlackBot) -> Watcher:
    assert isinstance(bot.deps.watches, WatchService) and bot.runtime.watcher is not None
    return bot.runtime.watcher


async def test_watch_with_mention_and_already_failing(bot: SlackBot) -> None:
    """`watch STREAM mention @group`: answered, stored with the mention, and the old failure posted once."""
    bot.sim.add_stream("orders", [SimTask("to-obs", state="ERROR"), SimTask("to-dws")])
    sent = await bot.command(f"watch orders mention {ONCALL_ESCAPED}")
    answer = await bot.answer(sent)
    validate_message(answer.payload)
    text = all_text(answer.payload)
    assert "Watching `orders`" in text and "Alerts mention `@oncall`" in text and "`to-obs` (ERROR)" in text
    assert "<!subteam" not in text  # named, not paged: only the alert mentions the group
    [alert] = await bot.fake.wait_for("chat.postMessage", timeout=5, where=lambda c: c.payload["channel"] == CHANNEL)
    validate_message(alert.payload)
    assert alert.text.startswith("<!subteam^S0ONCALL|@oncall>") and "already" in alert.blocks[0]["text"]["text"]
    [sub] = await bot.deps.watches.store.subscriptions(channel_id=CHANNEL)
    assert sub.mention == "<!subteam^S0ONCALL|@oncall>" and sub.created_by == ALICE


async def test_watch_unknown_stream_is_refused(bot: SlackBot) -> None:
    """A stream that does not exist is not watched, and the answer says so."""
    answer = await bot.answer(await bot.command("watch nope"))
    assert "Stream `nope` was not found" in all_text(answer.payload)
    assert await bot.deps.watches.store.subscriptions() == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("watch", "Which stream"),
        ("watch orders mention @bob", "could not read '@bob'"),
        ("watch orders loudly", "did not understand"),
        ("watch bad.name", "not a valid stream name"),
    ],
)
async def test_watch_typed_wrong(bot: SlackBot, text: str, expected: str) -> None:
    """Typos get an explanation, and nothing is stored."""
    bot.sim.add_stream("orders", [SimTask("to-obs")])
    answer = await bot.answer(await bot.command(text))
    assert expected in all_text(answer.payload)
    assert await bot.deps.watches.store.subscriptions() == []


async def test_watching_and_unwatch(bot: SlackBot) -> None:
    """`watching` lists each watch with its last poll; `unwatch` removes it."""
    bot.sim.add_stream("orders", [SimTask("to-obs"), SimTask("to-dws", state="PAUSED")])
    await bot.answer(await bot.command("watch orders mention <@U0BOB|bob>"))
    await watcher_of(bot).run_cycle()
    answer = await bot.answer(await bot.command("watching"))
    validate_message(answer.payload)
    text = all_text(answer.payload)
    assert "*orders*" in text and "mentions `@bob`" in text and "Last poll" in text and "1 RUNNING" in text
    answer = await bot.answer(await bot.command("unwatch orders"))
    assert "Stopped watching `orders`" in all_text(answer.payload)
    answer = await bot.answer(await bot.command("watching"))
    assert "watches nothing" in all_text(answer.payload)


async def test_acknowledge_button(bot: SlackBot) -> None:
    """Acknowledge on an alert: acked fast, the alert shows who, the thread says so, a second press is told."""
    bot.sim.add_stream("orders", [SimTask("to-obs")])
    await bot.answer(await bot.command("watch orders"))
    bot.sim.set_state("orders", "to-obs", "ERROR")
    await watcher_of(bot).run_cycle()
    [alert] = await bot.fake.wait_for("chat.postMessage", timeout=5)
    button = buttons(alert.payload)[ALERT_ACK]
    click = await bot.click(ALERT_ACK, button["value"], user="U0BOB", ephemeral=False)
    assert click.response.status_code == 200 and click.elapsed < 3
    [update] = await bot.fake.wait_for("chat.update", timeout=5)
    assert "Acknowledged by <@U0BOB>" in all_text(update.payload) and ALERT_ACK not in buttons(update.payload)
    [_, reply] = await bot.fake.wait_for("chat.postMessage", count=2, timeout=5)
    assert reply.payload["thread_ts"] == alert.response["ts"] and "`@U0BOB` acknowledged" in reply.text
    again = await bot.click(ALERT_ACK, button["value"], user="U0CAROL", ephemeral=False)
    note = await bot.answer(again)
    assert "Already acknowledged by `@U0BOB`" in note.text and note.payload["response_type"] == "ephemeral"


async def test_snooze_button(bot: SlackBot) -> None:
    """Snooze 4 h: the alert shows the snooze and `watching` lists it."""
    bot.sim.add_stream("orders", [SimTask("to-obs")])
    await bot.answer(await bot.command("watch orders"))
    bot.sim.set_state("orders", "to-obs", "ERROR")
    await watcher_of(bot).run_cycle()
    [alert] = await bot.fake.wait_for("chat.postMessage", timeout=5)
    click = await bot.click("dis_alert_snooze_4h", buttons(alert.payload)["dis_alert_snooze_4h"]["value"])
    assert click.response.status_code == 200
    [update] = await bot.fake.wait_for("chat.update", timeout=5)
    assert "snoozed until" in all_text(update.payload)
    answer = await bot.answer(await bot.command("watching"))
    assert "`to-obs` (orders) snoozed until" in all_text(answer.payload)


async def test_commands_and_buttons_say_when_the_database_refuses_writes(bot: SlackBot, tmp_path: Path) -> None:
    """While another connection holds the database's lock, `/dis watch` and Acknowledge answer "I cannot record
    that right now" (nothing changed); once it is free the same press works."""
    bot.sim.add_stream("orders", [SimTask("to-obs")])
    bot.sim.add_stream("billing", [SimTask("to-dws")])
    await bot.answer(await bot.command("watch orders"))
    bot.sim.set_state("orders", "to-obs", "ERROR")
    await watcher_of(bot).run_cycle()
    [alert] = await bot.fake.wait_for("chat.postMessage", timeout=5)
    value = buttons(alert.payload)[ALERT_ACK]["value"]
    with WriteLock(tmp_path / "bot.db"):
        answer = await bot.answer(await bot.command("watch billing"))
        assert "I cannot record that right now" in answer.text
        note = await bot.answer(await bot.click(ALERT_ACK, value, user="U0BOB"))
        assert "I cannot record that right now" in note.text and note.payload["response_type"] == "ephemeral"
    assert [s.stream for s in await bot.deps.watches.store.subscriptions(channel_id=CHANNEL)] == ["orders"]
    await bot.click(ALERT_ACK, value, user="U0BOB", ephemeral=False)
    [update] = await bot.fake.wait_for("chat.update", timeout=5)
    assert "Acknowledged by <@U0BOB>" in all_text(update.payload)


async def test_button_from_another_channel_is_refused(bot: SlackBot) -> None:
    """An alert's button pressed elsewhere (a forwarded copy) changes nothing."""
    bot.sim.add_stream("orders", [SimTask("to-obs")])
    await bot.answer(await bot.command("watch orders"))
    bot.sim.set_state("orders", "to-obs", "ERROR")
    await watcher_of(bot).run_cycle()
    [alert] = await bot.fake.wait_for("chat.postMessage", timeout=5)
    hook = bot.fake.response_url()
    body = payloads.block_actions(
        ALERT_ACK, buttons(alert.payload)[ALERT_ACK]["value"], user="U0BOB", channel="C0ELSEWHERE", response_url=hook
    )
    response, _ = await bot.post(body)
    assert response.status_code == 200
    [note] = await bot.fake.wait_for("response_url", timeout=5, where=lambda c: c.hook_id == hook.rsplit("/", 1)[1])
    assert "no longer follow" in all_text(note.payload)
    [stored] = await bot.deps.watches.store.open_alerts()
    assert stored.acked_by is None
