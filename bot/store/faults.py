"""StoreFaults: whether the database takes writes right now, for `/readyz` and a calm log.

A write SQLite refuses (`database is locked`, disk full, read-only, an I/O error) is a fault of the store, not
of the code that asked: the poll loop keeps its last known states and finds the same change again next cycle,
and the outbox keeps in memory what it could not record and retries it (see `OutboxSender`). This tracker is
what the rest of the bot sees of such a fault:

- `check` is a `Health.add_check` component: `/readyz` is 503 with a "store" entry naming the failure from the
  first refused write until a write commits again;
- a WARNING `store.write_failing` when writes start failing, and at most one every `warn_every` seconds however
  often they fail, or stop and start failing again (a poll of 100 streams would otherwise log 100 errors per
  cycle); an INFO `store.write_recovered` when a write commits again, saying for how long and how many failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bot.errors import StoreUnavailable

logger = logging.getLogger("bot.store")


class StoreFaults:
    """Failed and working writes of one store (the store reports both; everyone else reads).

    Args:
        warn_every: least seconds between two `store.write_failing` warnings while writes keep failing.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(self, *, warn_every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.warn_every = warn_every
        self.clock = clock
        #: When the current run of failures began (None: the last write worked).
        self.failing_since: float | None = None
        #: Refused reads and writes since `failing_since`.
        self.failures = 0
        self.error: StoreUnavailable | None = None
        self._warned_at: float | None = None

    @property
    def failing(self) -> bool:
        return self.failing_since is not None

    def failed(self, error: StoreUnavailable) -> None:
        """A read or write was refused: count it, and warn unless a warning went out less than `warn_every` ago
        (in this run of failures or the one before: a lock that comes and goes is not a warning per poll)."""
        now = self.clock()
        if self.failing_since is None:
            self.failing_since = now
        self.failures += 1
        self.error = error
        if self._warned_at is None or now - self._warned_at >= self.warn_every:
            self._warned_at = now
            logger.warning(
                "store.write_failing",
                extra={
                    "error": error.message,
                    "code": error.code,
                    "failures": self.failures,
                    "failing_seconds": round(now - self.failing_since, 1),
                },
            )

    def wrote(self) -> None:
        """A write committed: the store works again (one line says so, if it was failing)."""
        if self.failing_since is None:
            return
        now = self.clock()
        logger.info(
            "store.write_recovered",
            extra={"failures": self.failures, "failed_seconds": round(now - self.failing_since, 1)},
        )
        self.failing_since = None
        self.failures = 0
        self.error = None

    def check(self, now: float) -> tuple[bool, dict[str, Any]]:
        """`Health.add_check("store", faults.check)`: not ready while writes fail, with SQLite's reason."""
        del now  # the ages below are on this tracker's own clock
        if self.failing_since is None or self.error is None:
            return True, {"ok": True}
        return False, {
            "ok": False,
            "reason": f"store failing: {self.error.message}",
            "code": self.error.code,
            "failures": self.failures,
            "failing_seconds": round(self.clock() - self.failing_since, 1),
        }
