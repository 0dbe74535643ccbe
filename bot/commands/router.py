"""Text in, `Message` out: parse the words, run the command, map any failure to a message, count it.

The same router serves `/dis ...`, `@dis-bot ...`, DMs and buttons (which re-run a `View`).
"""

from __future__ import annotations

import difflib
import html
import logging
import re

from bot import metrics
from bot.blocks.help import help_message
from bot.blocks.limits import Message, drop_control
from bot.commands.base import CommandContext, Handler
from bot.commands.errors import OK, USER_ERROR, error_answer, outcome_of
from bot.commands.help import help_command
from bot.commands.status import status
from bot.commands.streams import streams
from bot.commands.task import task
from bot.commands.tasks import tasks
from bot.commands.watch import unwatch, watch, watching
from bot.dis.names import is_valid_name
from bot.ids import View

logger = logging.getLogger("bot.commands")


COMMANDS: dict[str, Handler] = {
    "status": status,
    "tasks": tasks,
    "task": task,
    "streams": streams,
    "help": help_command,
    "watch": watch,
    "unwatch": unwatch,
    "watching": watching,
}

_MENTION = re.compile(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>[\s:,]*")


def strip_mention(text: str) -> str:
    """Remove the leading `<@BOT>` (and a following ':' or ',') from a mention's text."""
    return _MENTION.sub("", text or "", count=1)


def parse(text: str) -> tuple[str, list[str]]:
    """Split what the user typed into a command word (lower case) and its arguments; empty text means help.

    Control characters are dropped first, as every answer drops them: what runs is what the echo shows."""
    words = drop_control(html.unescape(text or "")).replace("\u00a0", " ").split()
    if words and words[0].lower() == "/dis":
        words = words[1:]
    if not words:
        return "help", []
    return words[0].lower(), words[1:]


def suggest(word: str, args: list[str]) -> str | None:
    """The command the user most likely meant: a near spelling, or `tasks WORD` when WORD looks like a stream."""
    close = difflib.get_close_matches(word, list(COMMANDS), n=1, cutoff=0.6)
    if close:
        return " ".join([close[0], *args])
    if is_valid_name(word):
        if not args:
            return f"tasks {word}"
        if len(args) == 1 and is_valid_name(args[0]):
            return f"task {word} {args[0]}"
    return None


async def run_command(ctx: CommandContext, text: str) -> Message:
    """Answer what the user typed. Never raises: every failure becomes a message."""
    word, args = parse(text)
    return await run(ctx, word, args)


async def run_view(ctx: CommandContext, view: View) -> Message:
    """Re-run the command behind a button (Refresh, Share, paging)."""
    return await run(ctx.at_offset(view.offset), view.command, list(view.args))


async def run(ctx: CommandContext, word: str, args: list[str]) -> Message:
    """Run one command word with its arguments; unknown words get help with the closest command."""
    handler = COMMANDS.get(word)
    if handler is None:
        _count("unknown", USER_ERROR)
        logger.info("command.unknown", extra={"user": ctx.user_id, "source": ctx.source})
        return help_message(
            ctx.prefix,
            unknown=" ".join([word, *args])[:80],
            suggestion=suggest(word, args),
            actions_enabled=ctx.deps.settings.dis_actions_enabled,
        )
    logger.info("command.received", extra={"subcommand": word, "user": ctx.user_id, "source": ctx.source})
    try:
        message = await handler(ctx, args)
    except Exception as exc:
        _count(word, outcome_of(exc))
        return error_answer(exc, ctx, word)
    _count(word, OK)
    return message


def _count(subcommand: str, outcome: str) -> None:
    metrics.COMMANDS.labels(subcommand=subcommand, outcome=outcome).inc()
