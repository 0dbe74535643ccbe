"""One reading of Slack's failures for every caller (`bot.slack_errors`), through the fake Slack's real HTTP answers."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.devtools.fake_slack import FakeSlack
from bot.errors import ConfigError
from bot.server import check_slack_token
from bot.services.health import Health, observe_slack
from bot.slack_errors import Kind, SlackFailure, failure_reason, read_error
from bot.socket_mode.opener import ConnectFailed, open_url

BOT_TOKEN = "xoxb-test-0123"
APP_TOKEN = "xapp-1-A0TEST-0123-abcdef"


@pytest.fixture
async def fake() -> Any:
    async with FakeSlack(token=BOT_TOKEN, app_token=APP_TOKEN) as fake_slack:
        yield fake_slack


def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=BOT_TOKEN, base_url=fake.url, retry_handlers=[])


async def refusal(fake: FakeSlack, **failure: Any) -> SlackApiError:
    """What AsyncWebClient raises for one chat.postMessage the fake answers with `failure`."""
    fake.fail_next("chat.postMessage", **failure)
    with pytest.raises(SlackApiError) as err:
        await client(fake).chat_postMessage(channel="C1", text="hi")
    return err.value


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        ({"status": 429, "retry_after": 7}, (SlackFailure(429, "ratelimited", 7.0), Kind.RATELIMITED)),
        ({"status": 503}, (SlackFailure(503, "http_503", None), Kind.SLACK_DOWN)),
        ({"error": "fatal_error"}, (SlackFailure(200, "fatal_error", None), Kind.SLACK_DOWN)),
        ({"error": "rate_limited"}, (SlackFailure(200, "rate_limited", None), Kind.RATELIMITED)),
        ({"error": "token_revoked"}, (SlackFailure(200, "token_revoked", None), Kind.TOKEN_REFUSED)),
        ({"error": "not_allowed_token_type"}, (SlackFailure(200, "not_allowed_token_type"), Kind.TOKEN_REFUSED)),
        ({"error": "missing_scope"}, (SlackFailure(200, "missing_scope", None), Kind.NOT_PERMITTED)),
        ({"error": "not_in_channel"}, (SlackFailure(200, "not_in_channel", None), Kind.CHANNEL_REFUSED)),
        ({"error": "no_permission"}, (SlackFailure(200, "no_permission", None), Kind.CHANNEL_REFUSED)),
        ({"error": "message_not_found"}, (SlackFailure(200, "message_not_found", None), Kind.MESSAGE_GONE)),
        ({"error": "msg_too_long"}, (SlackFailure(200, "msg_too_long", None), Kind.PAYLOAD_REFUSED)),
        ({"error": "invalid_arguments"}, (SlackFailure(200, "invalid_arguments", None), Kind.REQUEST)),
    ],
)
async def test_read_error_classifies_each_answer(fake: FakeSlack, failure: dict[str, Any], expected: Any) -> None:
    """Each kind of Slack answer (429 with Retry-After, a 5xx in plain text, an error code) reads as one kind."""
    read = read_error(await refusal(fake, **failure))
    assert (read, read.kind) == expected


async def test_readiness_ignores_a_refused_channel_and_fails_on_slack_trouble(fake: FakeSlack) -> None:
    """A channel refusing the bot (`no_permission`) leaves readiness alone; Slack's own `fatal_error` fails it."""
    health = Health(300)
    health.mark_dis_ok()
    slack = observe_slack(client(fake), health)
    await slack.auth_test()
    for error in ("no_permission", "ekm_access_denied", "not_in_channel"):
        fake.fail_next("chat.postMessage", error=error)
        with pytest.raises(SlackApiError):
            await slack.chat_postMessage(channel="C1", text="hi")
        assert health.status()[0], error
    fake.fail_next("chat.postMessage", error="fatal_error")
    with pytest.raises(SlackApiError):
        await slack.chat_postMessage(channel="C1", text="hi")
    assert health.status()[1]["slack"]["reason"] == "Slack failing: chat.postMessage: fatal_error"


def test_failure_reason_of_network_errors() -> None:
    """Timeouts and network errors mean Slack cannot be reached; other exceptions say nothing about Slack."""
    assert failure_reason(TimeoutError()) == "timeout"
    assert failure_reason(aiohttp.ClientConnectionError()) == "network (ClientConnectionError)"
    assert failure_reason(ValueError()) is None


@pytest.mark.parametrize("error", ["missing_scope", "no_permission", "not_allowed_token_type", "token_revoked"])
async def test_app_token_refusals_are_final(fake: FakeSlack, error: str) -> None:
    """apps.connections.open refusing the app token (a revoked one, or one without connections:write) is final."""
    fake.fail_next("apps.connections.open", error=error)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ConnectFailed) as err:
            await open_url(session, fake.url, APP_TOKEN, 5)
    assert err.value.refused and err.value.code == error


async def test_app_token_check_retries_slack_trouble(fake: FakeSlack) -> None:
    """apps.connections.open failing on Slack's side (`internal_error`, a 429) is not a refused token."""
    fake.fail_next("apps.connections.open", error="internal_error")
    fake.fail_next("apps.connections.open", status=429, retry_after=3)
    async with aiohttp.ClientSession() as session:
        for code, retry_after in (("internal_error", None), ("ratelimited", 3.0)):
            with pytest.raises(ConnectFailed) as err:
                await open_url(session, fake.url, APP_TOKEN, 5)
            assert (err.value.refused, err.value.code, err.value.retry_after) == (False, code, retry_after)


async def test_bot_token_check_names_the_refusal(fake: FakeSlack) -> None:
    """auth.test refusing the bot token stops start-up naming Slack's code; Slack's trouble does not."""
    fake.fail_next("auth.test", error="not_allowed_token_type")
    with pytest.raises(ConfigError, match=r"Slack refused SLACK_BOT_TOKEN \(not_allowed_token_type\)"):
        await check_slack_token(client(fake))
    fake.fail_next("auth.test", status=503)
    await check_slack_token(client(fake))  # logged, not raised: Bolt retries on the first request
