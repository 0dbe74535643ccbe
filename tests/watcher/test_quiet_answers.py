"""Words the bot repeats must not ping: outside an alert (and its reminders) no message, Home view or `text`
fallback the bot sends holds a live mention. Every call the fake Slack recorded is checked."""

from __future__ import annotations

import json
import re
from typing import Any

from bot.devtools.fake_slack import MESSAGE_METHODS, Call
from bot.dis.simulator import SimTask
from bot.watcher.ids import ALERT_ACK, ALERT_METADATA_EVENT
from tests.slack.blockkit import all_text, buttons
from tests.slack.conftest import CHANNEL, SlackBot
from tests.watcher import test_slack_surface as surface

# The whole bot with its watcher, as `test_slack_surface` builds it (fixtures reused, not copied).
bot, fake, watcher_of = surface.bot, surface.fake, surface.watcher_of

LIVE = re.compile(r"<(?:@[UW][A-Z0-9]+|!subteam\^|!here|!channel|!everyone)")
MENTION = "<!subteam^S0ONCALL|@oncall> <@U0BOB|bob> <!here>"


def _metadata(call: Call) -> dict[str, Any]:
    metadata = call.payload.get("metadata") or {}
    return json.loads(metadata) if isinstance(metadata, str) else metadata


#: Outbox keys of the messages that may page: the alert's post, its reminders and the late-joiner page.
_PAGING_KEY = re.compile(r"^alert:\d+:(?:post|reminder:\d+|mention:.*)$")


def _pages(call: Call) -> bool:
    metadata = _metadata(call)
    key = str((metadata.get("event_payload") or {}).get("key", ""))
    return metadata.get("event_type") == ALERT_METADATA_EVENT and bool(_PAGING_KEY.match(key))


def _not_alerts(calls: list[Call]) -> list[Call]:
    """Every message and view sent, except those that may page (alert posts and their edits, reminders, the
    late-joiner page); thread replies carry an outbox key too, and are checked."""
    alert_ts = {
        c.response.get("ts")
        for c in calls
        if c.ok and _metadata(c).get("event_payload", {}).get("key", "").endswith(":post")
    }
    sent = [c for c in calls if c.method in MESSAGE_METHODS or c.method == "views.publish"]
    alerts = [c for c in sent if _pages(c) or (c.method == "chat.update" and c.payload.get("ts") in alert_ts)]
    return [c for c in sent if c.ok and c not in alerts]


async def test_no_message_but_the_alert_pings_anyone(bot: SlackBot) -> None:
    """watch … mention, watching (slash and @mention), Share, Acknowledge, Snooze, App Home, help: names, no pings."""
    bot.sim.add_stream("orders", [SimTask("to-obs"), SimTask("to-dws")])
    watched = await bot.answer(await bot.command(f"watch orders mention {MENTION}"))
    assert "`@oncall` `@bob` `@here`" in all_text(watched.payload)  # named from Slack's escapes
    assert "mentions `@oncall` `@bob` `@here`" in all_text((await bot.answer(await bot.command("watching"))).payload)
    await bot.mention("watching")
    await bot.fake.wait_for("chat.postMessage", where=lambda c: c.payload.get("thread_ts") is not None)

    bot.sim.set_state("orders", "to-obs", "ERROR")
    await watcher_of(bot).run_cycle()
    [alert] = await bot.fake.wait_for("chat.postMessage", where=lambda c: bool(_metadata(c)))
    assert "<!subteam^S0ONCALL|@oncall>" in alert.text  # the alert itself does page
    ack = buttons(alert.payload)[ALERT_ACK]["value"]
    await bot.click(ALERT_ACK, ack, user="U0BOB", ephemeral=False)
    await bot.answer(await bot.click(ALERT_ACK, ack, user="U0CAROL", ephemeral=False))  # "already acknowledged"
    await bot.click("dis_alert_snooze_1h", ack, user="U0BOB", ephemeral=False)
    await bot.fake.wait_for(
        "chat.postMessage", count=2, where=lambda c: c.payload.get("thread_ts") == alert.response["ts"]
    )

    tasks = await bot.answer(await bot.command("tasks orders"))
    shared = await bot.answer(await bot.click("dis.share", buttons(tasks.payload)["dis.share"]["value"]))
    assert "Shared by `@U0ALICE`" in all_text(shared.payload)
    await bot.event({"type": "app_home_opened", "user": "U0BOB", "channel": "D0DM", "tab": "home"})
    await bot.fake.wait_for("views.publish")
    await bot.answer(await bot.command("&lt;!channel&gt; &lt;@U0BOB&gt; please"))

    checked = _not_alerts(bot.fake.calls)
    assert len(checked) >= 11  # every answer above, each reply in the alert thread, the Home view
    for call in checked:
        shown = all_text(call.payload) if call.method != "views.publish" else json.dumps(call.payload["view"])
        assert not LIVE.search(shown), (call.method, shown)
    assert any(c.payload.get("channel") == CHANNEL for c in checked)


async def test_a_state_dis_invents_is_shown_inert_in_the_alert(bot: SlackBot) -> None:
    """A failing task that DIS then reports in a state named `<@U0EVIL>`: the alert's edit shows it, pinging nobody."""
    bot.sim.add_stream("orders", [SimTask("to-obs")])
    await bot.answer(await bot.command("watch orders"))
    bot.sim.set_state("orders", "to-obs", "ERROR")
    await watcher_of(bot).run_cycle()
    await bot.fake.wait_for("chat.postMessage", where=lambda c: bool(_metadata(c)))
    bot.sim.set_state("orders", "to-obs", "<@U0EVIL>\x00")  # unknown states keep the problem open, shown as they come
    await watcher_of(bot).run_cycle()
    [update] = await bot.fake.wait_for("chat.update")
    parsed = all_text(update.payload, parsed_only=True)
    assert "&lt;@U0EVIL&gt;" in parsed
    assert not LIVE.search(parsed) and "\x00" not in all_text(update.payload), parsed
