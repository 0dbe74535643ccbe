"""The one place where failures become what the user reads (and what the log says).

A user sees what happened and what to do; the log gets the error kind, DIS's code and request id, and the
bot's request id, never a secret. Unexpected exceptions are logged with their traceback and shown as a short
apology carrying the request id, so an admin can find the log line.
"""

from __future__ import annotations

import logging

from bot.blocks.errors import error_message, store_refused_message, usage_message
from bot.blocks.limits import Message, escape
from bot.commands.base import CommandContext, UsageError
from bot.errors import (
    AuthError,
    DisError,
    Garbled,
    InvalidName,
    NotFound,
    RequestRejected,
    StoreUnavailable,
    Throttled,
    Unavailable,
)
from bot.logs import request_id_var

logger = logging.getLogger("bot.commands")

#: Outcomes for the COMMANDS metric.
OK, USER_ERROR, DIS_ERROR, INTERNAL_ERROR = "ok", "user_error", "dis_error", "internal_error"


def _tries(exc: DisError) -> str:
    return f"tried {exc.attempts} time{'s' if exc.attempts != 1 else ''}"


def outcome_of(exc: BaseException) -> str:
    if isinstance(exc, UsageError | InvalidName | NotFound):
        return USER_ERROR
    if isinstance(exc, DisError):
        return DIS_ERROR
    return INTERNAL_ERROR


def short_error(exc: BaseException) -> str:
    """A few words for one failed item inside a larger answer (a stream in `status`)."""
    if isinstance(exc, NotFound):
        return "no longer exists"
    if isinstance(exc, Throttled):
        return f"DIS is throttling us ({_tries(exc)})"
    if isinstance(exc, Garbled):
        return f"DIS's answer could not be read ({_tries(exc)})"
    if isinstance(exc, Unavailable):
        return f"DIS did not answer ({_tries(exc)})"
    if isinstance(exc, AuthError):
        return "DIS refused the bot's credentials"
    if isinstance(exc, DisError):
        return exc.message[:200]
    return "unexpected error"


def error_answer(exc: BaseException, ctx: CommandContext, subcommand: str) -> Message:
    """Map any exception raised by a command to the message the user sees, logging it on the way."""
    settings = ctx.deps.settings
    project = settings.dis_project_id or "?"
    where = f"project `{escape(project)}`" + (f" ({escape(settings.dis_region)})" if settings.dis_region else "")
    kind = exc.kind if isinstance(exc, DisError) else "internal"
    log_fields: dict[str, object] = {"subcommand": subcommand, "user": ctx.user_id, "error_kind": kind}
    if isinstance(exc, DisError):
        log_fields.update({"dis_code": exc.code, "dis_status": exc.status, "dis_request_id": exc.request_id})

    if isinstance(exc, UsageError):
        return usage_message(exc.message, exc.usage, ctx.prefix)
    if isinstance(exc, InvalidName):
        return error_message("That name is not valid.", escape(exc.message))
    if isinstance(exc, NotFound):
        if exc.task:
            title = f"No dump task `{escape(exc.task)}` on stream `{escape(exc.stream)}`"
            hint = f"`{ctx.prefix} tasks {escape(exc.stream)}` lists the stream's tasks."
        else:
            title = f"Stream `{escape(exc.stream)}` was not found"
            hint = f"`{ctx.prefix} streams` lists the streams of the project."
        return error_message(title, f"Looked in {where}.", hint=hint, emoji=":mag:")
    if isinstance(exc, AuthError):
        logger.warning("command.dis_auth_failed", extra={**log_fields, "detail": exc.message})
        return error_message(
            "The bot's DIS credentials are not working.",
            "Please contact the bot's admin; the details are in the bot's log.",
            emoji=":lock:",
        )
    if isinstance(exc, Throttled):
        logger.warning("command.dis_throttled", extra=log_fields)
        return error_message(
            "DIS is throttling us.",
            f"It asked us to slow down and we {_tries(exc)}. Please try again in a minute.",
            emoji=":hourglass:",
        )
    if isinstance(exc, Garbled):
        # Not "no tasks": an answer we cannot read says nothing about the stream.
        logger.warning("command.dis_unavailable", extra={**log_fields, "detail": exc.message})
        return error_message(
            "DIS answered, but not with anything the bot can read.",
            f"We {_tries(exc)} and got no usable task or stream list, so we cannot say what is there. "
            "Please try again in a minute; if it goes on, the bot's admin can find DIS's request id in the log.",
            emoji=":jigsaw:",
        )
    if isinstance(exc, Unavailable):
        logger.warning("command.dis_unavailable", extra={**log_fields, "detail": exc.message})
        return error_message(
            "DIS is not answering.",
            f"We {_tries(exc)} without a usable answer. Please try again in a minute.",
            emoji=":electric_plug:",
        )
    if isinstance(exc, RequestRejected | DisError):
        logger.warning("command.dis_rejected", extra={**log_fields, "detail": exc.message})
        return error_message("DIS refused the request.", escape(exc.message))
    if isinstance(exc, StoreUnavailable):
        logger.info("command.store_refused", extra={**log_fields, "detail": exc.message})  # the store warns
        return store_refused_message()
    rid = request_id_var.get()
    logger.error("command.crashed", extra=log_fields, exc_info=exc)
    ref = f" (reference `{rid}`)" if rid else ""
    return error_message(
        "Something went wrong on our side.",
        f"The bot's admin can find the details in the log{ref}.",
        emoji=":boom:",
    )
