"""`status`: every stream read with bounded concurrency; unhealthy tasks listed, the rest counted.

What on-call types first, so one slow or broken stream never spoils the answer: each stream's failure
becomes a line of its own.
"""

from __future__ import annotations

import asyncio
import time

from bot.blocks.limits import Message
from bot.blocks.status import StreamRead, status_overview
from bot.commands.base import CommandContext, UsageError
from bot.commands.errors import short_error
from bot.errors import AuthError, DisError

#: DIS calls in flight at once for one status answer (DIS throttles bursts: DIS.4305, APIG.0308).
CONCURRENCY = 10


async def read_all(ctx: CommandContext, streams: list[str], concurrency: int = CONCURRENCY) -> list[StreamRead]:
    """The tasks of every stream, at most `concurrency` reads at a time, failures kept per stream."""
    gate = asyncio.Semaphore(concurrency)

    async def one(stream: str) -> StreamRead:
        async with gate:
            try:
                return StreamRead(stream, tasks=await ctx.deps.tasks.tasks(stream, fresh=ctx.fresh))
            except DisError as exc:
                return StreamRead(stream, error=short_error(exc))

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
        as_of=min((r.tasks.fetched_at for r in reads if r.tasks is not None), default=started),
    )
