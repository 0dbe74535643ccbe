"""What `/dis watching` shows: plain data built by the watch service and rendered by `bot.blocks.watches`."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.store.base import Snooze, StreamPoll, Subscription

#: The last poll of one stream: the engine's own (in memory, empty after a restart until the first cycle), or on a
#: standby the leader's as recorded in `stream_polls`. One type for both, so neither is copied field by field.
PollStatus = StreamPoll


@dataclass(frozen=True)
class WatchStatus:
    """One watch of a channel with what the watcher knows about it.

    Attributes:
        subscription: the watch.
        polls: the last poll of each stream it covers (one for a stream, all known streams for `*`).
        open_problems: problems being followed in this channel for this watch.
        snoozes: snoozes in force for this watch's streams in this channel.
        blind_since: when the stream (or the stream list, for `*`) stopped being readable, if it is not.
    """

    subscription: Subscription
    polls: list[PollStatus] = field(default_factory=list)
    open_problems: int = 0
    snoozes: list[Snooze] = field(default_factory=list)
    blind_since: float | None = None
