"""Delivering answers (`bot.listeners.common`): Slack refusing a message is logged and reported, never raised."""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.limits import Message
from bot.listeners.common import Where, post_message, respond_or_post
from tests.slack.conftest import ALICE, BOT_TOKEN, CHANNEL


def _client(fake) -> AsyncWebClient:
    return AsyncWebClient(token=BOT_TOKEN, base_url=fake.url, retry_handlers=[])


async def test_post_refused_with_a_text_5xx_is_logged_not_raised(fake, caplog):
    """Slack's edge answering 503 in plain text: post_message returns False and logs `http_503`."""
    caplog.set_level(logging.WARNING, logger="bot.slack")
    fake.fail_next("chat.postMessage", status=503)
    assert await post_message(_client(fake), CHANNEL, Message("hello")) is False
    [record] = [r for r in caplog.records if r.getMessage() == "slack.post_failed"]
    assert (record.channel, record.error) == (CHANNEL, "http_503")


async def test_fallback_refused_with_a_text_5xx_is_logged_not_raised(fake, caplog):
    """No response_url and chat.update answered 503 in plain text: respond_or_post returns False."""
    caplog.set_level(logging.WARNING, logger="bot.slack")
    fake.fail_next("chat.update", status=503)
    where = Where(channel=CHANNEL, user=ALICE, message_ts="1700000000.000100", ephemeral=False)
    assert await respond_or_post(None, _client(fake), Message("hello"), where, replace_original=True) is False
    [record] = [r for r in caplog.records if r.getMessage() == "slack.call_failed"]
    assert (record.method, record.error) == ("chat_update", "http_503")


async def test_method_error_keeps_slack_error_code(fake, caplog):
    """An `ok: false` answer logs Slack's own error code."""
    caplog.set_level(logging.WARNING, logger="bot.slack")
    fake.fail_next("chat.postMessage", error="channel_not_found")
    assert await post_message(_client(fake), CHANNEL, Message("hello")) is False
    [record] = [r for r in caplog.records if r.getMessage() == "slack.post_failed"]
    assert record.error == "channel_not_found"
