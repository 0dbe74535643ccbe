"""What every command receives, and the error a command raises when it was typed wrong."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Literal

from bot.blocks.limits import Message
from bot.deps import Deps
from bot.errors import BotError

Source = Literal["command", "mention", "dm", "action", "home"]


@dataclass(frozen=True)
class CommandContext:
    """Who asked, where, and how the answer should be read.

    Attributes:
        user_id: the Slack user who typed the command or clicked the button.
        channel_id: where it happened (watch subscriptions are per channel).
        team_id: the workspace.
        thread_ts: the thread a mention was answered in, if any.
        source: "command" (/dis), "mention" (@dis-bot), "dm", "action" (a button), "home".
        deps: the process's services.
        fresh: skip the cache (Refresh button); concurrent identical reads are still shared.
        offset: first item of the page to show (paging buttons).
    """

    user_id: str
    channel_id: str
    team_id: str | None
    thread_ts: str | None
    source: Source
    deps: Deps
    fresh: bool = False
    offset: int = 0

    @property
    def prefix(self) -> str:
        """How the user invokes the bot here, for help and hints: "/dis" or "@dis-bot"."""
        return "@dis-bot" if self.source in ("mention", "dm") else "/dis"

    def at_offset(self, offset: int) -> CommandContext:
        """The same context showing the page that starts at `offset` (a paging button's view)."""
        return replace(self, offset=max(0, offset))


Handler = Callable[[CommandContext, list[str]], Awaitable[Message]]


class UsageError(BotError):
    """The command was typed with the wrong arguments; `usage` says how to type it."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage
