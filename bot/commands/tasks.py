"""`tasks STREAM`: a stream's dump tasks, the ones failing silently marked (deep reads: `bot.services.lag`)."""

from __future__ import annotations

from bot.blocks.limits import Message
from bot.blocks.tasks import task_list
from bot.commands.base import CommandContext, UsageError
from bot.ids import View
from bot.services.lag import stall_seconds, stream_lags

USAGE = "tasks STREAM"


async def tasks(ctx: CommandContext, args: list[str]) -> Message:
    """List the dump tasks of one stream, problems first, paged by `ctx.offset`."""
    if len(args) != 1:
        raise UsageError("Which stream?" if not args else "`tasks` takes one stream name.", USAGE)
    stream = args[0]
    result = await ctx.deps.tasks.tasks(stream, fresh=ctx.fresh)
    stall_after = stall_seconds(ctx.deps.settings.watch_stall_minutes)
    lags = await stream_lags(ctx.deps.tasks, result, stall_after=stall_after, fresh=ctx.fresh)
    return task_list(
        result, view=View("tasks", (stream,), ctx.offset), prefix=ctx.prefix, lags=lags, stall_after=stall_after
    )
