"""The watcher's durable state behind one small interface, so SQLite can be swapped for another engine.

What lives here (and nowhere else), so that a restart neither re-alerts nor forgets:

- subscriptions: which channel watches which stream (`*` = every stream), who to mention, where they came
  from (`/dis watch` or `DIS_WATCH`), and the last Slack delivery error for the channel;
- task states: the last state seen for each watched task (to say "RUNNING → ERROR" and to publish gauges);
- episodes: one row per problem of one task (or one unreadable stream) in one channel, open until it ends;
  at most one open episode per (channel, stream, task, kind) — the store enforces it, which is what makes
  "never alert twice for the same problem" hold even if the same poll is applied twice;
- alerts: the Slack message that announces one or more episodes (its `ts`, who acknowledged it, reminders);
- snoozes: (channel, stream, task) silenced until a time;
- the outbox: every Slack call not yet delivered, each with a unique idempotency key;
- stream health: consecutive failed polls per stream, for the "I cannot read this stream" warning.

Writes inside `async with store.transaction():` commit together; each method is its own transaction otherwise.
A database that cannot serve a call (locked, disk full, read-only, an I/O error, a connection refused or
lost) raises `bot.errors.StoreUnavailable`, rolls the transaction back and is reported to `store.faults`.

The records below are built from rows by column name (`from_row`): their fields are the columns of the tables
in `bot.store.tables`, so a column is written in a table and its record, and no mapper repeats it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from bot.store.faults import StoreFaults

#: The stream name of a subscription that watches every stream of the project.
ALL_STREAMS = "*"

#: Subscription sources.
SOURCE_COMMAND = "command"
SOURCE_CONFIG = "config"

#: Episode and alert kinds: a task in ERROR/ABNORMAL, or a stream the bot cannot read.
KIND_TASK = "task"
KIND_BLIND = "blind"

#: Problems of a task (an episode's `problem`): its state (ERROR/ABNORMAL, and the blind episodes of a stream),
#: or one DIS does not report: RUNNING but moving nothing while records wait, failed partitions, discarded records.
PROBLEM_STATE = "state"
PROBLEM_STALLED = "stalled"
PROBLEM_PARTITIONS = "partitions"
PROBLEM_DISCARDING = "discarding"
SILENT_PROBLEMS: tuple[str, ...] = (PROBLEM_STALLED, PROBLEM_PARTITIONS, PROBLEM_DISCARDING)

#: Outbox kinds. `post`/`update` render the alert when they are sent; `reply`/`message`/`mention` carry their
#: payload. A `mention` is a thread reply paging people an alert gained after it was posted (an edit notifies
#: nobody); it is skipped when the post itself was rendered after it was queued, and so named them already.
OUT_POST = "post"
OUT_UPDATE = "update"
OUT_REPLY = "reply"
OUT_MESSAGE = "message"
OUT_MENTION = "mention"

#: Outbox row states.
PENDING = "pending"
SENDING = "sending"
DONE = "done"
PARKED = "parked"  # a permanent channel error (not_in_channel, ...): retried slowly until the bot is invited
DEAD = "dead"  # will never be delivered (message deleted, bad request); logged and counted


@dataclass(frozen=True)
class Subscription:
    """A channel watching a stream (or `*`)."""

    channel_id: str
    stream: str
    mention: str | None = None
    source: str = SOURCE_COMMAND
    created_by: str | None = None
    created_at: float = 0.0
    #: True until the first poll after the watch was created took its baseline ("already failing" report).
    baseline_pending: bool = True
    delivery_error: str | None = None
    delivery_error_at: float | None = None

    @property
    def is_wildcard(self) -> bool:
        return self.stream == ALL_STREAMS


@dataclass(frozen=True)
class KnownTask:
    """The last state the watcher saw for one task of a watched stream."""

    stream: str
    task_name: str
    state: str
    task_id: str | None = None
    #: When the task was first seen in this state (epoch seconds).
    since: float = 0.0
    last_transfer_ms: int | None = None
    #: The discard count of the last deep read (None: no deep read yet), and when it was read.
    discarded: int | None = None
    discarded_at: float | None = None


@dataclass(frozen=True)
class Episode:
    """One problem of one task (or one unreadable stream, `task_name == ""`) as seen by one channel."""

    id: int
    channel_id: str
    stream: str
    task_name: str
    kind: str = KIND_TASK
    task_id: str | None = None
    #: The state now (ERROR, ABNORMAL, or STARTING while it is being restarted).
    state: str = ""
    #: The bad state that opened the episode.
    problem_state: str = ""
    #: The state before the problem (None when unknown: first seen already bad).
    previous_state: str | None = None
    #: True when the task was already bad when the watch began (reported once "already failing").
    baseline: bool = False
    started_at: float = 0.0
    ended_at: float | None = None
    #: RUNNING, PAUSED, DELETED, UNWATCHED (task episodes) or READABLE (blind episodes).
    end_state: str | None = None
    #: Why: the DIS error of a blind episode, or a short note.
    reason: str | None = None
    last_transfer_ms: int | None = None
    alert_id: int | None = None
    #: Whether the thread already got the "recovered" reply for this episode.
    recovery_noted: bool = False
    #: `PROBLEM_STATE`, or a silent problem (`PROBLEM_STALLED`, `PROBLEM_PARTITIONS`, `PROBLEM_DISCARDING`).
    problem: str = PROBLEM_STATE
    #: A silent problem's numbers as of its last change (`bot.watcher.silent` writes them, the renderer reads them).
    detail: dict[str, Any] | None = None

    @property
    def is_open(self) -> bool:
        return self.ended_at is None

    @property
    def is_silent(self) -> bool:
        return self.problem != PROBLEM_STATE


@dataclass(frozen=True)
class Alert:
    """A Slack message announcing one or more episodes of one channel."""

    id: int
    channel_id: str
    kind: str = KIND_TASK
    ts: str | None = None
    created_at: float = 0.0
    posted_at: float | None = None
    #: The newest outbox row id when the posted message was rendered: updates up to it are already shown.
    posted_seq: int = 0
    mention: str | None = None
    acked_by: str | None = None
    acked_at: float | None = None
    last_reminder_at: float | None = None
    reminders: int = 0
    resolved_at: float | None = None


@dataclass(frozen=True)
class Snooze:
    channel_id: str
    stream: str
    task_name: str
    until: float
    by: str | None = None


@dataclass(frozen=True)
class OutboxItem:
    """One Slack call waiting to be made (or made)."""

    id: int
    key: str
    channel_id: str
    kind: str
    alert_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    state: str = PENDING
    attempts: int = 0
    not_before: float = 0.0
    created_at: float = 0.0
    delivered_at: float | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class StreamHealth:
    """Consecutive failed polls of one stream; `warned` once the warning went out."""

    stream: str
    failures: int = 0
    first_failure_at: float | None = None
    error_kind: str | None = None
    error: str | None = None
    warned: bool = False


@dataclass(frozen=True)
class StreamPoll:
    """The last poll of one stream: the watcher's own, and as the leader recorded it (`stream_polls`) for standbys.

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


class Store(Protocol):
    """Everything the watcher keeps across restarts (`bot.store.sql.SqlStore` on SQLite and PostgreSQL).

    Every call is a coroutine that leaves the event loop free while the database works (aiosqlite's thread,
    asyncpg's socket), so a Slack ack never waits behind a write.
    """

    #: Whether writes work now (`/readyz` and the "store failing" warnings read it).
    faults: StoreFaults

    # --- lifecycle ---
    async def close(self) -> None: ...
    def transaction(self) -> AbstractAsyncContextManager[None]: ...
    async def open(self) -> None:
        """Create or migrate the schema (under a lock: replicas may start together); idempotent."""
        ...

    def fence(self, term: int | None) -> None:
        """From now on the leader's writes check `leadership.term` (`FencedOut` if it moved on); None: no check."""
        ...

    async def check_writable(self) -> None:
        """Commit a write that changes nothing; raises `StoreUnavailable` if the database takes no writes now."""
        ...

    # --- subscriptions ---
    async def upsert_subscription(
        self,
        channel_id: str,
        stream: str,
        *,
        now: float,
        mention: str | None = None,
        set_mention: bool = False,
        source: str = SOURCE_COMMAND,
        created_by: str | None = None,
    ) -> tuple[Subscription, bool]:
        """Add a watch (returns it and True) or update an existing one (False).

        A `command` source overrides `config` (a person asked for it, so it outlives the configuration);
        the mention changes only when `set_mention` is true.
        """
        ...

    async def remove_subscription(self, channel_id: str, stream: str) -> bool: ...
    async def subscriptions(
        self, *, channel_id: str | None = None, stream: str | None = None
    ) -> list[Subscription]: ...
    async def set_baseline_done(self, channel_id: str, stream: str) -> None: ...
    async def set_delivery_error(self, channel_id: str, error: str | None, now: float) -> None: ...

    # --- task states ---
    async def task_states(self) -> dict[str, dict[str, KnownTask]]: ...
    async def save_task_states(self, stream: str, upsert: Iterable[KnownTask], delete: Iterable[str] = ()) -> None: ...
    async def forget_stream(self, stream: str) -> None:
        """Drop task states and health of a stream nobody watches any more."""
        ...

    async def set_discards(self, stream: str, counts: Mapping[str, tuple[int, float]]) -> None:
        """Record each task's discard count and when it was read (task name -> (count, at)); fenced."""
        ...

    # --- episodes ---
    async def open_episode(
        self,
        *,
        channel_id: str,
        stream: str,
        task_name: str,
        kind: str,
        state: str,
        started_at: float,
        task_id: str | None = None,
        previous_state: str | None = None,
        baseline: bool = False,
        reason: str | None = None,
        last_transfer_ms: int | None = None,
        problem: str = PROBLEM_STATE,
        detail: dict[str, Any] | None = None,
    ) -> tuple[Episode, bool]:
        """Open an episode, or return the one already open for the same key (and False)."""
        ...

    async def open_episodes(
        self,
        *,
        channel_id: str | None = None,
        stream: str | None = None,
        kind: str | None = None,
        problem: str | None = None,
    ) -> list[Episode]: ...
    async def unalerted_episodes(self) -> list[Episode]:
        """Open episodes not yet announced (snoozed ones included; the caller filters)."""
        ...

    async def unnoted_recoveries(self) -> list[Episode]:
        """Closed episodes whose alert thread has not had its "recovered" reply yet."""
        ...

    async def episodes_for_alert(self, alert_id: int) -> list[Episode]: ...
    async def update_episode(
        self, episode_id: int, *, state: str | None = None, detail: dict[str, Any] | None = None
    ) -> None:
        """Change an open episode's state and/or detail (fenced)."""
        ...

    async def close_episode(
        self,
        episode_id: int,
        *,
        ended_at: float,
        end_state: str,
        note: bool = True,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """End an episode; with `note=False` its thread gets no "recovered" reply (unwatched, never posted).
        `detail` replaces the episode's (a silent problem's numbers when it ended)."""
        ...

    async def mark_recoveries_noted(self, episode_ids: Sequence[int]) -> None: ...
    async def attach_episodes(self, episode_ids: Sequence[int], alert_id: int) -> None: ...

    # --- alerts ---
    async def create_alert(self, channel_id: str, kind: str, *, now: float, mention: str | None = None) -> Alert: ...
    async def alert(self, alert_id: int) -> Alert | None: ...
    async def open_alerts(self, kind: str | None = None) -> list[Alert]: ...
    async def set_alert_posted(self, alert_id: int, ts: str, now: float, seq: int = 0) -> None:
        """Record the posted message's ts; `seq` is `outbox_seq()` when it was rendered."""
        ...

    async def set_alert_mention(self, alert_id: int, mention: str | None) -> None:
        """Who the alert mentions (it grows when problems of other watches join it)."""
        ...

    async def ack_alert(self, alert_id: int, user_id: str, now: float) -> bool:
        """Record who acknowledged; False if it already was (the first one wins)."""
        ...

    async def mark_reminded(self, alert_id: int, now: float) -> int:
        """Count a reminder; returns the reminder number."""
        ...

    async def resolve_alert(self, alert_id: int, now: float) -> None: ...

    # --- snoozes ---
    async def snooze(self, channel_id: str, stream: str, task_name: str, *, until: float, by: str | None) -> None: ...
    async def snoozes(self, *, now: float, channel_id: str | None = None) -> list[Snooze]:
        """Snoozes still in force at `now`."""
        ...

    # --- outbox ---
    async def enqueue(
        self,
        key: str,
        channel_id: str,
        kind: str,
        *,
        now: float,
        alert_id: int | None = None,
        payload: dict[str, Any] | None = None,
    ) -> OutboxItem | None:
        """Queue a Slack call; None if `key` was queued before (idempotency: each key is delivered once)."""
        ...

    async def pending_update(self, alert_id: int) -> bool:
        """Whether an update of the alert is waiting, not yet rendered (a second one would render the same).

        One being sent does not count: it was rendered before the change that asks for another.
        """
        ...

    async def outbox_heads(self) -> list[OutboxItem]:
        """The row each channel sends next: new alerts first, an alert's own rows in their order.

        A new alert's post goes before the edits, thread replies and reminders of other alerts (posts among
        themselves, and the other rows among themselves, in queue order), so a storm of edits cannot delay
        news. A row waits while an older row of its own alert is unfinished, parked included: an alert's
        edits and replies never overtake its post or each other. A channel with a row being sent offers
        nothing until that send is finished (one call per channel at a time).
        """
        ...

    async def outbox_item(self, item_id: int) -> OutboxItem | None: ...
    async def outbox_seq(self) -> int:
        """The newest outbox row id (0 when empty): a point in the queue's history."""
        ...

    async def outbox_depth(self) -> int: ...
    async def outbox(self, *, state: str | None = None, channel_id: str | None = None) -> list[OutboxItem]: ...
    async def mark_sending(self, item_id: int) -> None: ...
    async def mark_done(self, item_id: int, now: float) -> None: ...
    async def mark_retry(self, item_id: int, *, not_before: float, error: str) -> None: ...
    async def park_channel(self, channel_id: str, error: str, *, not_before: float) -> int:
        """Set aside every pending row of a channel Slack refuses (not_in_channel, ...) until `not_before`."""
        ...

    async def mark_dead(self, item_id: int, error: str) -> None: ...
    async def parked_channels(self) -> dict[str, float]:
        """Channels with parked rows, and when each may be tried again."""
        ...

    async def unpark(self, channel_id: str, now: float) -> int:
        """Make a channel's parked rows pending again (the bot was invited); returns how many."""
        ...

    async def recover_sending(self) -> int:
        """After a crash, rows caught mid-send go back to pending (delivered at least once)."""
        ...

    # --- stream health ---
    async def stream_health(self) -> dict[str, StreamHealth]: ...
    async def put_stream_health(self, health: StreamHealth) -> None: ...
    async def clear_stream_health(self, stream: str) -> None: ...

    # --- last polls (replicas) ---
    async def stream_polls(self) -> dict[str, StreamPoll]: ...
    async def put_stream_polls(self, polls: Iterable[StreamPoll]) -> None:
        """Replace the recorded last polls with these (the leader's, at the end of a cycle; fenced)."""
        ...

    # --- housekeeping ---
    async def prune(self, before: float) -> int:
        """Delete delivered/dead outbox rows, closed episodes and resolved alerts older than `before`."""
        ...


def iter_chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Slices of at most `size` items (SQLite limits the number of `?` parameters per statement)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


_Record = TypeVar("_Record", bound="DataclassInstance")


def from_row(record: type[_Record], row: Mapping[Any, Any]) -> _Record:
    """A record from a row, field by column name. A NULL in a column whose field has a default other than None
    gives the default (old rows' `posted_seq`, `kind`), so no per-table mapper is needed. (`row` is keyed by
    column name; SQLAlchemy's RowMapping also takes Column objects, hence `Mapping[Any, Any]`.)"""
    values: dict[str, Any] = {}
    for f in fields(record):
        if f.name not in row:
            continue
        value = row[f.name]
        if value is None and (f.default is not MISSING or f.default_factory is not MISSING) and f.default is not None:
            continue
        values[f.name] = value
    return record(**values)
