"""Start/Stop a dump task from its details: guarded, confirmed, audited.

The guard is checked again on every click (a rendered button proves nothing: messages are shared and
forwarded, settings change). Slack shows the confirm dialog before the click reaches us. The result replaces
the buttons, and every attempt, allowed or not, leaves an `action.start` / `action.stop` audit line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import ids
from bot.blocks.errors import error_message
from bot.blocks.limits import Message, escape, plain_time, quiet_user, slack_date
from bot.blocks.task_detail import task_detail
from bot.commands.base import CommandContext
from bot.commands.errors import error_answer, short_error
from bot.commands.task import can_act
from bot.errors import DisError
from bot.ids import TaskRef, View
from bot.listeners.actions.views import action_context, where_of
from bot.listeners.common import button_value, refuse_button, respond_or_post, web_client

audit = logging.getLogger("bot.audit")
logger = logging.getLogger("bot.slack")


def refusal(ctx: CommandContext) -> str | None:
    """Why this user may not start/stop tasks, or None when they may."""
    settings = ctx.deps.settings
    if not settings.dis_actions_enabled:
        return "Starting and stopping tasks from Slack is turned off for this bot."
    if not can_act(settings, ctx.user_id):
        return "Sorry, only the bot's admins can start or stop dump tasks. Please ask one of them."
    return None


async def start_task(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, context: dict[str, Any], client: AsyncWebClient
) -> None:
    """Start button (behind a confirm dialog)."""
    await _act("start", ack, body, respond, context, client)


async def stop_task(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, context: dict[str, Any], client: AsyncWebClient
) -> None:
    """Stop button (behind a confirm dialog)."""
    await _act("stop", ack, body, respond, context, client)


async def _act(
    verb: str,
    ack: AsyncAck,
    body: dict[str, Any],
    respond: AsyncRespond,
    context: dict[str, Any],
    client: AsyncWebClient,
) -> None:
    await ack()
    ctx = action_context(body, context)
    web, where = web_client(context, client), where_of(body)

    async def reply(message: Message, **options: Any) -> None:
        await respond_or_post(respond, web, message, where, **options)

    event = f"action.{verb}"
    try:
        ref = TaskRef.decode(button_value(body))
    except ValueError:
        audit.warning(event, extra={"user": ctx.user_id, "outcome": "bad_request"})
        await refuse_button(respond, web, where, body)
        return
    fields = {"user": ctx.user_id, "channel": ctx.channel_id, "stream": ref.stream, "task": ref.task}

    reason = refusal(ctx)
    if reason is not None:
        audit.warning(event, extra={**fields, "outcome": "refused"})
        await reply(error_message(reason, emoji=":no_entry:"), response_type="ephemeral", replace_original=False)
        return

    tasks = ctx.deps.tasks
    try:
        # Read the task again: its ID (needed by DIS) and its state now, not when the button was drawn.
        before = await tasks.task(ref.stream, ref.task, fresh=True)
        task_id = before.task_id or ref.task_id
        if not task_id:
            raise DisError(f"DIS did not give the ID of task {ref.task}, which {verb} needs.")
        fields["task_id"] = task_id
        method = ctx.deps.dis.start_transfer_tasks if verb == "start" else ctx.deps.dis.stop_transfer_tasks
        await method(ref.stream, [task_id])
    except Exception as exc:
        kind = exc.kind if isinstance(exc, DisError) else "internal"
        audit.warning(event, extra={**fields, "outcome": f"error:{kind}"})
        answer = error_answer(exc, ctx, f"task.{verb}")
        if isinstance(exc, DisError):
            text = f":x: *{verb.capitalize()} failed*: {escape(short_error(exc))}. Nothing was changed by the bot."
            await _show_result(ctx, ref, reply, text, fallback=answer.text)
        else:
            await reply(answer, response_type="ephemeral", replace_original=False)
        return

    audit.info(event, extra={**fields, "outcome": "ok"})
    now_ms = int(time.time() * 1000)
    done = "Start" if verb == "start" else "Stop"
    text = (
        f":white_check_mark: *{done} requested* by {quiet_user(ctx.user_id)} at {slack_date(now_ms, '{time_secs}')}: "
        f"DIS accepted it. The state below is what DIS reports now."
    )
    await _show_result(ctx, ref, reply, text, fallback=f"{done} requested at {plain_time(now_ms)}; DIS accepted it.")


async def _show_result(
    ctx: CommandContext, ref: TaskRef, reply: Callable[..., Awaitable[None]], text: str, *, fallback: str
) -> None:
    """Replace the details message with the task as it is now and the result where the buttons were."""
    try:
        detail = await ctx.deps.tasks.task(ref.stream, ref.task, fresh=True)
    except DisError:
        message = error_message(text.replace("*", ""), fallback)
        await reply(message, replace_original=True)
        return
    message = task_detail(detail, stream=ref.stream, view=View("task", (ref.stream, ref.task)), result=text)
    await reply(message, replace_original=True)
    logger.debug("action.result_shown", extra={"block": ids.ACTION_RESULT})
