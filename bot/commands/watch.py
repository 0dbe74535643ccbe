"""`/dis watch STREAM [mention @who]`, `/dis unwatch STREAM`, `/dis watching`.

Mentions arrive escaped by Slack (the command has "Escape channels, users, and links" on):
`<@U123|jane>` for a person, `<!subteam^S123|@oncall>` for a user group. A bare `@name` means Slack did
not escape it, and a name cannot be turned into an id without extra scopes, so it is refused with a hint.
The mention is stored as Slack markup with the name Slack's escape carried (`<@U123|jane>`,
`<!subteam^S123|@oncall>`: both page as usual in alerts), so answers can name whoever it mentions without
notifying them (`bot.blocks.limits.quiet_mentions`).
"""

from __future__ import annotations

import re

from bot.blocks.limits import Message
from bot.blocks.watches import unwatch_answer, watch_added, watch_not_found, watching_message
from bot.commands.base import CommandContext, UsageError
from bot.errors import NotFound
from bot.services.watches import WatchService

WATCH_USAGE = "watch STREAM [mention @group-or-person]"
UNWATCH_USAGE = "unwatch STREAM"

_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_GROUP = re.compile(r"<!subteam\^([A-Z0-9]+)(?:\|[^>]*)?>")
_SPECIAL = re.compile(r"<!(here|channel)(?:\|[^>]*)?>")
_RAW_ID = re.compile(r"[UWS][A-Z0-9]{5,}")
#: A name kept from Slack's escape: one word (mentions are stored space-separated), nothing Slack would parse.
_SAFE_LABEL = re.compile(r"@?[\w.'-]{1,80}")
_NOBODY = {"none", "nobody", "off", "-"}


def parse_mention(token: str) -> str:
    """One mention as Slack markup (`<@U123|jane>`, `<!subteam^S123|@oncall>`, `<!here>`, `<@U123>` for a raw id).

    Raises:
        UsageError: for anything that is not an escaped user, user group, @here/@channel or a raw id.
    """
    if m := _USER.fullmatch(token):
        return f"<@{m.group(1)}{_label(token)}>"
    if m := _GROUP.fullmatch(token):
        return f"<!subteam^{m.group(1)}{_label(token)}>"
    if m := _SPECIAL.fullmatch(token):
        return f"<!{m.group(1)}>"
    if token.lower() in ("@here", "@channel"):
        return f"<!{token[1:].lower()}>"
    if _RAW_ID.fullmatch(token):
        return f"<!subteam^{token}>" if token.startswith("S") else f"<@{token}>"
    raise UsageError(
        f"I could not read {token!r} as a person or user group. Pick it from Slack's autocomplete "
        "so it arrives as a real mention, or give its ID (U… for a person, S… for a user group).",
        WATCH_USAGE,
    )


def _label(token: str) -> str:
    """`|name` from an escaped mention when the name is safe to store and show, else ""."""
    _, bar, label = token[1:-1].partition("|")
    return f"|{label}" if bar and _SAFE_LABEL.fullmatch(label) else ""


def parse_watch_args(args: list[str]) -> tuple[str, str | None, bool]:
    """(stream, mention, set_mention) from the words after `watch`."""
    if not args:
        raise UsageError("Which stream should this channel watch?", WATCH_USAGE)
    stream, rest = args[0], args[1:]
    if not rest:
        return stream, None, False
    if rest[0].lower() != "mention":
        raise UsageError(f"I did not understand {' '.join(rest)!r}.", WATCH_USAGE)
    tokens = rest[1:]
    if not tokens:
        raise UsageError("Whom should alerts mention?", WATCH_USAGE)
    if len(tokens) == 1 and tokens[0].lower() in _NOBODY:
        return stream, None, True
    mentions: list[str] = []
    for token in tokens:
        mention = parse_mention(token)
        if mention not in mentions:
            mentions.append(mention)
    return stream, " ".join(mentions), True


def _service(ctx: CommandContext) -> WatchService:
    service = ctx.deps.watches
    if not isinstance(service, WatchService):
        raise UsageError("Watching is not running in this bot (its watcher is not started).", WATCH_USAGE)
    return service


async def watch(ctx: CommandContext, args: list[str]) -> Message:
    """Start watching a stream (or `*`) in this channel, or change who its alerts mention."""
    stream, mention, set_mention = parse_watch_args(args)
    service = _service(ctx)
    try:
        result = await service.watch(
            ctx.channel_id, stream, mention=mention, set_mention=set_mention, user_id=ctx.user_id
        )
    except NotFound as exc:
        if exc.task is not None:
            raise
        return watch_not_found(stream, ctx.deps.settings.dis_project_id)
    return watch_added(
        result.subscription,
        created=result.created,
        failing=result.already_failing,
        counts=result.tasks.counts() if result.tasks is not None else None,
        streams=result.streams,
        interval_seconds=service.interval_seconds,
    )


async def unwatch(ctx: CommandContext, args: list[str]) -> Message:
    """Stop watching a stream in this channel."""
    if len(args) != 1:
        raise UsageError("Which stream should this channel stop watching?", UNWATCH_USAGE)
    service = _service(ctx)
    stream = args[0]
    outcome = await service.unwatch(ctx.channel_id, stream)
    return unwatch_answer(stream, outcome.value, in_config=service.in_config(ctx.channel_id, stream))


async def watching(ctx: CommandContext, args: list[str]) -> Message:
    """What this channel watches, with each watch's last poll result and any delivery problem."""
    service = _service(ctx)
    return watching_message(await service.watching(ctx.channel_id), interval_seconds=service.interval_seconds)
