"""Events through the real HTTP endpoint: mentions answered in their thread, DMs, App Home, Slack's retries."""

from __future__ import annotations

import json

from bot.dis.simulator import SimTask
from tests.slack.blockkit import all_text, validate_message
from tests.slack.conftest import ALICE, CHANNEL


async def test_mention_is_answered_in_a_new_thread_under_it(bot):
    """`@dis-bot tasks orders` in a channel: chat.postMessage in the thread of the mention, for everyone."""
    bot.sim.add_stream("orders", [SimTask("to-obs", state="ERROR")])
    sent = await bot.mention("tasks orders", ts="1700000000.000300")
    assert sent.response.status_code == 200
    [post] = await bot.fake.wait_for("chat.postMessage")
    assert post.payload["channel"] == CHANNEL
    assert post.payload["thread_ts"] == "1700000000.000300"
    validate_message(post.payload)
    assert "to-obs" in all_text(post.payload)
    assert "dis.share" not in json.dumps(post.payload["blocks"])  # already visible to everyone


async def test_mention_inside_a_thread_answers_in_that_thread(bot):
    """A mention in an existing thread is answered in that thread, not a new one."""
    await bot.mention("help", ts="1700000000.000500", thread_ts="1700000000.000100")
    [post] = await bot.fake.wait_for("chat.postMessage")
    assert post.payload["thread_ts"] == "1700000000.000100"
    assert "@dis-bot tasks STREAM" in all_text(post.payload)  # help speaks the mention's language


async def test_redelivered_event_is_answered_once(bot):
    """Slack re-sending an event (X-Slack-Retry-Num, same event_id) gets 200 and no second answer."""
    bot.sim.add_stream("orders", [SimTask("t")])
    first = await bot.mention("tasks orders", event_id="Ev0RETRY1")
    again = await bot.mention("tasks orders", event_id="Ev0RETRY1", retry_num=1)
    assert first.response.status_code == 200 and again.response.status_code == 200
    await bot.fake.wait_for("chat.postMessage")
    await bot.fake.wait_quiet(0.3)
    assert bot.fake.count("chat.postMessage") == 1
    assert bot.sim.count("/transfer-tasks") == 1


async def test_direct_message_is_answered_in_the_dm(bot):
    """Words sent to the bot in a DM are a command; the answer goes to the DM."""
    event = {"type": "message", "channel_type": "im", "user": ALICE, "text": "streams", "ts": "1.1", "channel": "D0DM"}
    bot.sim.add_stream("alpha")
    await bot.event(event)
    [post] = await bot.fake.wait_for("chat.postMessage")
    assert post.payload["channel"] == "D0DM"
    assert "alpha" in all_text(post.payload)


async def test_channel_messages_edits_and_bot_messages_are_ignored(bot):
    """Only plain DMs from people are commands: channel messages, edits and bot posts get no answer."""
    base = {"type": "message", "user": ALICE, "text": "help", "ts": "1.1", "channel": "D0DM"}
    await bot.event({**base, "channel_type": "channel", "channel": CHANNEL})
    await bot.event({**base, "channel_type": "im", "subtype": "message_changed"})
    await bot.event({**base, "channel_type": "im", "bot_id": "B0OTHER"})
    await bot.fake.wait_quiet(0.3)
    assert bot.fake.count("chat.postMessage") == 0


async def test_app_home_is_published(bot):
    """Opening the Home tab publishes a valid home view for that user."""
    await bot.event({"type": "app_home_opened", "user": ALICE, "channel": "D0DM", "tab": "home"})
    [call] = await bot.fake.wait_for("views.publish")
    assert call.payload["user_id"] == ALICE
    assert call.payload["view"]["type"] == "home"
    assert "/dis status" in json.dumps(call.payload["view"])


async def test_url_verification_challenge_is_answered(bot):
    """Slack's URL check when the Request URL is saved gets its challenge back."""
    body = json.dumps({"token": "x", "challenge": "ch4llenge", "type": "url_verification"})
    response, _ = await bot.post(body, content_type="application/json")
    assert response.status_code == 200 and "ch4llenge" in response.text


async def test_every_web_api_call_goes_to_slack_api_url(bot):
    """Bolt's start-up auth.test and our posts all reach the configured SLACK_API_URL (the fake)."""
    await bot.mention("help")
    await bot.fake.wait_for("chat.postMessage")
    methods = [c.method for c in bot.fake.calls]
    assert "auth.test" in methods
    assert all(c.authorized for c in bot.fake.calls if c.method != "response_url")


async def test_mention_answer_survives_a_slack_rate_limit(bot):
    """Slack answering 429 once: the answer is posted again after Retry-After."""
    bot.fake.fail_next("chat.postMessage", 1, status=429, retry_after=0)
    await bot.mention("help")
    [post] = await bot.fake.wait_for("chat.postMessage", timeout=5)
    assert post.ok and bot.fake.count("chat.postMessage") == 2
