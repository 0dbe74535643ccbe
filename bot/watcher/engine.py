"""AlertEngine: turns poll results into episodes, alerts and queued Slack calls, all in the store.

Every entry point runs in one store transaction, and this process's write transactions take turns (the store
sees to it), so nothing interleaves with one: a poll result is applied whole or not at all, and Slack calls
leave only through the outbox (`OutboxSender`), never from here. That is what makes "no duplicates, nothing
lost" checkable:

- a problem is an *episode* (channel, stream, task, problem); the store allows one open episode per key, so
  applying the same poll twice, or again after a restart, cannot alert twice. The problem is the task's state
  (ERROR/ABNORMAL, from the list read) or a silent one judged from a deep read (`silent.py`: stalled, failed
  partitions, discarding), which is judged only while the task is RUNNING and ends quietly when it is not;
- an alert is posted by an outbox row keyed `alert:<id>:post`, created in the same transaction as the
  alert and its episodes; a crash before the commit loses nothing (the next poll sees the problem again),
  a crash after it delivers the row on the next start;
- one message per channel per cycle: the cycle's first problem in a channel is posted at once, and the
  problems the same cycle finds later for that channel *join* that alert: attached in the transaction that
  records them, with an update row queued behind the post (rendered when sent, so one waiting update covers
  every later join). A storm is one message, edited in place until it lists everything;
- problems not announced at once (a new watch's "already failing" baseline, a relapse whose snooze ended,
  an unreadable stream) stay *unalerted* in the store and are announced by `finish_cycle()`, joined to the
  cycle's alert in that channel or in one new message per channel and kind; it also posts the grouped
  "recovered" thread replies and reminders;
- results are applied in the order their reads started (`read_started()`): a slow read cannot overwrite
  what a newer read of the same stream (say, a new watch's first one) already applied.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from bot import metrics
from bot.dis.lag import TaskLag
from bot.dis.models import PROBLEM_STATES, TaskList, TaskState, TransferTask
from bot.errors import DisError
from bot.message import Message
from bot.store.base import (
    ALL_STREAMS,
    KIND_BLIND,
    KIND_TASK,
    OUT_MENTION,
    OUT_POST,
    OUT_REPLY,
    OUT_UPDATE,
    PROBLEM_PARTITIONS,
    PROBLEM_STALLED,
    PROBLEM_STATE,
    Alert,
    Episode,
    KnownTask,
    Store,
    StreamHealth,
    Subscription,
)
from bot.watcher.render import AlertRenderer
from bot.watcher.silent import Action, Reading, discard_growth, judge
from bot.watcher.status import PollStatus
from bot.watcher.transitions import DELETED, Change, same_task, task_events

logger = logging.getLogger("bot.watcher")

UNWATCHED = "UNWATCHED"

#: task -> problem -> detail of the open silent problems of one stream.
OpenSilent = dict[str, dict[str, dict[str, Any]]]
READABLE = "READABLE"


@dataclass
class Cycle:
    """What the current poll cycle has announced, for grouping.

    Attributes:
        alerts: channel -> id of the task alert this cycle posted there at once; the cycle's later problems
            in that channel join it (one message per channel per cycle).
    """

    alerts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SnoozeResult:
    alert: Alert | None
    episodes: list[Episode]
    until: float


def route(subscriptions: Iterable[Subscription], streams: Iterable[str]) -> dict[str, list[Subscription]]:
    """Who hears about each stream: one subscription per channel, an explicit watch before `*`."""
    explicit: dict[str, dict[str, Subscription]] = defaultdict(dict)
    wildcard: list[Subscription] = []
    for sub in subscriptions:
        if sub.is_wildcard:
            wildcard.append(sub)
        else:
            explicit[sub.stream][sub.channel_id] = sub
    out: dict[str, list[Subscription]] = {}
    for stream in streams:
        chosen = dict(explicit.get(stream, {}))
        for sub in wildcard:
            chosen.setdefault(sub.channel_id, sub)
        out[stream] = list(chosen.values())
    return out


def merge_mentions(mentions: Iterable[str | None]) -> str | None:
    """Several watches' mentions as one string, each mention once, in order."""
    seen: list[str] = []
    for mention in mentions:
        for token in (mention or "").split():
            if token not in seen:
                seen.append(token)
    return " ".join(seen) or None


class AlertEngine:
    """The watcher's bookkeeping over a `Store` (see module docstring).

    Args:
        store: the durable state.
        clock: wall clock in epoch seconds (tests pass a fake one to step through reminders and snoozes).
        repeat_minutes: `WATCH_REPEAT_MINUTES` (0 = no reminders).
        failures_before_warning: `WATCH_FAILURES_BEFORE_WARNING`.
        stall_minutes: `WATCH_STALL_MINUTES` (0: stalls are not judged).
        quiet_seconds: how long without new discards ends a discarding problem (`WATCH_STALL_MINUTES`, or the
            deep interval when stalls are off).
        on_enqueue: called whenever a Slack call was queued (wakes the outbox sender).
    """

    def __init__(
        self,
        store: Store,
        renderer: AlertRenderer,
        *,
        clock: Callable[[], float] = time.time,
        repeat_minutes: float = 60.0,
        failures_before_warning: int = 5,
        stall_minutes: float = 30.0,
        quiet_seconds: float | None = None,
        on_enqueue: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.stall_seconds = max(0.0, stall_minutes * 60)
        self.quiet_seconds = self.stall_seconds if quiet_seconds is None else quiet_seconds
        self.renderer = renderer
        self.clock = clock
        self.repeat_minutes = repeat_minutes
        self.failures_before_warning = failures_before_warning
        self.on_enqueue = on_enqueue or (lambda: None)
        #: Last known task states and stream health, read from the store by `load()`.
        self.states: dict[str, dict[str, KnownTask]] = {}
        self.health: dict[str, StreamHealth] = {}
        #: stream -> task -> problem -> detail of an open silent problem (in some channel): what the poll loop needs
        #: to decide which of them to deep-read, to see them end.
        self.silent: dict[str, OpenSilent] = {}
        self._loaded = False
        #: The last poll of each stream since this process started.
        self.polls: dict[str, PollStatus] = {}
        #: Watches removed since the current cycle routed its polls: their results are not applied.
        self.removed: set[tuple[str, str]] = set()
        #: stream -> (newest read applied, identity of its result): older reads' results are stale.
        self._applied: dict[str, tuple[int, tuple[int, float] | None]] = {}
        self._reads = 0
        #: Warnings of the transaction in progress (`_recording`), logged once it commits.
        self._pending_logs: list[tuple[int, str, dict[str, Any]]] | None = None

    def reload(self) -> None:
        """Read states and stream health from the store again at the next entry point: another replica led
        meanwhile, so what this process remembers may be old."""
        self._loaded = False
        self._applied.clear()

    async def load(self) -> None:
        """Read the last known states and stream health from the store (once; every entry point calls it)."""
        if self._loaded:
            return
        self.states = await self.store.task_states()
        self.health = await self.store.stream_health()
        self.silent = {}
        for ep in await self.store.open_episodes(kind=KIND_TASK):
            if ep.is_silent:
                self.silent.setdefault(ep.stream, {}).setdefault(ep.task_name, {})[ep.problem] = ep.detail or {}
        self._loaded = True

    # ------------------------------------------------------------------ routing

    async def subscribers(self, stream: str) -> list[Subscription]:
        """The subscriptions that hear about `stream` (explicit watches and `*`)."""
        subs = await self.store.subscriptions(stream=stream) + await self.store.subscriptions(stream=ALL_STREAMS)
        return route(subs, [stream])[stream]

    # ------------------------------------------------------------------ poll results

    def read_started(self, stream: str) -> int:
        """A ticket for a read of `stream` that starts now; pass it with the result (`read=`).

        A result whose read started before the newest applied one is ignored: DIS answered it earlier, so it
        would take the stream back in time (one spurious alert, then its recovery). Callers sharing one
        read (single flight) share its result object, which is never stale against itself.
        """
        self._reads += 1
        return self._reads

    def _stale(self, stream: str, read: int | None, result: TaskList | None = None) -> bool:
        last = self._applied.get(stream)
        if read is None or last is None or read >= last[0]:
            return False
        return result is None or _identity(result) != last[1]

    def _note_read(self, stream: str, read: int | None, result: TaskList | None = None) -> None:
        if read is None:
            return
        last = self._applied.get(stream)
        newest = max(read, last[0]) if last is not None else read
        self._applied[stream] = (newest, _identity(result) if result is not None else None)

    async def record_poll(
        self,
        stream: str,
        result: TaskList,
        subs: Sequence[Subscription],
        cycle: Cycle | None = None,
        *,
        read: int | None = None,
        deep: Mapping[str, TaskLag] | None = None,
    ) -> None:
        """Apply a successful poll of `stream` for the channels in `subs`.

        Outside a cycle (`cycle=None`, e.g. right after `/dis watch`) new problems are announced at once.
        `read` is the ticket from `read_started()` (None: applied whatever its age). `deep`: the tasks deep-read
        with this poll (task name -> lag); silent problems are judged for those, and end quietly for tasks that
        left RUNNING. A task whose deep read failed is not in it: its silent problems stay as they are.
        """
        await self.load()
        now = self.clock()
        async with self._recording():
            # Inside the transaction: this process's writes take turns, so no other result of this stream is
            # being applied between this check and the update of `states` after the commit.
            if self._stale(stream, read, result):
                logger.info("watch.stale_read", extra={"stream": stream})
                return
            previous = self.states.get(stream, {})
            current = await self._save_states(stream, previous, result.tasks, now)
            readings = await self._readings(stream, current, deep or {}, now)
            await self._readable(stream, now)
            for sub in subs:
                if (sub.channel_id, sub.stream) not in self.removed:
                    await self._apply(sub, stream, result.tasks, previous, now, cycle)
                    if readings or self.silent.get(stream):
                        await self._apply_silent(sub, stream, result.tasks, readings, now, cycle)
            silent = self.silent.get(stream)
            if readings or silent:
                silent = {}
                for ep in await self.store.open_episodes(stream=stream, kind=KIND_TASK):
                    if ep.is_silent:
                        silent.setdefault(ep.task_name, {})[ep.problem] = ep.detail or {}
        self.states[stream] = current
        if silent:
            self.silent[stream] = silent
        else:
            self.silent.pop(stream, None)
        gone = set(previous) - set(current)
        if gone:
            metrics.forget_task_lag(stream, gone)
        for name, lag in (deep or {}).items():
            known_backlog = bool(lag.partitions) and all(p.backlog is not None for p in lag.partitions)
            metrics.set_task_lag(stream, name, lag.backlog if known_backlog else None, lag.discarded)
        self.health.pop(stream, None)
        self._note_read(stream, read, result)
        counts = result.counts()
        before = self.polls.get(stream)
        self.polls[stream] = PollStatus(stream, now, True, counts)
        metrics.set_stream_states(stream, counts, set(before.counts) if before else None)

    async def record_poll_failure(
        self,
        stream: str,
        error: DisError,
        subs: Sequence[Subscription],
        cycle: Cycle | None = None,
        *,
        read: int | None = None,
    ) -> None:
        """Count a failed poll; after `failures_before_warning` in a row each channel hears once that the
        stream cannot be read (with the reason). Transient failures raise nothing. A failed read older than
        the newest applied one says nothing new and is ignored."""
        await self.load()
        if self._stale(stream, read):
            logger.info("watch.stale_read", extra={"stream": stream, "error_kind": error.kind})
            return
        now = self.clock()
        old = self.health.get(stream) or StreamHealth(stream)
        health = StreamHealth(
            stream,
            failures=old.failures + 1,
            first_failure_at=old.first_failure_at or now,
            error_kind=error.kind,
            error=error.message,
            warned=old.warned,
        )
        async with self._recording():
            if health.failures >= self.failures_before_warning:
                health = replace(health, warned=True)
                for sub in subs:
                    if (sub.channel_id, sub.stream) in self.removed:
                        continue
                    ep, created = await self.store.open_episode(
                        channel_id=sub.channel_id,
                        stream=stream,
                        task_name="",
                        kind=KIND_BLIND,
                        state=error.kind,
                        started_at=health.first_failure_at or now,
                        reason=error.message,
                    )
                    if created:
                        self._log_when_recorded(
                            logging.WARNING,
                            "watch.blind",
                            {"stream": stream, "channel": sub.channel_id, "error_kind": error.kind},
                        )
                        if cycle is None:
                            await self._announce(sub.channel_id, KIND_BLIND, [ep], None, now)
            await self.store.put_stream_health(health)
        self.health[stream] = health
        self._note_read(stream, read)
        self.polls[stream] = PollStatus(
            stream, now, False, error_kind=error.kind, error=error.message, failures=health.failures
        )

    async def record_list_readable(self) -> None:
        """The streams list (for `*` watches) could be read: end an "I cannot list streams" warning."""
        await self.load()
        if ALL_STREAMS not in self.health:
            return
        async with self.store.transaction():
            await self._readable(ALL_STREAMS, self.clock())
        self.health.pop(ALL_STREAMS, None)

    async def finish_cycle(self, cycle: Cycle) -> None:
        """Announce what the cycle did not announce yet, post grouped recovery replies, send due reminders."""
        now = self.clock()
        async with self.store.transaction():
            await self._roll_up(now, cycle)
            await self._note_recoveries()
            await self._remind(now)

    async def forget_stream(self, stream: str) -> None:
        """A stream left the project (or nobody watches it any more): end its problems quietly."""
        await self.load()
        now = self.clock()
        async with self.store.transaction():
            await self._end(await self.store.open_episodes(stream=stream), DELETED, now, quiet=True)
            await self.store.forget_stream(stream)
        before = self.polls.pop(stream, None)
        self.states.pop(stream, None)
        self.health.pop(stream, None)
        self.silent.pop(stream, None)
        self._applied.pop(stream, None)
        metrics.forget_task_lag(stream)
        if before is not None:
            metrics.set_stream_states(stream, {}, set(before.counts))

    async def unwatched(self, channel_id: str, stream: str) -> None:
        """A channel stopped watching `stream` (or `*`): its open problems there end without a reply."""
        now = self.clock()
        self.removed.add((channel_id, stream))
        async with self.store.transaction():
            if stream == ALL_STREAMS:
                explicit = {s.stream for s in await self.store.subscriptions(channel_id=channel_id)}
                episodes = [
                    e for e in await self.store.open_episodes(channel_id=channel_id) if e.stream not in explicit
                ]
            else:
                episodes = await self.store.open_episodes(channel_id=channel_id, stream=stream)
            await self._end(episodes, UNWATCHED, now, quiet=True)

    # ------------------------------------------------------------------ people

    async def acknowledge(self, alert_id: int, user_id: str) -> tuple[Alert | None, bool]:
        """Record who acknowledged (the first press wins), stop reminders, update the alert.

        Returns:
            the alert (None if unknown) and whether this press was the first.
        """
        now = self.clock()
        async with self.store.transaction():
            alert = await self.store.alert(alert_id)
            if alert is None:
                return None, False
            first = await self.store.ack_alert(alert_id, user_id, now)
            if first:
                await self._enqueue_update(alert)
                await self._enqueue(
                    f"alert:{alert_id}:ack", alert.channel_id, OUT_REPLY, alert_id, self.renderer.ack(user_id, now), now
                )
                logger.info("watch.acknowledged", extra={"alert_id": alert_id, "user": user_id})
            return await self.store.alert(alert_id), first

    async def snooze(self, alert_id: int, user_id: str, seconds: float) -> SnoozeResult:
        """Silence the alert's open tasks in its channel for `seconds` (reminders and new alerts)."""
        now = self.clock()
        until = now + seconds
        async with self.store.transaction():
            alert = await self.store.alert(alert_id)
            if alert is None:
                return SnoozeResult(None, [], until)
            episodes = [e for e in await self.store.episodes_for_alert(alert_id) if e.is_open and e.kind == KIND_TASK]
            for ep in episodes:
                await self.store.snooze(ep.channel_id, ep.stream, ep.task_name, until=until, by=user_id)
            if episodes:
                await self._enqueue_update(alert)
                reply = self.renderer.snooze(user_id, episodes, until, seconds)
                key = f"alert:{alert_id}:snooze:{int(now * 1000)}:{user_id}"
                await self._enqueue(key, alert.channel_id, OUT_REPLY, alert_id, reply, now)
                logger.info("watch.snoozed", extra={"alert_id": alert_id, "user": user_id, "seconds": seconds})
        return SnoozeResult(alert, episodes, until)

    # ------------------------------------------------------------------ rendering (for the outbox)

    async def render(self, alert_id: int) -> Message | None:
        """The alert's root message as it should look now; None if the alert no longer exists."""
        alert = await self.store.alert(alert_id)
        if alert is None:
            return None
        now = self.clock()
        snoozes = {(s.stream, s.task_name): s for s in await self.store.snoozes(now=now, channel_id=alert.channel_id)}
        return self.renderer.alert(
            alert,
            await self.store.episodes_for_alert(alert_id),
            now=now,
            snoozes=snoozes,
            repeat_minutes=self.repeat_minutes,
        )

    # ------------------------------------------------------------------ internals

    @asynccontextmanager
    async def _recording(self) -> AsyncIterator[None]:
        """A store transaction whose warnings wait for its commit (and are dropped if it rolls back).

        A poll the store refused to record is redone by the next cycle: without this, the same problem would be
        logged on every poll for as long as the database refuses writes.
        """
        lines: list[tuple[int, str, dict[str, Any]]] = []
        async with self.store.transaction():
            # Set once the transaction is ours: another task's recording may have been waiting for its turn.
            outer, self._pending_logs = self._pending_logs, lines
            try:
                yield
            finally:
                self._pending_logs = outer
        if outer is not None:
            outer.extend(lines)  # inside a caller's recording: its commit decides
            return
        for level, event, extra in lines:
            logger.log(level, event, extra=extra)

    def _log_when_recorded(self, level: int, event: str, extra: dict[str, Any]) -> None:
        if self._pending_logs is None:
            logger.log(level, event, extra=extra)
        else:
            self._pending_logs.append((level, event, extra))

    async def _save_states(
        self, stream: str, previous: dict[str, KnownTask], tasks: Sequence[TransferTask], now: float
    ) -> dict[str, KnownTask]:
        """Remember each task's state; write only what changed (steady polls write nothing)."""
        current: dict[str, KnownTask] = {}
        changed: list[KnownTask] = []
        for task in tasks:
            old = previous.get(task.task_name)
            if old is not None and old.state == task.state and old.task_id == task.task_id:
                current[task.task_name] = replace(old, last_transfer_ms=task.last_transfer_timestamp)
                continue
            same = old is not None and old.state == task.state and same_task(old.task_id, task.task_id)
            kept = old is not None and same_task(old.task_id, task.task_id)  # re-created: its counts start anew
            known = KnownTask(
                stream=stream,
                task_name=task.task_name,
                state=task.state,
                task_id=task.task_id,
                since=old.since if old is not None and same else now,
                last_transfer_ms=task.last_transfer_timestamp,
                discarded=old.discarded if old is not None and kept else None,
                discarded_at=old.discarded_at if old is not None and kept else None,
            )
            current[task.task_name] = known
            changed.append(known)
        gone = [name for name in previous if name not in current]
        await self.store.save_task_states(stream, changed, gone)
        return current

    async def _apply(
        self,
        sub: Subscription,
        stream: str,
        tasks: Sequence[TransferTask],
        previous: dict[str, KnownTask],
        now: float,
        cycle: Cycle | None,
    ) -> None:
        channel = sub.channel_id
        opened = {
            e.task_name: e
            for e in await self.store.open_episodes(
                channel_id=channel, stream=stream, kind=KIND_TASK, problem=PROBLEM_STATE
            )
        }
        events = task_events(
            {name: ep.state for name, ep in opened.items()},
            tasks,
            {name: known.state for name, known in previous.items()},
            {name: ep.task_id for name, ep in opened.items()},
        )
        fresh: list[Episode] = []
        touched: set[int] = set()
        for event in events:
            if event.change is Change.NEW:
                known = previous.get(event.task_name)
                if known is not None and event.task is not None and not same_task(known.task_id, event.task.task_id):
                    known = None  # re-created under the same name: its history is not this task's
                started = known.since if known is not None and known.state == event.state and known.since else now
                before = event.previous_state if event.previous_state != event.state else None
                ep, created = await self.store.open_episode(
                    channel_id=channel,
                    stream=stream,
                    task_name=event.task_name,
                    kind=KIND_TASK,
                    state=event.state,
                    started_at=started,
                    task_id=event.task.task_id if event.task else None,
                    previous_state=before,
                    baseline=sub.baseline_pending,
                    last_transfer_ms=event.task.last_transfer_timestamp if event.task else None,
                )
                if created:
                    fresh.append(ep)
                continue
            ep = opened[event.task_name]
            if event.change is Change.CHANGED:
                await self.store.update_episode(ep.id, state=event.state)
            else:
                await self.store.close_episode(ep.id, ended_at=now, end_state=event.state, note=ep.alert_id is not None)
                metrics.ALERTS.labels(event="resolved", problem=PROBLEM_STATE).inc()
                logger.info(
                    "watch.recovered",
                    extra={"stream": stream, "task": event.task_name, "channel": channel, "state": event.state},
                )
            if ep.alert_id is not None:
                touched.add(ep.alert_id)
        for alert_id in touched:
            await self._alert_changed(alert_id, now)
        if fresh:
            await self._new_problems(sub, fresh, now, cycle)
        if sub.baseline_pending and not sub.is_wildcard:
            await self.store.set_baseline_done(channel, stream)

    async def _readings(
        self, stream: str, current: dict[str, KnownTask], deep: Mapping[str, TaskLag], now: float
    ) -> dict[str, Reading]:
        """Deep reads judged once for every channel: discards measured against each task's baseline, which is
        moved to this read (written with the poll, so a restart neither re-alerts old discards nor forgets them)."""
        readings: dict[str, Reading] = {}
        counts: dict[str, tuple[int, float]] = {}
        for name, lag in deep.items():
            known = current.get(name)
            if known is None:
                continue
            # A read that left `discard` out says nothing of the count: no growth, and the baseline stays.
            growth = discard_growth(known.discarded, lag.discarded) if lag.discard_known else 0
            readings[name] = Reading(
                lag,
                now,
                self.stall_seconds,
                self.quiet_seconds,
                discard_growth=growth,
                discard_since=known.discarded_at,
            )
            if lag.discard_known and (known.discarded != lag.discarded or known.discarded_at is None):
                counts[name] = (lag.discarded, now)
                current[name] = replace(known, discarded=lag.discarded, discarded_at=now)
        await self.store.set_discards(stream, counts)
        return readings

    async def _apply_silent(
        self,
        sub: Subscription,
        stream: str,
        tasks: Sequence[TransferTask],
        readings: Mapping[str, Reading],
        now: float,
        cycle: Cycle | None,
    ) -> None:
        """Silent problems of one channel: judged from this poll's deep reads while a task is RUNNING, ended
        quietly (no reply: the state's own alert or handling speaks for it) when it is not."""
        channel = sub.channel_id
        opened: dict[str, dict[str, Episode]] = defaultdict(dict)
        for episode in await self.store.open_episodes(channel_id=channel, stream=stream, kind=KIND_TASK):
            if episode.is_silent:
                opened[episode.task_name][episode.problem] = episode
        if not opened and not readings:
            return
        listed = {t.task_name: t for t in tasks}
        touched: set[int] = set()
        fresh: list[Episode] = []
        for name, problems in list(opened.items()):
            end = _silent_end(listed.get(name), next(iter(problems.values())).task_id)
            if end is None:
                continue  # still RUNNING: judged below if it was read in detail
            for quiet in problems.values():
                await self.store.close_episode(quiet.id, ended_at=now, end_state=end, note=False)
                if quiet.alert_id is not None:
                    touched.add(quiet.alert_id)
            del opened[name]
        for name, reading in readings.items():
            task = listed.get(name)
            if task is None or task.state != TaskState.RUNNING:
                continue
            for decision in judge(reading, opened.get(name, {})):
                ep = decision.episode
                if decision.action is Action.OPEN:
                    detail = decision.detail
                    if decision.problem == PROBLEM_STALLED:
                        # What the list said when the stall was found: the poll loop deep-reads the task again
                        # once the list shows a newer transfer (or a retention threshold passes), not every cycle.
                        detail = {**detail, "list_transfer_ms": task.last_transfer_timestamp}
                    new, created = await self.store.open_episode(
                        channel_id=channel,
                        stream=stream,
                        task_name=name,
                        kind=KIND_TASK,
                        state=decision.problem,
                        started_at=now,
                        task_id=task.task_id,
                        baseline=sub.baseline_pending,
                        last_transfer_ms=reading.lag.last_transfer_ms,
                        problem=decision.problem,
                        detail=detail,
                    )
                    if created:
                        fresh.append(new)
                elif ep is not None and decision.action is Action.UPDATE:
                    await self.store.update_episode(ep.id, detail=decision.detail)
                    if decision.edit and ep.alert_id is not None:
                        touched.add(ep.alert_id)
                elif ep is not None:
                    # The detail first: that write is fenced (a recovery no list change accompanies is still
                    # the leader's alone to record), then the end.
                    await self.store.update_episode(ep.id, detail=decision.detail)
                    note = ep.alert_id is not None
                    ended_at = now if decision.ended_at is None else decision.ended_at
                    await self.store.close_episode(ep.id, ended_at=ended_at, end_state=TaskState.RUNNING, note=note)
                    metrics.ALERTS.labels(event="resolved", problem=decision.problem).inc()
                    logger.info(
                        "watch.recovered",
                        extra={"stream": stream, "task": name, "channel": channel, "problem": decision.problem},
                    )
                    if ep.alert_id is not None:
                        touched.add(ep.alert_id)
        for alert_id in touched:
            await self._alert_changed(alert_id, now)
        if fresh:
            await self._new_problems(sub, fresh, now, cycle)

    async def _new_problems(self, sub: Subscription, fresh: list[Episode], now: float, cycle: Cycle | None) -> None:
        for ep in fresh:
            self._log_when_recorded(
                logging.WARNING,
                "watch.problem",
                {
                    "stream": ep.stream,
                    "task": ep.task_name,
                    "state": ep.state,
                    "problem": ep.problem,
                    "channel": ep.channel_id,
                },
            )
        snoozed = {(s.stream, s.task_name) for s in await self.store.snoozes(now=now, channel_id=sub.channel_id)}
        active = [e for e in fresh if (e.stream, e.task_name) not in snoozed]
        if not active:
            return
        if cycle is not None:
            joined = await self._cycle_alert(cycle, sub.channel_id)
            if joined is not None:
                await self._join(joined, active, sub.mention, now)
                return
            if all(e.baseline for e in active):
                # Old problems found by a baseline are not news: they wait for `finish_cycle()`, so a new watch
                # (or `*`) reports everything already failing in one message.
                return
        alert = await self._announce(sub.channel_id, KIND_TASK, active, sub.mention, now)
        if cycle is not None:
            cycle.alerts[sub.channel_id] = alert.id

    async def _cycle_alert(self, cycle: Cycle, channel: str) -> Alert | None:
        """The task alert this cycle posted in `channel`, if it is still open (problems can join it)."""
        alert_id = cycle.alerts.get(channel)
        alert = await self.store.alert(alert_id) if alert_id is not None else None
        # The channel check matters after a rolled-back write: its alert id may since belong to another channel.
        return alert if alert is not None and alert.channel_id == channel and alert.resolved_at is None else None

    async def _join(self, alert: Alert, episodes: Sequence[Episode], mention: str | None, now: float) -> None:
        """Add problems to an alert already queued or posted; its message is edited to list them.

        Watchers it did not mention yet are added to it and paged by a thread reply (an edit notifies nobody;
        the reply is skipped if the post had not been rendered yet, since the post then names them).
        """
        await self.store.attach_episodes([e.id for e in episodes], alert.id)
        await self._enqueue_update(alert)
        merged = merge_mentions([alert.mention, mention])
        if merged != alert.mention:
            await self.store.set_alert_mention(alert.id, merged)
            had = set((alert.mention or "").split())
            new = " ".join(t for t in (merged or "").split() if t not in had)
            await self._enqueue(
                f"alert:{alert.id}:mention:{new}",
                alert.channel_id,
                OUT_MENTION,
                alert.id,
                self.renderer.mention(new, episodes),
                now,
            )
        _count("raised", episodes)
        logger.info(
            "watch.alert_grew",
            extra={"alert_id": alert.id, "channel": alert.channel_id, "problems": len(episodes)},
        )

    async def _announce(
        self, channel: str, kind: str, episodes: Sequence[Episode], mention: str | None, now: float
    ) -> Alert:
        alert = await self.store.create_alert(channel, kind, now=now, mention=mention)
        await self.store.attach_episodes([e.id for e in episodes], alert.id)
        await self._enqueue(f"alert:{alert.id}:post", channel, OUT_POST, alert.id, None, now)
        if kind == KIND_TASK:
            _count("raised", episodes)
        logger.info(
            "watch.alert",
            extra={"alert_id": alert.id, "channel": channel, "kind": kind, "problems": len(episodes)},
        )
        return alert

    async def _end(self, episodes: Iterable[Episode], end_state: str, now: float, *, quiet: bool = False) -> None:
        """Close episodes and refresh their alerts; their threads hear of it unless `quiet` (or never posted)."""
        touched: set[int] = set()
        for ep in episodes:
            note = not quiet and ep.alert_id is not None
            await self.store.close_episode(ep.id, ended_at=now, end_state=end_state, note=note)
            if ep.alert_id is not None:
                touched.add(ep.alert_id)
        for alert_id in touched:
            await self._alert_changed(alert_id, now)

    async def _alert_changed(self, alert_id: int, now: float) -> None:
        alert = await self.store.alert(alert_id)
        if alert is None:
            return
        episodes = await self.store.episodes_for_alert(alert_id)
        if alert.resolved_at is None and episodes and all(not e.is_open for e in episodes):
            await self.store.resolve_alert(alert_id, now)
        await self._enqueue_update(alert)

    async def _enqueue_update(self, alert: Alert) -> None:
        # An update renders the alert when it is sent, so one waiting update covers every later change.
        if not await self.store.pending_update(alert.id):
            await self._enqueue(
                f"alert:{alert.id}:update:{uuid.uuid4().hex}", alert.channel_id, OUT_UPDATE, alert.id, None, None
            )

    async def _enqueue(
        self,
        key: str,
        channel: str,
        kind: str,
        alert_id: int | None,
        message: Message | None,
        now: float | None,
    ) -> None:
        payload: dict[str, Any] | None = message.to_dict() if message is not None else None
        item = await self.store.enqueue(
            key, channel, kind, now=self.clock() if now is None else now, alert_id=alert_id, payload=payload
        )
        if item is not None:
            self.on_enqueue()

    async def _readable(self, stream: str, now: float) -> None:
        health = self.health.get(stream)
        if health is None:
            return
        await self.store.clear_stream_health(stream)
        if not health.warned:
            return
        await self._end(await self.store.open_episodes(stream=stream, kind=KIND_BLIND), READABLE, now)
        logger.info("watch.readable", extra={"stream": stream, "failures": health.failures})

    async def _roll_up(self, now: float, cycle: Cycle) -> None:
        pending = await self.store.unalerted_episodes()
        if not pending:
            return
        snoozed = {(s.channel_id, s.stream, s.task_name) for s in await self.store.snoozes(now=now)}
        groups: dict[tuple[str, str], list[Episode]] = defaultdict(list)
        for ep in pending:
            if ep.kind == KIND_TASK and (ep.channel_id, ep.stream, ep.task_name) in snoozed:
                continue
            groups[(ep.channel_id, ep.kind)].append(ep)
        for (channel, kind), episodes in groups.items():
            mention = await self._mention_for(channel, {e.stream for e in episodes}) if kind == KIND_TASK else None
            joined = await self._cycle_alert(cycle, channel) if kind == KIND_TASK else None
            if joined is not None:
                await self._join(joined, episodes, mention, now)
            else:
                await self._announce(channel, kind, episodes, mention, now)

    async def _mention_for(self, channel: str, streams: set[str]) -> str | None:
        subs = await self.store.subscriptions(channel_id=channel)
        explicit = {s.stream for s in subs if not s.is_wildcard}
        mentions = [s.mention for s in subs if not s.is_wildcard and s.stream in streams]
        if streams - explicit:
            mentions += [s.mention for s in subs if s.is_wildcard]
        return merge_mentions(mentions)

    async def _note_recoveries(self) -> None:
        ended = await self.store.unnoted_recoveries()
        if not ended:
            return
        by_alert: dict[int, list[Episode]] = defaultdict(list)
        for ep in ended:
            if ep.alert_id is not None:
                by_alert[ep.alert_id].append(ep)
        for alert_id, episodes in by_alert.items():
            alert = await self.store.alert(alert_id)
            if alert is None:
                continue
            key = f"alert:{alert_id}:ended:{episodes[0].id}-{episodes[-1].id}:{len(episodes)}"
            await self._enqueue(key, alert.channel_id, OUT_REPLY, alert_id, self.renderer.recovery(episodes), None)
        await self.store.mark_recoveries_noted([e.id for e in ended])

    async def _remind(self, now: float) -> None:
        repeat = self.repeat_minutes * 60
        if repeat <= 0:
            return
        snoozed: set[tuple[str, str, str]] | None = None
        # A stream the channel was warned it cannot be read: nobody knows whether its tasks still fail, so no
        # "still failing" claims; reminders resume when it can be read again (if the problem is still there).
        blind = {stream for stream, health in self.health.items() if health.warned}
        for alert in await self.store.open_alerts(KIND_TASK):
            if alert.acked_by or alert.ts is None:
                continue
            since = alert.last_reminder_at or alert.posted_at or alert.created_at
            if now - since < repeat:
                continue
            if snoozed is None:
                snoozed = {(s.channel_id, s.stream, s.task_name) for s in await self.store.snoozes(now=now)}
            still = [
                e
                for e in await self.store.episodes_for_alert(alert.id)
                if e.is_open
                and e.stream not in blind
                and (e.channel_id, e.stream, e.task_name) not in snoozed
                and not _confirming_end(e)
            ]
            if not still:
                continue
            number = await self.store.mark_reminded(alert.id, now)
            reply = self.renderer.reminder(alert, still, now=now)
            await self._enqueue(
                f"alert:{alert.id}:reminder:{number}", alert.channel_id, OUT_REPLY, alert.id, reply, now
            )
            for problem in sorted({e.problem for e in still}):
                metrics.ALERTS.labels(event="reminded", problem=problem).inc()


def _confirming_end(ep: Episode) -> bool:
    """Failed partitions seen OK again, open only until they stay so: a reminder would claim they still fail."""
    return ep.problem == PROBLEM_PARTITIONS and (ep.detail or {}).get("ok_at") is not None


def _silent_end(task: TransferTask | None, task_id: str | None) -> str | None:
    """How a task's silent problems end when it leaves RUNNING for good: ERROR/ABNORMAL (that alert speaks for
    it), PAUSED (a person stopped it), or DELETED when it is gone or re-created. None keeps them open: RUNNING,
    STARTING (someone restarts it: whether that helped is judged once it is RUNNING again, so a stall it did not
    cure stays the same alert and one that it did gets its reply) and a state DIS may add later."""
    if task is None or task.state == TaskState.DELETE or not same_task(task_id, task.task_id):
        return DELETED
    if task.state in PROBLEM_STATES or task.state == TaskState.PAUSED:
        return task.state
    return None


def _count(event: str, episodes: Iterable[Episode]) -> None:
    """`disbot_alerts_total` for these episodes, by problem."""
    by_problem: dict[str, int] = defaultdict(int)
    for ep in episodes:
        by_problem[ep.problem] += 1
    for problem, n in by_problem.items():
        metrics.ALERTS.labels(event=event, problem=problem).inc(n)


def _identity(result: TaskList) -> tuple[int, float]:
    """Tells one read's result object from another's (single-flight callers share the same object)."""
    return id(result), result.fetched_at
