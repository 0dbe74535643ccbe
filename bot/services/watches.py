"""WatchService: what `/dis watch`, `/dis unwatch`, `/dis watching` and the alert buttons do.

Watching checks the stream first (a typo gets a clear "not found", not a silent watch that warns later),
records the watch, and takes its baseline at once: tasks already ERROR/ABNORMAL are reported in one
"already failing" alert, once. Watches live in the store, so they survive restarts.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.dis.api import TaskReads
from bot.dis.models import TaskList, TransferTask
from bot.dis.names import validate_name
from bot.store.base import ALL_STREAMS, KIND_TASK, SOURCE_CONFIG, Alert, Store, Subscription
from bot.watcher.engine import AlertEngine, SnoozeResult
from bot.watcher.outbox import OutboxSender
from bot.watcher.status import PollStatus, WatchStatus

if TYPE_CHECKING:
    from bot.watcher.watcher import Watcher


@dataclass(frozen=True)
class WatchResult:
    """The outcome of `watch()`.

    Attributes:
        subscription: the watch as stored.
        created: False when the channel already watched the stream (the mention may have changed).
        tasks: the stream's tasks as just read (None for `*`).
        already_failing: tasks in ERROR/ABNORMAL right now (reported once in the channel by an alert).
        streams: for `*`, how many streams the project has now.
    """

    subscription: Subscription
    created: bool
    tasks: TaskList | None = None
    already_failing: list[TransferTask] = field(default_factory=list)
    streams: int | None = None


class Unwatched(StrEnum):
    REMOVED = "removed"
    NOT_WATCHED = "not_watched"
    FROM_CONFIG = "from_config"  # set by DIS_WATCH: only the configuration can remove it


class WatchService:
    """Subscriptions and alert actions for the Slack layer (`Deps.watches`).

    Args:
        store: the watcher's store.
        tasks: the shared `TaskService` (watching reads the stream once, fresh).
        engine: the watcher's `AlertEngine` (baselines, acknowledge, snooze).
        sender: the outbox sender (a watch in a channel Slack refused retries delivery there at once).
        config_watches: the `DIS_WATCH` pairs (stream, channel), to explain why some watches cannot be removed.
        interval_seconds: `WATCH_INTERVAL_SECONDS`, for "next poll within …".
        standby: says whether this replica is a standby now (another one leads the watcher): a new watch's
            baseline is then the leader's to take, at its next cycle, which the watch's commit wakes at once.
    """

    def __init__(
        self,
        store: Store,
        tasks: TaskReads,
        engine: AlertEngine,
        *,
        sender: OutboxSender | None = None,
        config_watches: Sequence[tuple[str, str]] = (),
        interval_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
        standby: Callable[[], bool] = lambda: False,
    ) -> None:
        self.store = store
        self.tasks = tasks
        self.engine = engine
        self.sender = sender
        self.config_watches = set(config_watches)
        self.interval_seconds = interval_seconds
        self.clock = clock
        self.standby = standby

    @classmethod
    def of(cls, watcher: Watcher) -> WatchService:
        """The service for a running watcher's commands and buttons, sharing its store, reads, engine and outbox."""
        return cls(
            watcher.store,
            watcher.tasks,
            watcher.engine,
            sender=watcher.sender,
            config_watches=watcher.config_watches,
            interval_seconds=watcher.interval,
            standby=lambda: watcher.standby,
        )

    async def watch(
        self,
        channel_id: str,
        stream: str,
        *,
        mention: str | None = None,
        set_mention: bool = False,
        user_id: str | None = None,
    ) -> WatchResult:
        """Watch `stream` (or `*`) in a channel; report its already-failing tasks once.

        Raises:
            InvalidName: the name breaks DIS's naming rule.
            NotFound: the stream does not exist.
            DisError: DIS could not be read (nothing is recorded then).
        """
        listed: TaskList | None = None
        count: int | None = None
        read: int | None = None
        if stream == ALL_STREAMS:
            count = len(await self.tasks.streams(fresh=True))
        else:
            validate_name(stream, "stream")
            read = self.engine.read_started(stream)
            listed = await self.tasks.tasks(stream, fresh=True)
        sub, created = await self.store.upsert_subscription(
            channel_id, stream, now=self.clock(), mention=mention, set_mention=set_mention, created_by=user_id
        )
        self.engine.removed.discard((channel_id, stream))  # watched again right after an unwatch
        if self.sender is not None and sub.delivery_error:
            await self.sender.retry_channel(channel_id)
        if listed is not None and sub.baseline_pending and not self.standby():
            # Baseline now rather than at the next cycle: the channel hears about old problems right away.
            await self.engine.record_poll(stream, listed, await self.engine.subscribers(stream), read=read)
            sub = next(
                (s for s in await self.store.subscriptions(channel_id=channel_id, stream=stream)),
                sub,
            )
        failing = [t for t in listed.sorted_tasks() if t.is_problem] if listed is not None else []
        return WatchResult(sub, created, listed, failing, count)

    async def unwatch(self, channel_id: str, stream: str) -> Unwatched:
        """Stop watching; open problems of that watch end quietly (their alerts say "no longer watched")."""
        subs = await self.store.subscriptions(channel_id=channel_id, stream=stream)
        if not subs:
            return Unwatched.NOT_WATCHED
        if subs[0].source == SOURCE_CONFIG:
            return Unwatched.FROM_CONFIG
        await self.store.remove_subscription(channel_id, stream)
        await self.engine.unwatched(channel_id, stream)
        return Unwatched.REMOVED

    def in_config(self, channel_id: str, stream: str) -> bool:
        """Whether `DIS_WATCH` also sets this watch (it comes back at the next start)."""
        return (stream, channel_id) in self.config_watches

    async def polls(self) -> dict[str, PollStatus]:
        """The last poll of each stream: this process's own as the leader (or single instance), the leader's as
        recorded at the end of its last cycle on a standby (it polls nothing itself)."""
        if not self.standby():
            return dict(self.engine.polls)
        return await self.store.stream_polls()

    async def watching(self, channel_id: str) -> list[WatchStatus]:
        """The channel's watches with their last poll, open problems, snoozes and delivery error."""
        now = self.clock()
        polls = await self.polls()
        healths = await self.store.stream_health() if self.standby() else self.engine.health
        subs = await self.store.subscriptions(channel_id=channel_id)
        explicit = {s.stream for s in subs if not s.is_wildcard}
        problems = Counter(e.stream for e in await self.store.open_episodes(channel_id=channel_id, kind=KIND_TASK))
        snoozes = await self.store.snoozes(now=now, channel_id=channel_id)
        out = []
        for sub in subs:
            if sub.is_wildcard:
                shown = [p for s, p in sorted(polls.items()) if s != ALL_STREAMS and s not in explicit]
                listing = polls.get(ALL_STREAMS)
                if listing is not None and not listing.ok:
                    shown.insert(0, listing)
                open_problems = sum(n for s, n in problems.items() if s not in explicit)
                mine = [z for z in snoozes if z.stream not in explicit]
            else:
                poll = polls.get(sub.stream)
                shown = [poll] if poll is not None else []
                open_problems = problems.get(sub.stream, 0)
                mine = [z for z in snoozes if z.stream == sub.stream]
            health = healths.get(sub.stream)
            blind = health.first_failure_at if health is not None and health.warned else None
            out.append(WatchStatus(sub, shown, open_problems, mine, blind))
        return out

    def last_poll(self, stream: str) -> PollStatus | None:
        return self.engine.polls.get(stream)

    async def acknowledge(self, alert_id: int, user_id: str) -> tuple[Alert | None, bool]:
        """Acknowledge button: the first press records who and stops reminders."""
        return await self.engine.acknowledge(alert_id, user_id)

    async def acknowledge_in(self, channel_id: str, alert_id: int, user_id: str) -> tuple[Alert | None, bool]:
        """Acknowledge, but only an alert of `channel_id` (a button press names where it was pressed)."""
        alert = await self.store.alert(alert_id)
        if alert is None or alert.channel_id != channel_id:
            return None, False
        return await self.engine.acknowledge(alert_id, user_id)

    async def snooze(self, alert_id: int, user_id: str, seconds: float) -> SnoozeResult:
        """Snooze button: silence the alert's open tasks in its channel for `seconds`."""
        return await self.engine.snooze(alert_id, user_id, seconds)
