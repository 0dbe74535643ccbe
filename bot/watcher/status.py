"""What `/dis watching` shows: plain data built by the watch service and rendered by `bot.blocks.watches`."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.store.base import Snooze, Subscription


@dataclass(frozen=True)
class PollStatus:
    """The last poll of one stream (kept in memory: after a restart it is empty until the first cycle).

    Attributes:
        at: when the poll finished (epoch seconds).
        ok: whether DIS answered.
        counts: tasks per state (when ok).
        error_kind: `DisError.kind` (when not ok): not_found, auth, unavailable, throttled, ...
        error: the error's message (safe to show).
        failures: failed polls in a row.
    """

    stream: str
    at: float
    ok: bool
    counts: dict[str, int] = field(default_factory=dict)
    error_kind: str | None = None
    error: str | None = None
    failures: int = 0


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
