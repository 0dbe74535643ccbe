"""Watcher: the poll loop around `AlertEngine` and `OutboxSender`.

One cycle every `WATCH_INTERVAL_SECONDS`: every watched stream is read once (however many channels watch
it) with at most `WATCH_CONCURRENCY` reads in flight, start times spread over part of the interval so a
thousand streams do not hit DIS at once. Reads go through `TaskService.tasks(stream, fresh=True)`: they skip
the command cache and refresh it. `*` watches are expanded through the streams list, re-read every
`discovery_interval` seconds.

Deep reads (the silent problems DIS does not report, `bot.watcher.silent`): after a stream's list read, the tasks
that need one are read in detail, with one description of the stream shared by them, inside that stream's slot
of the concurrency bound (so deep reads never add reads in flight): RUNNING tasks whose list-level last transfer
is missing or older than `WATCH_STALL_MINUTES` (every cycle), tasks with open failed partitions or discards (every
cycle, to see them end), a stalled task once the list shows a newer transfer or a retention threshold passes, and
every task once per `WATCH_DEEP_INTERVAL_SECONDS` in its stream's slot (a stable hash of the stream's name), so
1,000 streams are spread over the interval rather than read in one burst. The results are applied with
the list read, in one transaction. A failed deep read is neither a problem nor a recovery.

The store is opened and closed by the caller; `stop()` finishes the cycle in flight and flushes the outbox
within its timeout.

Replicas (`bot.watcher.leadership`): only the leader polls and delivers. `lead(term)` fences the store with the
lease's term and starts from what the store holds (another replica may have led since this one last did);
`step_down(reason)` stops polling and delivering at once, without a flush: that authority is gone. A
`FencedOut` from the store anywhere in a cycle or the outbox means the same: step down, never retry.

A database that refuses writes (`StoreUnavailable`) stops neither loop. A poll result that could not be
recorded is not remembered in memory either, so the next cycle finds the same change again and records (and
alerts) it then, if it still lasts; the outbox keeps what it could not record (see `OutboxSender`). While
writes fail, each cycle ends with one harmless write (`Store.check_writable`) so readiness comes back even
when nothing else needs writing; the store itself warns, at most once a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.config import Settings
from bot.dis.api import TaskReads
from bot.dis.lag import TaskLag, may_be_stalled, task_lag
from bot.dis.models import TaskList, TaskState
from bot.errors import DisError, FencedOut, NotFound, StoreUnavailable, Unavailable
from bot.store.base import (
    ALL_STREAMS,
    PROBLEM_DISCARDING,
    PROBLEM_PARTITIONS,
    PROBLEM_STALLED,
    SOURCE_CONFIG,
    Store,
    Subscription,
)
from bot.watcher.config import parse_dis_watch
from bot.watcher.engine import AlertEngine, Cycle, route
from bot.watcher.outbox import Backoff, OutboxSender
from bot.watcher.render import AlertRenderer
from bot.watcher.silent import ONE_HOUR, SIX_HOURS

logger = logging.getLogger("bot.watcher")

#: The flush budget of `stop()`. SIGTERM must end `dis-bot serve` within 10 s (platforms kill after that): the
#: rest is for closing the websocket, the servers and the clients, and the interpreter's exit (~0.2 s measured).
STOP_SECONDS = 8.0

PRUNE_EVERY = 3600.0
KEEP_HISTORY = 14 * 86400.0


@dataclass(frozen=True)
class CycleReport:
    """What one cycle did (returned by `run_cycle()`, kept as `Watcher.last_cycle`)."""

    started_at: float
    seconds: float
    streams: int
    failures: int


class Watcher:
    """Polls watched streams and keeps Slack informed (see module docstring).

    Args:
        settings: `DIS_WATCH`, `WATCH_INTERVAL_SECONDS`, `WATCH_CONCURRENCY`, `WATCH_REPEAT_MINUTES`,
            `WATCH_FAILURES_BEFORE_WARNING`.
        store: the opened store (`bot.store.open_store(settings.database_url)`).
        tasks: the shared `TaskService` (its cache is fed by the polls).
        slack: the Web API client the outbox posts with (`bot.server.build_watcher` builds it).
        clock: wall clock (tests inject a fake to step through reminders, snoozes and retry delays).
        spread: fraction of the interval over which a cycle's reads are started (0 = all at once,
            limited only by the concurrency).
        channel_interval: seconds between two Slack calls to one channel.
        backoff: delays of the outbox after 5xx and network errors.
        discovery_interval: seconds between two reads of the streams list for `*` watches.
        park_retry: seconds before a channel Slack refuses is tried again.
        store_retry: seconds the outbox waits after the database refused a write.
        owns_store: `stop()` closes the store (it was opened for this watcher).

    Raises:
        ConfigError: `DIS_WATCH` is malformed (the message names DIS_WATCH).
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        tasks: TaskReads,
        slack: AsyncWebClient,
        *,
        renderer: AlertRenderer,
        clock: Callable[[], float] = time.time,
        spread: float = 0.5,
        channel_interval: float = 1.0,
        backoff: Backoff | None = None,
        discovery_interval: float = 300.0,
        park_retry: float = 900.0,
        store_retry: float = 5.0,
        owns_store: bool = False,
    ) -> None:
        self.settings = settings
        self.store = store
        self.tasks = tasks
        self.clock = clock
        self.interval = settings.watch_interval_seconds
        self.concurrency = settings.watch_concurrency
        self.spread = max(0.0, min(1.0, spread))
        self.discovery_interval = discovery_interval
        self.config_watches = parse_dis_watch(settings.dis_watch)
        self.engine = AlertEngine(
            store,
            renderer,
            clock=clock,
            repeat_minutes=settings.watch_repeat_minutes,
            failures_before_warning=settings.watch_failures_before_warning,
            stall_minutes=settings.watch_stall_minutes,
            quiet_seconds=settings.watch_stall_minutes * 60 or settings.watch_deep_interval_seconds,
        )
        self.stall_seconds = max(0.0, settings.watch_stall_minutes * 60)
        self.deep_interval = max(0.0, settings.watch_deep_interval_seconds)
        #: stream -> when its tasks' deep slots were last considered (a slot passed since then is due now).
        self._deep_at: dict[str, float] = {}
        self.sender = OutboxSender(
            store,
            slack,
            self.engine.render,
            clock=clock,
            channel_interval=channel_interval,
            backoff=backoff,
            park_retry=park_retry,
            store_retry=store_retry,
        )
        self.engine.on_enqueue = self.sender.wake
        self.sender.on_fenced = self._fenced
        self.last_cycle: CycleReport | None = None
        self.cycles = 0
        self._streams: list[str] | None = None
        self._discovered_at = float("-inf")
        self._pruned_at = float("-inf")
        self._stopping = False
        self._stop_event: asyncio.Event | None = None
        self._cycle: asyncio.Task[None] | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._sender_task: asyncio.Task[None] | None = None
        #: start() could not write (DIS_WATCH, rows left mid-send): each cycle tries again before polling.
        self._resume_pending = False
        self._owns_store = owns_store
        #: Whether this process polls and delivers now (`start()`/`lead()` until `stop()`/`step_down()`).
        self.leading = False
        #: One of several replicas (PostgreSQL): while it does not lead, it is a standby (`standby`).
        self.replicated = False
        #: Called with the reason when a fenced write finds another leader's term (the lease's owner listens).
        self.on_fenced: Callable[[str], None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def sync_config(self) -> None:
        """Make the `DIS_WATCH` watches exist, and remove config watches no longer configured."""
        now = self.clock()
        wanted = {(channel, stream) for stream, channel in self.config_watches}
        async with self.store.transaction():
            existing = {(s.channel_id, s.stream): s for s in await self.store.subscriptions()}
            for channel, stream in sorted(wanted - set(existing)):
                await self.store.upsert_subscription(channel, stream, now=now, source=SOURCE_CONFIG)
            for key, sub in existing.items():
                if sub.source == SOURCE_CONFIG and key not in wanted:
                    await self.store.remove_subscription(*key)
                    await self.engine.unwatched(*key)

    async def start(self) -> None:
        """Sync `DIS_WATCH`, resume the outbox (rows caught mid-send go again), start polling.

        If the database refuses those writes (another process holds its lock), start() still returns and every
        cycle tries them again; polling and the outbox begin once they are done, so no row is sent before the
        rows a previous process left mid-send are reset.
        """
        await self.lead(None)

    async def lead(self, term: int | None) -> None:
        """Start polling and delivering as the leader of `term` (None: a single instance, nothing to fence).

        What an earlier leader did is in the store, not in this process's memory: the engine reloads it, and the
        outbox forgets what it kept about rows (the rows a dead leader left mid-send are sent again).
        """
        await self._quiesce()
        self.store.fence(term)
        if term is not None:
            self.engine.reload()
            self._streams = None
            self._discovered_at = float("-inf")
        self.sender.reset()
        self.leading = True
        self._stopping = False
        self._stop_event = asyncio.Event()
        try:
            self._resume_pending = not await self._resume_store()
        except FencedOut as exc:
            self._fenced(exc)
            return
        if not self.leading:
            return  # stepped down while resuming: start nothing
        if self._resume_pending:
            logger.warning("watch.start_deferred")  # the store says why (store.write_failing)
        # The first cycle starts now, so a stop() right after start() still finishes a poll in flight.
        self._cycle = asyncio.create_task(self._safe_cycle(), name="watch-cycle")
        self._loop_task = asyncio.create_task(self._run(), name="watch-loop")
        logger.info(
            "watch.started",
            extra={"interval": self.interval, "concurrency": self.concurrency, "outbox": await self._outbox_depth()},
        )
        if 0 < self.stall_seconds < OBS_DELIVER_SECONDS:
            logger.warning(
                "watch.stall_threshold_short",
                extra={
                    "stall_minutes": self.stall_seconds / 60,
                    "hint": f"WATCH_STALL_MINUTES is below the {OBS_DELIVER_SECONDS / 60:g} min an OBS dump task "
                    "waits between deliveries by default: healthy tasks look stalled between two deliveries",
                },
            )

    async def _resume_store(self) -> bool:
        """The start's writes (DIS_WATCH, rows left mid-send), then the outbox; False while the store refuses."""
        try:
            await self.store.open()  # migrations (a store that was not reachable at start migrates now)
            await self.sync_config()
            resumed = await self.store.recover_sending()
        except StoreUnavailable:
            return False
        if resumed:
            logger.warning("outbox.resumed_in_flight", extra={"rows": resumed})
        self._sender_task = asyncio.create_task(self.sender.run(), name="watch-outbox")
        self._resume_pending = False
        return True

    def step_down(self, reason: str) -> None:
        """Stop polling and delivering now (leadership lost): no flush, no new Slack call, no new poll.

        A Slack call already in flight finishes and its outcome is recorded only if the term still holds (the
        store fences it); the next leader sends again what this one could not record.
        """
        if not self.leading:
            return
        self.leading = False
        self._stopping = True
        metrics.forget_watched()  # the new leader publishes them now; ours would only go stale
        logger.warning("watch.stepped_down", extra={"reason": reason})
        if self._stop_event is not None:
            self._stop_event.set()
        self.sender.halt()
        for task in (self._loop_task, self._cycle):
            if task is not None and not task.done():
                task.cancel()

    async def _quiesce(self) -> None:
        """Wait for the tasks of an earlier leadership to end (after `step_down` cancelled or halted them)."""
        for task in (self._loop_task, self._cycle, self._sender_task):
            if task is not None and not task.done():
                await _cancel(task)
        self._loop_task = self._cycle = self._sender_task = None

    def _fenced(self, exc: FencedOut) -> None:
        """A fenced write found another leader's term: step down (and tell the lease's owner)."""
        reason = str(exc)
        self.step_down(reason)
        if self.on_fenced is not None:
            self.on_fenced(reason)

    @property
    def standby(self) -> bool:
        """A replica that does not lead now: it serves Slack, and leaves polls and delivery to the leader."""
        return self.replicated and not self.leading

    def poke(self) -> None:
        """Start the next cycle now (a watch was added, perhaps on another replica)."""
        if self.leading and self._stop_event is not None and not self._stopping:
            self._stop_event.set()  # the loop's wait between cycles ends (it checks `_stopping` first)

    async def stop(self, timeout: float = STOP_SECONDS) -> bool:  # noqa: ASYNC109 - the shutdown budget is the API
        """Finish the cycle in flight, then deliver what can be delivered, all within `timeout` seconds.

        A replica that does not lead (a standby, or one that stepped down) has nothing to flush.

        Returns:
            True if the outbox was empty at the end (parked rows for refused channels aside).
        """
        if not self.leading:
            await self._quiesce()
            if self._owns_store:
                await self.store.close()
            return True
        self.leading = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._stopping = True
        cut_short = False
        if self._stop_event is not None:
            self._stop_event.set()
        if self._cycle is not None and not self._cycle.done():
            done, _ = await asyncio.wait({self._cycle}, timeout=max(0.0, deadline - loop.time()))
            if not done:
                logger.warning("watch.cycle_cancelled_on_stop")
                await _cancel(self._cycle)
        if self._loop_task is not None:
            await _cancel(self._loop_task)
        if self._sender_task is not None:
            self.sender.request_stop()
            done, _ = await asyncio.wait({self._sender_task}, timeout=max(0.0, deadline - loop.time()))
            if not done:
                # Still in a Slack call at the deadline: its row stays "sending" (the next start sends it again),
                # which the pending rows below do not show, so the flush did not finish.
                await _cancel(self._sender_task)
                cut_short = True
        flushed = True
        remaining = deadline - loop.time()
        if remaining > 0:
            try:
                flushed = await asyncio.wait_for(self.sender.drain(self.clock() + remaining), remaining)
            except TimeoutError:
                flushed = False
        else:
            try:
                flushed = await self.sender.next_delay() is None
            except StoreUnavailable:
                flushed = False
        flushed = flushed and not cut_short
        if self.sender.unrecorded:
            # Slack took these but the store never recorded it: the next start sends them again (duplicates).
            logger.warning("watch.stopped_unrecorded", extra={"rows": len(self.sender.unrecorded)})
        logger.info("watch.stopped", extra={"flushed": flushed, "outbox": await self._outbox_depth()})
        if self._owns_store:
            await self.store.close()
        return flushed

    async def _outbox_depth(self) -> int | None:
        """Rows waiting, for the start and stop log lines (None if the database cannot be read right now)."""
        try:
            return await self.store.outbox_depth()
        except StoreUnavailable:
            return None

    async def flush(self) -> int:
        """Deliver every outbox row that is due now (tests); returns how many calls were attempted."""
        total = 0
        while n := await self.sender.deliver_due():
            total += n
        return total

    # ------------------------------------------------------------------ cycles

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = due = loop.time()
        while True:
            if self._cycle is None or self._cycle.done():
                if self._stopping:
                    return
                # Behind schedule: how long after its due time this cycle starts (a cycle that overran the
                # interval makes the next one late by the overrun, even though it then starts at once).
                metrics.WATCH_LAG.set(max(0.0, loop.time() - due))
                self._cycle = asyncio.create_task(self._safe_cycle(), name="watch-cycle")
            # `wait`, not `await`: cancelling the loop must not cancel the cycle (stop() lets it finish).
            await asyncio.wait({self._cycle})
            if self._stopping:
                return
            next_at += self.interval
            due = next_at
            if next_at < loop.time():
                next_at = loop.time()  # overran: start the next cycle now, and keep the rhythm from here
            if self._stop_event is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_event.wait(), max(0.0, next_at - loop.time()))
                self._stop_event.clear()  # a poke (`poke()`): this cycle starts now; a stop returns above

    async def _safe_cycle(self) -> None:
        try:
            if not self._resume_pending or await self._resume_store():
                await self.run_cycle()
        except StoreUnavailable:
            logger.debug("watch.cycle_unrecorded")  # the store warns (once a minute); the next cycle retries
        except FencedOut as exc:
            self._fenced(exc)
            return
        except Exception:
            logger.exception("watch.cycle_failed")
        if self.store.faults.failing:
            # A quiet bot may have nothing to write for hours: prove writes work, so readiness comes back.
            with contextlib.suppress(StoreUnavailable):
                await self.store.check_writable()
        now = self.clock()
        if now - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = now
            try:
                removed = await self.store.prune(now - KEEP_HISTORY)
                if removed:
                    logger.info("watch.pruned", extra={"rows": removed})
            except StoreUnavailable:
                pass  # an hour from now
            except FencedOut as exc:
                self._fenced(exc)
            except Exception:
                logger.exception("watch.prune_failed")

    async def run_cycle(self) -> CycleReport:
        """One poll of every watched stream, then the roll-up, recovery replies and reminders."""
        started = self.clock()
        t0 = time.monotonic()
        await self.engine.load()
        subs = await self.store.subscriptions()
        self.engine.removed.clear()  # routed from the store just now: later unwatches are recorded anew
        wildcard = [s for s in subs if s.is_wildcard]
        streams = {s.stream for s in subs if not s.is_wildcard}
        cycle = Cycle()
        if wildcard:
            streams |= set(await self._discover(wildcard, cycle) or ())
        if not wildcard or self._streams is not None:
            # The set of streams is complete: whatever is known but not polled any more leaves quietly.
            known = (set(self.engine.states) | set(self.engine.polls) | set(self.engine.health)) - {ALL_STREAMS}
            for gone in sorted(known - streams):
                await self.engine.forget_stream(gone)
                self._deep_at.pop(gone, None)
        ordered = sorted(streams)
        routes = route(subs, ordered)
        failures = await self._poll_all(ordered, routes, cycle)
        try:
            await self.engine.finish_cycle(cycle)
            if wildcard and self._streams is not None:
                for sub in wildcard:
                    if sub.baseline_pending:
                        await self.store.set_baseline_done(sub.channel_id, ALL_STREAMS)
        except StoreUnavailable:
            # Roll-up, recovery replies and reminders all come from the store: the next cycle does them again.
            logger.debug("watch.finish_unrecorded")
        if self.replicated:
            await self._publish_polls()
        seconds = time.monotonic() - t0
        metrics.WATCH_CYCLE.observe(seconds)
        self.cycles += 1
        self.last_cycle = CycleReport(started, seconds, len(ordered), failures)
        logger.debug("watch.cycle", extra={"streams": len(ordered), "seconds": round(seconds, 3)})
        return self.last_cycle

    async def _publish_polls(self) -> None:
        """Record the cycle's last polls for the standbys' `/dis watching` and App Home (one write per cycle)."""
        polls = list(self.engine.polls.values())
        try:
            await self.store.put_stream_polls(polls)
        except StoreUnavailable:
            logger.debug("watch.polls_unrecorded")  # the next cycle records them again

    async def _discover(self, wildcard: list[Subscription], cycle: Cycle) -> list[str] | None:
        """The project's stream names for `*` watches (cached for `discovery_interval`)."""
        now = self.clock()
        if self._streams is not None and now - self._discovered_at < self.discovery_interval:
            return self._streams
        try:
            infos = await self.tasks.streams(fresh=True)
        except DisError as exc:
            await self.engine.record_poll_failure(ALL_STREAMS, exc, wildcard, cycle)
            logger.warning("watch.discovery_failed", extra={"error_kind": exc.kind})
            return self._streams
        await self.engine.record_list_readable()
        self._streams = sorted({i.stream_name for i in infos})
        self._discovered_at = now
        return self._streams

    async def _poll_all(self, streams: Sequence[str], routes: dict[str, list[Subscription]], cycle: Cycle) -> int:
        if not streams:
            return 0
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        window = self.interval * self.spread
        semaphore = asyncio.Semaphore(self.concurrency)
        running: set[asyncio.Task[bool]] = set()
        failures = 0

        async def one(stream: str) -> bool:
            try:
                return await self._poll(stream, routes[stream], cycle)
            finally:
                semaphore.release()

        def done(task: asyncio.Task[bool]) -> None:
            nonlocal failures
            running.discard(task)
            if not task.cancelled() and not task.result():
                failures += 1

        n = len(streams)
        try:
            for i, stream in enumerate(streams):
                delay = t0 + window * i / n - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await semaphore.acquire()
                task = asyncio.create_task(one(stream))
                running.add(task)
                task.add_done_callback(done)
            while running:
                await asyncio.wait(set(running))
        except asyncio.CancelledError:
            for task in running:
                task.cancel()
            raise
        return failures

    async def _poll(self, stream: str, subs: list[Subscription], cycle: Cycle) -> bool:
        """Read one stream and apply the result; False if the read failed."""
        read = self.engine.read_started(stream)
        try:
            result = await self.tasks.tasks(stream, fresh=True)
        except DisError as exc:
            if isinstance(exc, NotFound) and exc.task is None and all(s.is_wildcard for s in subs):
                # Deleted since the streams were listed: re-list next cycle; it leaves quietly then.
                self._discovered_at = float("-inf")
                logger.info("watch.stream_gone", extra={"stream": stream})
                return False
            await self._record(self.engine.record_poll_failure, stream, exc, subs, cycle, read=read)
            logger.info("watch.poll_failed", extra={"stream": stream, "error_kind": exc.kind})
            return False
        except Exception as exc:
            logger.exception("watch.poll_crashed", extra={"stream": stream})
            error = Unavailable(f"unexpected {type(exc).__name__}")
            await self._record(self.engine.record_poll_failure, stream, error, subs, cycle, read=read)
            return False
        try:
            deep = await self._deep_reads(stream, result)
        except Exception:
            logger.exception("watch.deep_read_crashed", extra={"stream": stream})
            deep = {}  # the list read still counts: its alerts do not wait on the details
        await self._record(self.engine.record_poll, stream, result, subs, cycle, read=read, deep=deep)
        return True

    def deep_due(self, stream: str, result: TaskList, now: float) -> list[str]:
        """The tasks of `stream` to read in detail this cycle (see the module docstring)."""
        if self.stall_seconds <= 0 and self.deep_interval <= 0:
            return []
        before = self._deep_at.get(stream, now - self.interval)
        self._deep_at[stream] = now
        slot = self.deep_interval > 0 and _slot_passed(stream, before, now, self.deep_interval)
        open_ = self.engine.silent.get(stream, {})
        due: list[str] = []
        for task in result.tasks:
            running = task.state == TaskState.RUNNING
            problems = open_.get(task.task_name, {})
            last = task.last_transfer_timestamp
            if running and (PROBLEM_PARTITIONS in problems or PROBLEM_DISCARDING in problems):
                due.append(task.task_name)  # only a deep read shows them end
            elif running and PROBLEM_STALLED in problems:
                if slot or _stall_changed(problems[PROBLEM_STALLED], last, before, now):
                    due.append(task.task_name)
            elif may_be_stalled(task, self.stall_seconds, now):
                due.append(task.task_name)
            elif slot and task.state != TaskState.DELETE:
                due.append(task.task_name)
        return due

    async def _deep_reads(self, stream: str, result: TaskList) -> dict[str, TaskLag]:
        """Deep-read the tasks due (fresh, single flight, in this stream's slot of the concurrency bound).

        The stream is described first, then the tasks: a task that transfers in between reads a smaller backlog,
        never a larger one, so a race can hide a stall for a cycle but never invent one.
        """
        now = self.clock()
        names = self.deep_due(stream, result, now)
        if not names:
            return {}
        try:
            described = await self.tasks.stream(stream, fresh=True)
        except DisError as exc:
            logger.info("watch.deep_read_failed", extra={"stream": stream, "error_kind": exc.kind})
            return {}
        out: dict[str, TaskLag] = {}
        for name in names:
            try:
                detail = await self.tasks.task(stream, name, fresh=True)
            except DisError as exc:
                logger.info("watch.deep_read_failed", extra={"stream": stream, "task": name, "error_kind": exc.kind})
                continue
            out[name] = task_lag(detail, described, read_at=now)
        return out

    async def _record(self, apply: Callable[..., Awaitable[None]], stream: str, *args: Any, **kwargs: Any) -> None:
        """Apply a poll's result; if the store refuses, the engine remembers nothing, so the next poll redoes it."""
        try:
            await apply(stream, *args, **kwargs)
        except StoreUnavailable:
            logger.debug("watch.poll_unrecorded", extra={"stream": stream})  # the store warns, once a minute
        except FencedOut as exc:
            self._fenced(exc)  # cancels this cycle: the new leader polls again from what the store holds
        except Exception:
            logger.exception("watch.apply_failed", extra={"stream": stream})


#: How long an OBS dump task waits between two deliveries by default (`deliver_time_interval`, 30 to 900 s).
OBS_DELIVER_SECONDS = 300.0


def _slot_passed(stream: str, before: float, now: float, interval: float) -> bool:
    """Whether the stream's deep slot (a phase in [0, interval) from a stable hash of its name) came round in
    (before, now]. One slot per stream, not per task: its tasks are read in the same cycle and share one
    description of the stream (per-task slots cost a description for nearly every task read)."""
    digest = hashlib.blake2b(stream.encode(), digest_size=8).digest()
    phase = int.from_bytes(digest, "big") / 2**64 * interval
    return math.floor((now - phase) / interval) > math.floor((before - phase) / interval)


def _stall_changed(detail: dict[str, Any], listed_ms: int | None, before: float, now: float) -> bool:
    """Whether an open stall needs a deep read: the list shows a transfer it did not when the stall was found
    (it may have ended), or a retention threshold (6 h, 1 h left, loss) passed since the last cycle (an edit)."""
    if "list_transfer_ms" not in detail or listed_ms != detail["list_transfer_ms"]:
        return True
    loss_at = detail.get("loss_at")
    if loss_at is None:
        return False
    return any(before < loss_at - ahead <= now for ahead in (SIX_HOURS, ONE_HOUR, 0.0))


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
