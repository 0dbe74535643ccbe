"""The fake Slack Web API answers the real SDK clients like Slack, records calls and scripts failures."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.devtools.fake_slack import FakeSlack


@pytest.fixture
async def fake():
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def client(fake):
    return AsyncWebClient(token="xoxb-test", base_url=fake.url)


async def test_auth_test_answers_bot_identity(fake, client):
    """auth.test returns the bot user id and team Bolt needs at start-up."""
    resp = await client.auth_test()
    assert resp["user_id"] == fake.bot_user_id
    assert resp["team_id"] == fake.team_id
    assert fake.calls_to("auth.test")[0].authorized


async def test_post_and_update_message_are_recorded(fake, client):
    """chat.postMessage returns a ts, chat.update changes the stored message, both are recorded with payloads."""
    posted = await client.chat_postMessage(channel="C1", text="hello", blocks=[], thread_ts="1.2")
    await client.chat_update(channel="C1", ts=posted["ts"], text="updated")
    [post] = await fake.wait_for("chat.postMessage")
    assert post.payload["thread_ts"] == "1.2"
    assert fake.messages[("C1", posted["ts"])]["text"] == "updated"
    assert fake.count("chat.update") == 1


async def test_rate_limit_is_scripted_with_retry_after(fake, client):
    """fail_next(status=429) answers 429 with Retry-After, then the next call succeeds."""
    fake.fail_next("chat.postMessage", 1, status=429, retry_after=3)
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="x")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "3"
    assert (await client.chat_postMessage(channel="C1", text="x"))["ok"]
    assert [c.ok for c in fake.calls_to("chat.postMessage")] == [False, True]


async def test_method_error_is_scripted(fake, client):
    """fail_next(error=...) answers ok:false with that error."""
    fake.fail_next("chat.postMessage", 1, error="channel_not_found")
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="x")
    assert err.value.response["error"] == "channel_not_found"


async def test_wrong_token_is_refused_when_a_token_is_set():
    """A fake built with token= answers invalid_auth to any other token."""
    async with FakeSlack(token="xoxb-right") as fake:
        with pytest.raises(SlackApiError) as err:
            await AsyncWebClient(token="xoxb-wrong", base_url=fake.url).auth_test()
        assert err.value.response["error"] == "invalid_auth"


async def test_response_url_records_webhook_posts_and_calls_back(fake):
    """POST to a response_url is recorded and reaches on_message."""
    seen = []
    fake.on_message = seen.append
    url = fake.response_url("abc")
    resp = await AsyncWebhookClient(url).send_dict({"text": "hi", "response_type": "ephemeral"})
    assert resp.status_code == 200
    [call] = await fake.wait_for("response_url")
    assert call.hook_id == "abc" and call.text == "hi"
    assert seen == [call]


async def test_wait_for_times_out_with_what_was_seen(fake, client):
    """wait_for raises AssertionError naming the calls it did see."""
    await client.auth_test()
    with pytest.raises(AssertionError, match=r"auth\.test"):
        await fake.wait_for("chat.postMessage", timeout=0.1)


async def test_response_url_takes_five_posts_then_refuses_like_slack(fake):
    """A response_url accepts 5 posts; the 6th gets 404 used_url; an expired one gets 404 expired_url."""
    hook = AsyncWebhookClient(fake.response_url("five"))
    statuses = [(await hook.send_dict({"text": f"#{i}"})).status_code for i in range(6)]
    assert statuses == [200] * 5 + [404]
    assert fake.calls_to("response_url")[-1].error == "used_url"
    fake.expire_response_url("old")
    resp = await AsyncWebhookClient(fake.response_url("old")).send_dict({"text": "late"})
    assert (resp.status_code, resp.body) == (404, "expired_url")
