"""`task STREAM TASK`: one dump task in detail, with Start/Stop for admins when actions are enabled.

Besides the task's details it reads its stream's description (one more DIS call, cached and shared like every
read) for each partition's backlog and the stream's retention; if only that read fails, the details still answer.
"""

from __future__ import annotations

import asyncio
import time

from bot.blocks.limits import Message
from bot.blocks.task_detail import task_detail
from bot.commands.base import CommandContext, UsageError
from bot.config import Settings
from bot.dis.lag import task_lag
from bot.ids import View
from bot.services.lag import stall_seconds, stream_or_none

USAGE = "task STREAM TASK"


def can_act(settings: Settings, user_id: str) -> bool:
    """Start/Stop is allowed only with DIS_ACTIONS_ENABLED=true and for users in DIS_ADMIN_USER_IDS."""
    return bool(settings.dis_actions_enabled and user_id in settings.dis_admin_user_ids)


async def task(ctx: CommandContext, args: list[str]) -> Message:
    """Show one task's state, destination and partitions, each partition's backlog against its stream."""
    if len(args) != 2:
        raise UsageError("Which stream and task?" if len(args) < 2 else "`task` takes a stream and a task name.", USAGE)
    stream, name = args
    detail, described = await asyncio.gather(
        ctx.deps.tasks.task(stream, name, fresh=ctx.fresh),
        stream_or_none(ctx.deps.tasks, stream, fresh=ctx.fresh),
    )
    return task_detail(
        detail,
        stream=stream,
        view=View("task", (stream, name)),
        can_act=can_act(ctx.deps.settings, ctx.user_id),
        lag=task_lag(detail, described, read_at=time.time()),
        stall_after=stall_seconds(ctx.deps.settings.watch_stall_minutes),
    )
