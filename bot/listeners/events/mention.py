"""`@dis-bot ...` in a channel or thread, and plain words in a DM: answered in the thread, for everyone there.

Bolt acks events before the listener runs, so a slow DIS never makes Slack retry; a retry that comes anyway
(same `event_id`) is dropped by the de-duplication middleware in `bot.app`.
"""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.commands.base import CommandContext, Source
from bot.commands.router import run_command, strip_mention
from bot.listeners.common import deps_of, post_message, web_client


def command_text(text: str, bot_user_id: str | None) -> str:
    """The command words of a mention: what follows the bot's mention (or precedes it, if nothing follows)."""
    if bot_user_id:
        mention = re.compile(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>")
        found = mention.search(text)
        if found:
            after = mention.sub(" ", text[found.end() :]).strip(" \t\n:,")
            return after if after else mention.sub(" ", text[: found.start()]).strip()
    return strip_mention(text)


async def _answer(event: dict[str, Any], context: dict[str, Any], client: AsyncWebClient, source: Source) -> None:
    channel = event.get("channel", "")
    thread_ts = event.get("thread_ts") or (event.get("ts") if source == "mention" else None)
    ctx = CommandContext(
        user_id=event.get("user", ""),
        channel_id=channel,
        team_id=event.get("team") or context.get("team_id"),
        thread_ts=thread_ts,
        source=source,
        deps=deps_of(context),
    )
    message = await run_command(ctx, command_text(event.get("text", ""), context.get("bot_user_id")))
    await post_message(web_client(context, client), channel, message, thread_ts=thread_ts)


async def app_mention(event: dict[str, Any], context: dict[str, Any], client: AsyncWebClient) -> None:
    """Answer a mention in its thread (a new thread under the mention when it was not in one)."""
    await _answer(event, context, client, "mention")


async def direct_message(event: dict[str, Any], context: dict[str, Any], client: AsyncWebClient) -> None:
    """Answer a message sent to the bot in a DM; other message events (edits, bots, channels) are ignored."""
    if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
        return
    await _answer(event, context, client, "dm")
