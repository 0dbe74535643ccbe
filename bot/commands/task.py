"""`task STREAM TASK`: one dump task in detail, with Start/Stop for admins when actions are enabled."""

from __future__ import annotations

from bot.blocks.limits import Message
from bot.blocks.task_detail import task_detail
from bot.commands.base import CommandContext, UsageError
from bot.config import Settings
from bot.ids import View

USAGE = "task STREAM TASK"


def can_act(settings: Settings, user_id: str) -> bool:
    """Start/Stop is allowed only with DIS_ACTIONS_ENABLED=true and for users in DIS_ADMIN_USER_IDS."""
    return bool(settings.dis_actions_enabled and user_id in settings.dis_admin_user_ids)


async def task(ctx: CommandContext, args: list[str]) -> Message:
    """Show one task's state, destination and partitions."""
    if len(args) != 2:
        raise UsageError("Which stream and task?" if len(args) < 2 else "`task` takes a stream and a task name.", USAGE)
    stream, name = args
    detail = await ctx.deps.tasks.task(stream, name, fresh=ctx.fresh)
    return task_detail(
        detail,
        stream=stream,
        view=View("task", (stream, name)),
        can_act=can_act(ctx.deps.settings, ctx.user_id),
    )
