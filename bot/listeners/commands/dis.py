"""`/dis ...`: ack at once with nothing, then answer ephemerally through response_url with a Share button.

The ack never waits on DIS: Slack gives up after 3 s ("operation_timeout") while a slow DIS may take 10 s.
If the response_url refuses the answer, it comes as an ephemeral message through the Web API instead.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.controls import add_share
from bot.commands.base import CommandContext
from bot.commands.router import run_command
from bot.listeners.common import Where, deps_of, respond_or_post, web_client


async def dis_command(
    ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, context: dict[str, Any], client: AsyncWebClient
) -> None:
    await ack()
    ctx = CommandContext(
        user_id=command.get("user_id", ""),
        channel_id=command.get("channel_id", ""),
        team_id=command.get("team_id"),
        thread_ts=None,
        source="command",
        deps=deps_of(context),
    )
    message = await run_command(ctx, command.get("text", ""))
    where = Where(channel=ctx.channel_id, user=ctx.user_id)
    await respond_or_post(respond, web_client(context, client), add_share(message), where, response_type="ephemeral")
