"""`streams`: the project's streams."""

from __future__ import annotations

from bot.blocks.limits import Message
from bot.blocks.streams import stream_list
from bot.commands.base import CommandContext, UsageError
from bot.ids import View


async def streams(ctx: CommandContext, args: list[str]) -> Message:
    """List every stream of the project, paged by `ctx.offset`."""
    if args:
        raise UsageError("`streams` takes no arguments.", "streams")
    found = await ctx.deps.tasks.streams(fresh=ctx.fresh)
    return stream_list(
        found, project=ctx.deps.tasks.project_id, view=View("streams", (), ctx.offset), prefix=ctx.prefix
    )
