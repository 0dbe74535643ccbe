"""Leadership: the lease (`bot.leader`) decides when this replica's watcher polls and delivers.

Every replica serves Slack; only the leader runs the poll loop and drains the outbox. `Leadership` is the
background service that joins the two: the lease's `on_gained(term)` makes the watcher lead under that term (the
store fences every write of the leader with it), `on_lost(reason)` makes it step down at once. The lease's
connection LISTENs for wake-ups (`bot.wakeups`): a `/dis watch` recorded on any replica starts the leader's next
cycle now, and a row queued for Slack on any replica wakes the leader's outbox.

Stopping (SIGTERM) is the other way round: the watcher finishes its cycle and flushes the outbox while this replica
still leads, then the lease is released, which standbys hear about at once (a NOTIFY), so one takes over without
waiting for a lease to run out.

On SQLite the lease is a `LocalLease`: the single instance leads from start to stop, unfenced, as it always did.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from bot.leader import Lease, WakeCallback
from bot.wakeups import OUTBOX_QUEUED, WATCHES_CHANGED
from bot.watcher.watcher import Watcher

#: How long `stop()` lets a lead that is still starting finish before cancelling it (of SIGTERM's 10 s).
LEAD_START_GRACE_SECONDS = 1.0

logger = logging.getLogger("bot.watcher")


class Leadership:
    """Runs `watcher` while this replica holds `lease` (see module docstring).

    Build it, then give it the lease built with its callbacks (`gained`, `lost`, `listen`):

        role = Leadership(watcher, shared=True)
        role.lease = lease_for(url, interval, on_gained=role.gained, on_lost=role.lost, listen=role.listen)

    Args:
        watcher: the watcher to run.
        shared: several replicas share the database (PostgreSQL): fence the leader's writes with the term, and
            leave polls to the leader while this replica is a standby.
    """

    def __init__(self, watcher: Watcher, *, shared: bool) -> None:
        self.watcher = watcher
        self.shared = shared
        watcher.replicated = shared
        self.lease: Lease | None = None
        self._gains: asyncio.Queue[int] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    @property
    def listen(self) -> dict[str, WakeCallback]:
        """The wake-up channels the lease's connection LISTENs for, and what each wakes."""
        return {WATCHES_CHANGED: self._watches_changed, OUTBOX_QUEUED: self._outbox_queued}

    def gained(self, term: int) -> None:
        """The lease's `on_gained`: lead under `term` (in a task: the callback must not block)."""
        self._gains.put_nowait(term)

    def lost(self, reason: str) -> None:
        """The lease's `on_lost`: stop polling and delivering now (no flush: that authority is gone)."""
        self.watcher.step_down(reason)

    def _watches_changed(self, payload: str) -> None:
        self.watcher.poke()

    def _outbox_queued(self, payload: str) -> None:
        if self.watcher.leading:
            self.watcher.sender.wake()

    def readiness(self, now: float) -> tuple[bool, dict[str, Any]]:
        """`/readyz`'s "leader" part: which role this replica has. A healthy standby is ready (it serves Slack)."""
        lease = self.lease
        leading = lease is not None and lease.is_leader and self.watcher.leading
        detail: dict[str, Any] = {"ok": True, "role": "leader" if leading else "standby"}
        if leading and lease is not None and self.shared:
            detail["term"] = lease.term
        return True, detail

    async def start(self) -> None:
        """Start the lease; returns once a leadership it gained at once has started the watcher."""
        if self.lease is None:
            raise RuntimeError("Leadership.lease is not set")
        self._task = asyncio.create_task(self._run(), name="leadership")
        await self.lease.start()
        await self._gains.join()

    async def _run(self) -> None:
        while True:
            term = await self._gains.get()
            try:
                await self.watcher.lead(term if self.shared else None)
            except Exception:
                # A bug, not the database (the watcher copes with store faults): say so, and keep serving Slack.
                logger.exception("watch.lead_failed", extra={"term": term})
            finally:
                self._gains.task_done()

    async def stop(self) -> bool:
        """Flush as the leader (the watcher's `stop()`), then release the lease so a standby leads at once.

        Returns:
            What the watcher's `stop()` said: True if its outbox was flushed.
        """
        if self._task is not None:
            # A lead still starting (SIGTERM right after start-up) gets a moment to finish its first writes:
            # cancelled inside a transaction, asyncpg can leave an unretrieved error behind (MagicStack/asyncpg#1310).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._gains.join(), LEAD_START_GRACE_SECONDS)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            flushed = await self.watcher.stop()
        finally:
            if self.lease is not None:
                await self.lease.stop()
        return flushed
