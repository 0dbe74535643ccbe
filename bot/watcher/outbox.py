"""OutboxSender: delivers the queued Slack calls, new alerts first in each channel, never dropping one.

- Order (`Store.outbox_heads`): one call per channel at a time; a new alert's post goes before the edits,
  replies and reminders of other alerts queued in that channel, so a backlog of them cannot delay news by
  more than the call in flight. An alert's own edits and replies never overtake its post or each other.
- Rate: at most one call per channel every `channel_interval` seconds (Slack allows about one message per
  second per channel), channels in parallel up to `concurrency`.
- 429: the row waits for `Retry-After`. 5xx, network errors and timeouts: exponential backoff with jitter,
  retried for ever (capped at `Backoff.cap`); nothing is dropped, and failures are counted in metrics.
- `channel_not_found`, `not_in_channel`, `is_archived`: the channel's rows are *parked* and the error is
  recorded on its watches (shown by `/dis watching`); parked rows are tried again every `park_retry`
  seconds, or at once when someone runs `/dis watch` there, so inviting the bot repairs it.
- Slack heard from again (`slack_back()`: the Socket Mode websocket opened, or a Web API call worked after
  failures): rows that failed only because Slack could not be reached or was down (network, 5xx, `fatal_error`,
  ...) are due at once instead of after their backoff (up to `Backoff.cap`), so an alert that waited out an outage
  is sent within a pass of Slack's return. A 429's Retry-After still holds.
- A refused token, a missing scope or Slack's own trouble (`fatal_error`, ...) keeps the row: retried with backoff.
  Which Slack code means what is decided once, in `bot.slack_errors`.
- A message Slack refuses as too large is sent again as plain text rather than lost.
- Alerts are rendered when sent, so an update always shows the latest state, a waiting update makes later
  ones redundant, and an update (or a `mention` reply) queued before the post was rendered is skipped: the
  post showed it.
- The database refusing a write (`StoreUnavailable`: locked, disk full, read-only) never ends delivery. A row
  that could not be marked as being sent was not sent: it waits in the store. What Slack answered for a row
  that was sent but could not be recorded is kept in memory and recorded first once the store takes writes
  again (that channel waits meanwhile, so order holds and the message is not sent twice). Passes pause for
  `store_retry` seconds after a refused write instead of spinning, or until any write works again.

Duplicates: a row is marked done only once Slack's answer is back. A message Slack accepted whose answer
never arrived is sent again: on the next start if the process died meanwhile (the window is one Slack round
trip), or by the retry if the answer was lost (connection reset, timeout). Every message posted from the
outbox carries its row's idempotency key in its metadata, so such a duplicate shows as two messages with
one key. The same holds for as long as the database refuses writes (see above):
those rows are sent again if the process stops before it can record them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.errors import FencedOut, StoreUnavailable
from bot.message import Message
from bot.slack_errors import SLACK_DOWN_ERRORS, Kind, read_error
from bot.store.base import OUT_MENTION, OUT_MESSAGE, OUT_POST, OUT_REPLY, OUT_UPDATE, PENDING, OutboxItem, Store
from bot.watcher.ids import ALERT_METADATA_EVENT

logger = logging.getLogger("bot.outbox")

#: A row's `last_error` that says nothing about the row, only that Slack could not be reached or was down: such
#: rows are due again as soon as Slack is heard from (`OutboxSender.slack_back`). Not `ratelimited`: Retry-After.
SLACK_UNREACHED = frozenset({"network", "server_error"} | SLACK_DOWN_ERRORS)


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts of one outbox row.

    Args:
        base: delay after the first failure; doubles with each attempt.
        cap: longest delay between attempts (retries never stop).
        jitter: "full jitter" so many rows do not retry in lockstep.
        max_retry_after: cap on Slack's Retry-After.
    """

    base: float = 1.0
    cap: float = 300.0
    jitter: bool = True
    max_retry_after: float = 900.0

    def delay(self, attempt: int) -> float:
        top = min(self.cap, self.base * 2 ** max(attempt - 1, 0))
        return random.uniform(top / 2, top) if self.jitter else top


@dataclass(frozen=True)
class _Outcome:
    action: str  # done, retry, park, dead
    error: str | None = None
    delay: float = 0.0
    ts: str | None = None
    seq: int = 0


class OutboxSender:
    """Delivers outbox rows through the Slack Web API (see module docstring).

    Args:
        store: the outbox.
        client: the shared `AsyncWebClient` (base URL `SLACK_API_URL`).
        render: alert id -> its root message as it should look now (`AlertEngine.render`).
        clock: wall clock in epoch seconds (the outbox's `not_before` times use it).
        channel_interval: seconds between two calls to one channel (tests: 0).
        concurrency: channels served at once.
        backoff: delays after 5xx and network errors.
        park_retry: seconds before a refused channel is tried again.
        store_retry: seconds between passes while the database refuses writes.
    """

    def __init__(
        self,
        store: Store,
        client: AsyncWebClient,
        render: Callable[[int], Awaitable[Message | None]],
        *,
        clock: Callable[[], float] = time.time,
        channel_interval: float = 1.0,
        concurrency: int = 4,
        backoff: Backoff | None = None,
        park_retry: float = 900.0,
        store_retry: float = 5.0,
    ) -> None:
        self.store = store
        self.client = client
        self.render = render
        self.clock = clock
        self.channel_interval = channel_interval
        self.backoff = backoff or Backoff()
        self.park_retry = park_retry
        self.store_retry = store_retry
        self._semaphore = asyncio.Semaphore(concurrency)
        self._pass = asyncio.Lock()
        self._next_ok: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        #: Channels whose watches show a delivery error (read from the store by the first pass).
        self._broken: set[str] | None = None
        self._next_probe = 0.0
        #: No pass before this time (clock): the store refused a write.
        self._store_ok_at = 0.0
        #: Rows Slack answered whose outcome the store refused to record, by id, oldest first.
        self.unrecorded: dict[int, tuple[OutboxItem, _Outcome, int]] = {}
        #: Slack was heard from again: the next pass makes rows that waited for it due now.
        self._slack_back = False
        #: Delivered calls since start (for tests and the benchmark).
        self.delivered = 0
        #: Leadership is gone (`halt()`): no Slack call starts until `reset()`.
        self._halted = False
        #: Called with a `FencedOut` when a delivery mark finds another leader's term (the watcher steps down).
        self.on_fenced: Callable[[FencedOut], None] | None = None

    # ------------------------------------------------------------------ control

    def wake(self) -> None:
        """Something was queued: deliver it now (if the channel's rate allows)."""
        self._wake.set()

    def slack_back(self) -> None:
        """Slack answered again (`Health.on_slack_back`): rows that waited only for Slack go now, not after their
        backoff (the next pass, woken here, makes them due)."""
        self._slack_back = True
        self._wake.set()

    async def retry_channel(self, channel_id: str) -> int:
        """Try a refused channel again now (someone ran `/dis watch` there, probably after inviting the bot)."""
        n = await self.store.unpark(channel_id, self.clock())
        if n:
            self.wake()
        return n

    def request_stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def halt(self) -> None:
        """Leadership is gone: start no Slack call from now on (one in flight finishes; its mark is fenced)."""
        self._halted = True
        self.request_stop()

    def reset(self) -> None:
        """Forget what an earlier leadership kept in memory: the store is the truth for a new leader (the rows
        it could not record are sent again by whoever leads, as after a crash)."""
        self._halted = False
        self._stopping = False
        self.unrecorded.clear()
        self._next_ok.clear()
        self._broken = None
        self._next_probe = 0.0
        self._store_ok_at = 0.0

    def _fenced(self, exc: FencedOut) -> None:
        self.halt()
        logger.warning("outbox.fenced_out", extra={"reason": str(exc)})
        if self.on_fenced is not None:
            self.on_fenced(exc)

    async def run(self) -> None:
        """Deliver until `request_stop()`; sleeps until the next row is due or something is queued.

        Nothing ends this loop but `request_stop()`: a store fault pauses it for `store_retry` seconds, and so
        does a bug (logged), so one bad moment never leaves every later alert undelivered.
        """
        self._stopping = False
        while not self._stopping and not self._halted:
            self._wake.clear()
            try:
                if await self.deliver_due():
                    continue
                delay = await self.next_delay()
            except StoreUnavailable:
                delay = self._hold()
            except FencedOut as exc:
                self._fenced(exc)
                return
            except Exception:
                logger.exception("outbox.loop_failed")
                delay = self._hold()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass

    async def drain(self, deadline: float) -> bool:
        """Deliver until nothing deliverable is left or the clock passes `deadline`; True if all went."""
        while self.clock() < deadline:
            if self._halted:
                return False
            if await self.deliver_due():
                continue
            try:
                delay = await self.next_delay()
            except StoreUnavailable:
                delay = self._hold()
            if delay is None:
                return True
            remaining = deadline - self.clock()
            if delay > remaining:
                return False
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass
        try:
            return await self.next_delay() is None
        except StoreUnavailable:
            return False

    async def next_delay(self) -> float | None:
        """Seconds until some pending row may be sent (None: nothing pending)."""
        heads = await self.store.outbox_heads()
        if not heads and not self.unrecorded:
            return None
        now = self.clock()
        soonest = min((max(h.not_before, self._next_ok.get(h.channel_id, 0.0)) for h in heads), default=now)
        return max(0.0, soonest - now, self._store_ok_at - now if self.store.faults.failing else 0.0)

    async def deliver_due(self) -> int:
        """Send the head row of every channel that is due now; returns how many were attempted."""
        async with self._pass:  # one pass at a time (the loop, stop()'s drain, a test's flush)
            if self._halted:
                return 0
            now = self.clock()
            if now < self._store_ok_at and self.store.faults.failing:
                return 0  # paused after a refused write (a write elsewhere that worked ends the pause)
            try:
                if self._broken is None:
                    self._broken = {s.channel_id for s in await self.store.subscriptions() if s.delivery_error}
                await self._record_unrecorded()
                await self._due_now_slack_is_back(now)
                await self._probe_parked(now)
                heads = await self.store.outbox_heads()
            except StoreUnavailable:
                self._hold()
                return 0
            except FencedOut as exc:
                self._fenced(exc)
                return 0
            due = [h for h in heads if h.not_before <= now and self._next_ok.get(h.channel_id, 0.0) <= now]
            if due:
                await asyncio.gather(*(self._guarded(item) for item in due))
            with contextlib.suppress(StoreUnavailable):
                metrics.OUTBOX_DEPTH.set(await self.store.outbox_depth())
            return len(due)

    # ------------------------------------------------------------------ store faults

    def _hold(self) -> float:
        """The store refused a write: no pass for `store_retry` seconds (the store logs the fault, rate-limited)."""
        self._store_ok_at = self.clock() + self.store_retry
        return self.store_retry

    async def _record(self, item: OutboxItem, outcome: _Outcome, attempt: int) -> None:
        """Record what Slack answered, or keep it for later if the store refuses (never send the row again)."""
        try:
            await self._apply(item, outcome, attempt)
        except FencedOut as exc:
            # Not ours to record any more: the next leader finds the row mid-send and sends it again.
            logger.warning("outbox.outcome_fenced", extra={"key": item.key, "action": outcome.action})
            self._fenced(exc)
        except StoreUnavailable:
            self.unrecorded[item.id] = (item, outcome, attempt)
            self._hold()
            logger.info("outbox.outcome_unrecorded", extra={"key": item.key, "action": outcome.action})

    async def _record_unrecorded(self) -> None:
        """Record the outcomes the store refused before, oldest first; raises `StoreUnavailable` if it still does."""
        for item_id, (item, outcome, attempt) in list(self.unrecorded.items()):
            await self._apply(item, outcome, attempt)
            del self.unrecorded[item_id]

    # ------------------------------------------------------------------ one row

    async def _probe_parked(self, now: float) -> None:
        if now < self._next_probe:
            return
        later = [now + 60.0]
        for channel, when in (await self.store.parked_channels()).items():
            if when <= now:
                await self.store.unpark(channel, now)
            else:
                later.append(when)
        self._next_probe = min(later)

    async def _due_now_slack_is_back(self, now: float) -> None:
        """After `slack_back()`: the pending rows that failed only for want of Slack are due now (their attempts
        count stays, so a Slack that fails again backs off from where it was)."""
        if not self._slack_back:
            return
        self._slack_back = False
        try:
            waiting = [
                row
                for row in await self.store.outbox(state=PENDING)
                if row.not_before > now and row.last_error in SLACK_UNREACHED
            ]
            if waiting:
                async with self.store.transaction():
                    for row in waiting:
                        await self.store.mark_retry(row.id, not_before=now, error=row.last_error or "")
        except StoreUnavailable:
            self._slack_back = True  # the next pass that reaches the store does it
            raise
        if waiting:
            logger.info("outbox.slack_back", extra={"rows": len(waiting)})

    async def _guarded(self, item: OutboxItem) -> None:
        async with self._semaphore:
            if self._halted:
                return  # leadership went while this row waited for its turn
            try:
                await self._deliver(item)
            except FencedOut as exc:
                self._fenced(exc)  # the row could not be marked as being sent, so it was not sent
            except StoreUnavailable:
                # The row could not be marked as being sent, so it was not sent: it waits, pending, in the store.
                self._hold()
            except Exception:
                # A bug (rendering, store) must not stop delivery of every other row: back off this one.
                logger.exception("outbox.internal_error", extra={"outbox_id": item.id, "key": item.key})
                delay = self.backoff.delay(item.attempts + 1)
                await self._record(item, _Outcome("retry", "internal_error", delay), item.attempts + 1)

    async def _deliver(self, item: OutboxItem) -> None:
        await self.store.mark_sending(item.id)
        self._next_ok[item.channel_id] = self.clock() + self.channel_interval
        attempt = item.attempts + 1
        try:
            outcome = await self._send(item)
        except SlackApiError as exc:
            outcome = self._classify(exc, attempt)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            outcome = _Outcome("retry", "network", self.backoff.delay(attempt))
            logger.warning("outbox.network_error", extra={"key": item.key, "error": type(exc).__name__})
        except StoreUnavailable:
            # Reading the alert to render it failed: nothing went to Slack; try again when the store answers.
            outcome = _Outcome("retry", "store_unavailable", 0.0)
        await self._record(item, outcome, attempt)

    async def _apply(self, item: OutboxItem, outcome: _Outcome, attempt: int) -> None:
        """Record one outcome: the store first, then memory, metrics and logs, so a refused write changes nothing
        and the same outcome can be applied again later (`unrecorded`)."""
        now = self.clock()
        extra = {"key": item.key, "channel": item.channel_id, "attempt": attempt, "error": outcome.error}
        if outcome.action == "done":
            async with self.store.transaction():
                if outcome.ts is not None and item.kind == OUT_POST and item.alert_id is not None:
                    await self.store.set_alert_posted(item.alert_id, outcome.ts, now, outcome.seq)
                await self.store.mark_done(item.id, now)
                if self._broken is None or item.channel_id in self._broken:
                    await self.store.set_delivery_error(item.channel_id, None, now)
                    await self.store.unpark(item.channel_id, now)
            if self._broken is not None:
                self._broken.discard(item.channel_id)
            self.delivered += 1
            logger.debug("outbox.delivered", extra=extra)
            return
        if outcome.action == "retry":
            await self.store.mark_retry(item.id, not_before=now + outcome.delay, error=outcome.error or "")
            if outcome.error == "ratelimited":
                # Slack asked this channel to slow down: nothing else goes there before Retry-After.
                self._next_ok[item.channel_id] = now + outcome.delay
            logger.warning("outbox.retry", extra={**extra, "delay": round(outcome.delay, 3)})
        elif outcome.action == "park":
            async with self.store.transaction():
                await self.store.park_channel(item.channel_id, outcome.error or "", not_before=now + self.park_retry)
                await self.store.set_delivery_error(item.channel_id, outcome.error, now)
            if self._broken is not None:
                self._broken.add(item.channel_id)
            self._next_probe = min(self._next_probe, now + self.park_retry)
            logger.error("outbox.channel_refused", extra=extra)
        else:
            await self.store.mark_dead(item.id, outcome.error or "")
            logger.error("outbox.dropped", extra=extra)
        metrics.OUTBOX_FAILURES.labels(error=outcome.error or "unknown").inc()

    def _classify(self, exc: SlackApiError, attempt: int) -> _Outcome:
        failure = read_error(exc)
        kind = failure.kind
        if kind is Kind.RATELIMITED:
            wait = min(failure.retry_after if failure.retry_after is not None else 1.0, self.backoff.max_retry_after)
            return _Outcome("retry", "ratelimited", wait)
        if failure.status >= 500:
            return _Outcome("retry", "server_error", self.backoff.delay(attempt))
        if kind is Kind.CHANNEL_REFUSED:
            return _Outcome("park", failure.code)
        if kind is Kind.MESSAGE_GONE:
            return _Outcome("dead", failure.code)
        if kind in (Kind.SLACK_DOWN, Kind.TOKEN_REFUSED, Kind.NOT_PERMITTED):
            # Workspace-wide trouble (Slack's, or a token or install an admin must fix): keep every alert and
            # retry with backoff, shouting in the logs, rather than drop them.
            return _Outcome("retry", failure.code, self.backoff.delay(attempt))
        return _Outcome("dead", failure.code)

    async def _send(self, item: OutboxItem) -> _Outcome:
        if item.kind == OUT_MESSAGE:
            await self._post(item.channel_id, _message(item.payload), metadata=_key_metadata(item))
            return _Outcome("done")
        if item.alert_id is None:
            return _Outcome("dead", "no_alert")
        alert = await self.store.alert(item.alert_id)
        if alert is None:
            return _Outcome("dead", "alert_gone")
        if item.kind == OUT_POST:
            if alert.ts is not None:
                return _Outcome("done")  # posted already (a replayed row)
            # Updates queued up to here are shown by this rendering; later ones are not (they may be racing it).
            seq = await self.store.outbox_seq()
            message = await self.render(item.alert_id)
            if message is None:
                return _Outcome("dead", "alert_gone")
            response = await self._post(item.channel_id, message, metadata=_key_metadata(item))
            return _Outcome("done", ts=str(response["ts"]), seq=seq)
        if alert.ts is None:
            return _Outcome("dead", "alert_not_posted")
        if item.kind == OUT_UPDATE:
            if item.id <= alert.posted_seq:
                return _Outcome("done")  # queued before the post was rendered: the post already showed it
            message = await self.render(item.alert_id)
            if message is None:
                return _Outcome("dead", "alert_gone")
            await self._call("chat_update", message, channel=item.channel_id, ts=alert.ts)
            return _Outcome("done")
        if item.kind == OUT_MENTION and item.id <= alert.posted_seq:
            return _Outcome("done")  # the post was rendered after this was queued: it mentioned them itself
        if item.kind in (OUT_REPLY, OUT_MENTION):
            await self._post(item.channel_id, _message(item.payload), thread_ts=alert.ts, metadata=_key_metadata(item))
            return _Outcome("done")
        return _Outcome("dead", f"unknown_kind_{item.kind}")

    async def _post(self, channel: str, message: Message, **extra: Any) -> Any:
        return await self._call(
            "chat_postMessage", message, channel=channel, unfurl_links=False, unfurl_media=False, **extra
        )

    async def _call(self, method: str, message: Message, **kwargs: Any) -> Any:
        call = getattr(self.client, method)
        try:
            return await call(text=message.text, blocks=message.blocks or None, **kwargs)
        except SlackApiError as exc:
            failure = read_error(exc)
            if failure.kind is not Kind.PAYLOAD_REFUSED or not message.blocks:
                raise
            logger.error("outbox.blocks_refused", extra={"error": failure.code, "method": method})
            return await call(text=message.text, **kwargs)


def _key_metadata(item: OutboxItem) -> dict[str, Any]:
    """Slack message metadata naming the row's idempotency key (a message sent twice shows one key twice)."""
    return {"event_type": ALERT_METADATA_EVENT, "event_payload": {"key": item.key}}


def _message(payload: dict[str, Any]) -> Message:
    return Message(str(payload.get("text") or " "), list(payload.get("blocks") or []))
