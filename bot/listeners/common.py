"""Small helpers every listener shares: the deps from Bolt's context, and delivering a `Message`."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.limits import Message
from bot.deps import Deps

logger = logging.getLogger("bot.slack")

DEPS_KEY = "deps"


def deps_of(context: dict[str, Any]) -> Deps:
    deps = context.get(DEPS_KEY)
    if not isinstance(deps, Deps):
        raise RuntimeError("Deps missing from the Bolt context; build the app with bot.app.create_app")
    return deps


def web_client(context: dict[str, Any], client: AsyncWebClient) -> AsyncWebClient:
    """The process's shared Web API client (observed by health checks), else Bolt's per-request one."""
    deps = context.get(DEPS_KEY)
    shared = getattr(deps, "slack", None)
    return shared if isinstance(shared, AsyncWebClient) else client


async def respond_with(respond: AsyncRespond, message: Message, **options: Any) -> bool:
    """Send `message` to the response_url; log (never raise) when Slack refuses it. Returns success."""
    try:
        resp = await respond(text=message.text, blocks=message.blocks, **options)
    except Exception as exc:  # a network failure must not become an unhandled-listener trace
        logger.warning("slack.respond_failed", extra={"error": type(exc).__name__})
        return False
    if resp.status_code != 200:
        logger.warning("slack.respond_refused", extra={"status": resp.status_code, "body": (resp.body or "")[:200]})
        return False
    return True


async def post_message(client: AsyncWebClient, channel: str, message: Message, *, thread_ts: str | None = None) -> bool:
    """chat.postMessage `message`; log (never raise) Slack's refusal. Returns success."""
    try:
        await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=message.text, blocks=message.blocks)
    except SlackApiError as exc:
        logger.warning("slack.post_failed", extra={"channel": channel, "error": exc.response.get("error")})
        return False
    except Exception as exc:
        logger.warning("slack.post_failed", extra={"channel": channel, "error": type(exc).__name__})
        return False
    return True
