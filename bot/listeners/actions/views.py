"""Buttons that show things: Refresh (fresh read), paging and "All tasks", Share in channel, Details.

Each button carries the `View` it shows; the click re-runs that command, so nothing stale is trusted.
Ephemeral answers keep their Share button; shared and in-thread messages never get one. A value that is not a
view we draw (`View.decode`) gets a polite answer to the clicker, never a crash or a command run.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.controls import add_share, append_blocks, without_share
from bot.blocks.limits import Message, quiet_user
from bot.blocks.limits import context as context_line
from bot.commands.base import CommandContext
from bot.commands.router import run_view
from bot.ids import TaskRef, View
from bot.listeners.common import (
    Where,
    button_value,
    deps_of,
    refuse_button,
    respond_or_post,
    respond_with,
    web_client,
)

logger = logging.getLogger("bot.slack")


def action_context(body: dict[str, Any], context: dict[str, Any], *, fresh: bool = False) -> CommandContext:
    """A command context for whoever clicked, where they clicked."""
    where = where_of(body)
    return CommandContext(
        user_id=where.user,
        channel_id=where.channel,
        team_id=(body.get("team") or {}).get("id"),
        thread_ts=where.thread_ts,
        source="action",
        deps=deps_of(context),
        fresh=fresh,
    )


def _part(body: dict[str, Any], key: str) -> dict[str, Any]:
    part = body.get(key)
    return part if isinstance(part, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def is_ephemeral(body: dict[str, Any]) -> bool:
    return _part(body, "container").get("is_ephemeral") is True


def where_of(body: dict[str, Any]) -> Where:
    """Where the clicked message is, for the Web API fallback when response_url cannot take the answer.

    `channel` is "" for a click in a view (App Home): a view belongs to no conversation.
    """
    container = _part(body, "container")
    return Where(
        channel=_text(_part(body, "channel").get("id")) or _text(container.get("channel_id")) or "",
        user=_text(_part(body, "user").get("id")) or "",
        thread_ts=_text(container.get("thread_ts")),
        message_ts=_text(container.get("message_ts")),
        ephemeral=is_ephemeral(body),
    )


async def replace_message(
    body: dict[str, Any], respond: AsyncRespond | None, client: AsyncWebClient, message: Message
) -> bool:
    """Replace the message the button was on: through response_url, else chat.update (or a fresh ephemeral)."""
    if is_ephemeral(body):
        message = add_share(message)
    return await respond_or_post(respond, client, message, where_of(body), replace_original=True)


async def _rerun(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, context: dict[str, Any], client: Any, fresh: bool
) -> None:
    await ack()
    try:
        view = View.decode(button_value(body))
    except ValueError:
        await refuse_button(respond, web_client(context, client), where_of(body), body)
        return
    message = await run_view(action_context(body, context, fresh=fresh), view)
    await replace_message(body, respond, web_client(context, client), message)


async def refresh(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, context: dict[str, Any], client: AsyncWebClient
) -> None:
    """Read DIS again (skipping the cache) and replace the message with the result."""
    await _rerun(ack, body, respond, context, client, fresh=True)


async def navigate(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, context: dict[str, Any], client: AsyncWebClient
) -> None:
    """Previous/Next page and "All tasks": show another view in place of this one (cached reads are fine)."""
    await _rerun(ack, body, respond, context, client, fresh=False)


async def share(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, context: dict[str, Any], client: AsyncWebClient
) -> None:
    """Post the ephemeral answer for everyone in the channel, then remove the ephemeral copy.

    Two posts to the click's response_url (Slack allows 5). Only response_url can delete an ephemeral message
    (chat.delete cannot), so if it refuses, the answer is posted with chat.postMessage and the copy stays.
    """
    await ack()
    try:
        view = View.decode(button_value(body))
    except ValueError:
        await refuse_button(respond, web_client(context, client), where_of(body), body)
        return
    ctx = action_context(body, context)
    message = without_share(await run_view(ctx, view))
    message = append_blocks(message, context_line(f"Shared by {quiet_user(ctx.user_id)}"))
    where = where_of(body)
    if await respond_or_post(
        respond, web_client(context, client), message, where, response_type="in_channel", replace_original=False
    ):
        logger.info("command.shared", extra={"user": ctx.user_id, "subcommand": view.command})
        await respond_with(respond, Message("Shared."), delete_original=True)


async def details(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, context: dict[str, Any], client: AsyncWebClient
) -> None:
    """A task's details, shown only to the person who clicked (Start/Stop depend on who that is)."""
    await ack()
    try:
        ref = TaskRef.decode(button_value(body))
    except ValueError:
        await refuse_button(respond, web_client(context, client), where_of(body), body)
        return
    ctx = action_context(body, context)
    message = await run_view(ctx, View("task", (ref.stream, ref.task)))
    options: dict[str, Any] = {"response_type": "ephemeral", "replace_original": False}
    if ctx.thread_ts:
        options["thread_ts"] = ctx.thread_ts
    await respond_or_post(respond, web_client(context, client), add_share(message), where_of(body), **options)
