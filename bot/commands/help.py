"""`help` (and empty text): every command, with examples."""

from __future__ import annotations

from bot.blocks.help import help_message
from bot.blocks.limits import Message
from bot.commands.base import CommandContext


async def help_command(ctx: CommandContext, args: list[str]) -> Message:
    """The help message, worded for how the user invoked the bot."""
    return help_message(ctx.prefix, actions_enabled=ctx.deps.settings.dis_actions_enabled)
