"""What the alert engine needs said, not how it looks.

The engine decides which message goes where; an `AlertRenderer` (Block Kit's: `bot.blocks.alerts.BLOCK_KIT_ALERTS`,
wired in `server.build_watcher`) turns that into Slack messages. Keeping Block Kit out of the engine keeps imports
one way: the watcher never imports the Slack layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from bot.message import Message
from bot.store.base import Alert, Episode, Snooze

#: Open snoozes of a channel by (stream, task), as the alert shows them.
SnoozeIndex = Mapping[tuple[str, str], Snooze]


class AlertRenderer(Protocol):
    """The watcher's messages: an alert's root message (posted, then edited in place) and its thread replies."""

    def alert(
        self,
        alert: Alert,
        episodes: Sequence[Episode],
        *,
        now: float,
        snoozes: SnoozeIndex | None = None,
        repeat_minutes: float = 0,
    ) -> Message: ...

    def recovery(self, episodes: Sequence[Episode]) -> Message: ...

    def reminder(self, alert: Alert, open_episodes: Sequence[Episode], *, now: float) -> Message: ...

    def mention(self, mentions: str, episodes: Sequence[Episode]) -> Message: ...

    def ack(self, user_id: str, now: float) -> Message: ...

    def snooze(self, user_id: str, episodes: Sequence[Episode], until: float, seconds: float) -> Message: ...
