"""`status`: every stream read with bounded concurrency; unhealthy tasks listed, the rest counted.

What on-call types first, so one slow or broken stream never spoils the answer: each stream's failure
becomes a line of its own. Stalled tasks and tasks with failed partitions count as unhealthy too; finding them
costs deep reads only for RUNNING tasks whose last transfer is older than `WATCH_STALL_MINUTES` (one stream
description per such stream, one detail per such task), under the same concurrency bound as the list reads.
"""

from __future__ import annotations

import asyncio
import time

from bot.blocks.limits import Message
from bot.blocks.status import StreamRead, status_overview
from bot.commands.base import CommandContext, UsageError
from bot.commands.errors import short_error
from bot.errors import AuthError, DisError
from bot.services.lag import stall_seconds, stream_lags

#: DIS calls in flight at once for one status answer (DIS throttles bursts: DIS.4305, APIG.0308).
CONCURRENCY = 10


async def read_all(ctx: CommandContext, streams: list[str], concurrency: int = CONCURRENCY) -> list[StreamRead]:
    """The tasks of every stream and the lag of those that may be stalled, at most `concurrency` reads at a time
    (list and deep reads share the bound), failures kept per stream."""
    gate = asyncio.Semaphore(concurrency)
    stall_after = stall_seconds(ctx.deps.settings.watch_stall_minutes)

    async def one(stream: str) -> StreamRead:
        async with gate:
            try:
                tasks = await ctx.deps.tasks.tasks(stream, fresh=ctx.fresh)
            except DisError as exc:
                return StreamRead(stream, error=short_error(exc))
        # The gate is released first: the deep reads take it again, one read at a time.
        lags = await stream_lags(ctx.deps.tasks, tasks, stall_after=stall_after, fresh=ctx.fresh, gate=gate)
        return StreamRead(stream, tasks=tasks, lags=lags)

    return list(await asyncio.gather(*(one(s) for s in streams)))


async def status(ctx: CommandContext, args: list[str]) -> Message:
    """The whole project at a glance."""
    if args:
        raise UsageError("`status` takes no arguments.", "status")
    started = time.time()
    streams = await ctx.deps.tasks.streams(fresh=ctx.fresh)
    reads = await read_all(ctx, [s.stream_name for s in streams])
    if reads and all(r.error == short_error(AuthError("")) for r in reads):
        # Every read refused: the credentials are the problem, not the streams; say it once.
        raise AuthError("every stream read was refused")
    settings = ctx.deps.settings
    return status_overview(
        reads,
        project=ctx.deps.tasks.project_id,
        region=settings.dis_region,
        prefix=ctx.prefix,
        stall_after=stall_seconds(settings.watch_stall_minutes),
        as_of=min((r.tasks.fetched_at for r in reads if r.tasks is not None), default=started),
    )
