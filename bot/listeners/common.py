"""Small helpers every listener shares: the deps from Bolt's context, a button's value, delivering a `Message`.

Answers to commands and buttons go to Slack's `response_url`, which takes at most 5 posts within 30 minutes of
the interaction (every click brings a fresh one; our flows use at most 2). When it refuses (used up, expired,
Slack down) or there is none, `respond_or_post` falls back to the Web API so the user is never left silent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.limits import Message, section
from bot.deps import Deps
from bot.slack_errors import error_code

logger = logging.getLogger("bot.slack")

DEPS_KEY = "deps"


def deps_of(context: dict[str, Any]) -> Deps:
    deps = context.get(DEPS_KEY)
    if not isinstance(deps, Deps):
        raise RuntimeError("Deps missing from the Bolt context; build the app with bot.app.create_app")
    return deps


def button_value(body: dict[str, Any]) -> str:
    """The `value` of the clicked button of a block_actions payload ("" when there is none or it is not text)."""
    value = clicked_action(body).get("value", "")
    return value if isinstance(value, str) else ""


def clicked_action(body: dict[str, Any]) -> dict[str, Any]:
    """The clicked element of a block_actions payload ({} when the payload has none)."""
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions else None
    return first if isinstance(first, dict) else {}


def web_client(context: dict[str, Any], client: AsyncWebClient) -> AsyncWebClient:
    """The process's shared Web API client (observed by readiness), not Bolt's per-request `client`: Bolt builds
    that one afresh around the token, so calls made with it would go unseen by `/readyz`."""
    return deps_of(context).slack


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
    return await _logged_call(
        client,
        "chat_postMessage",
        "slack.post_failed",
        {"channel": channel},
        channel=channel,
        thread_ts=thread_ts,
        text=message.text,
        blocks=message.blocks,
    )


@dataclass(frozen=True)
class Where:
    """Where an answer belongs, for the Web API fallback when response_url cannot take it.

    Attributes:
        channel: the conversation of the command or of the clicked message.
        user: who asked or clicked (an ephemeral fallback is shown to them only).
        thread_ts: the thread the clicked message is in, if any.
        message_ts: the clicked message (what chat.update replaces), if any.
        ephemeral: whether the clicked message is ephemeral (those cannot be updated through the Web API).
    """

    channel: str
    user: str
    thread_ts: str | None = None
    message_ts: str | None = None
    ephemeral: bool = True


async def respond_or_post(
    respond: AsyncRespond | None, client: AsyncWebClient, message: Message, where: Where, **options: Any
) -> bool:
    """Send through response_url; if that fails, use the Web API instead. Returns success; never raises.

    Fallbacks: replacing a channel message -> chat.update; an `in_channel` answer -> chat.postMessage; anything
    else (ephemeral answers, replacing an ephemeral) -> a fresh chat.postEphemeral to the user.
    """
    if respond is not None and respond.response_url:
        if await respond_with(respond, message, **options):
            return True
    logger.info("slack.response_url_fallback", extra={"channel": where.channel, "has_url": respond is not None})
    if not where.channel:
        # A click in a view (App Home) has neither a conversation nor a response_url: tell the user in the
        # bot's DM (chat.postMessage to a user id opens it; chat:write covers it).
        return bool(where.user) and await post_message(client, where.user, message)
    if options.get("replace_original") and not where.ephemeral and where.message_ts:
        return await _web_call(
            client, "chat_update", channel=where.channel, ts=where.message_ts, text=message.text, blocks=message.blocks
        )
    if options.get("response_type") == "in_channel":
        return await post_message(client, where.channel, message, thread_ts=where.thread_ts)
    return await _web_call(
        client,
        "chat_postEphemeral",
        channel=where.channel,
        user=where.user,
        thread_ts=where.thread_ts,
        text=message.text,
        blocks=message.blocks,
    )


async def _web_call(client: AsyncWebClient, method: str, **kwargs: Any) -> bool:
    """One Web API call whose refusal is logged, never raised (e.g. chat.postEphemeral where the bot is not)."""
    return await _logged_call(client, method, "slack.call_failed", {"method": method}, **kwargs)


async def _logged_call(client: AsyncWebClient, method: str, event: str, fields: dict[str, Any], **kwargs: Any) -> bool:
    """Call `client.<method>(**kwargs)`; on any failure log `event` with `fields` and the error, and return False."""
    try:
        await getattr(client, method)(**kwargs)
    except SlackApiError as exc:
        logger.warning(event, extra={**fields, "error": error_code(exc)})
        return False
    except Exception as exc:
        logger.warning(event, extra={**fields, "error": type(exc).__name__})
        return False
    return True


#: The answer to a button whose value we cannot read: crafted, or from a message an older bot drew.
BAD_BUTTON_TEXT = (
    ":grey_question: I could not read that button. It may belong to an older message: "
    "run the command again (`/dis help` lists them)."
)


async def refuse_button(
    respond: AsyncRespond | None,
    client: AsyncWebClient,
    where: Where,
    body: dict[str, Any],
    *,
    reason: str = "unreadable",
    text: str = BAD_BUTTON_TEXT,
) -> None:
    """Answer a click we will not act on, politely and to the clicker only; log which button (never its value)."""
    action_id = clicked_action(body).get("action_id")
    logger.warning(
        "slack.button_refused",
        extra={"action": action_id if isinstance(action_id, str) else None, "user": where.user, "reason": reason},
    )
    message = Message(text.replace("`", ""), [section(text)])
    await respond_or_post(respond, client, message, where, response_type="ephemeral", replace_original=False)
