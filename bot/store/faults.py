"""StoreFaults: whether the database takes writes right now, for `/readyz` and a calm log.

A write the database refuses (SQLite's `database is locked`, disk full, read-only, an I/O error; PostgreSQL
unreachable, shut down, a read-only standby, disk full) is a fault of the store, not of the code that asked
(`classify` tells one from a bug, at the engine's edge): the poll loop keeps its last known states and finds the
same change again next cycle, and the outbox keeps in memory what it could not record and retries it (see
`OutboxSender`). This tracker is what the rest of the bot sees of such a fault:

- `check` is a `Health.add_check` component: `/readyz` is 503 with a "store" entry naming the failure from the
  first refused write until a write commits again;
- a WARNING `store.write_failing` when writes start failing, and at most one every `warn_every` seconds however
  often they fail, or stop and start failing again (a poll of 100 streams would otherwise log 100 errors per
  cycle); an INFO `store.write_recovered` when a write commits again, saying for how long and how many failed,
  at most one per warning (a lock that comes and goes is one warning and one recovery a minute, not one a lock).

A full disk (`SQLITE_FULL`, PostgreSQL's `53100`) is not ended by any write that commits: on a full filesystem
small writes still fit in pages the database already has (SQLite's WAL keeps the frames of a write that failed
half-way), so the store would count as healed every poll while the writes that need room (a new alert, the
outbox) keep failing. Measured on a full 1 MB tmpfs, polling every 0.2 s: 42 recoveries in 6 s and `/readyz`
200 throughout. Only `Store.check_writable`, whose write needs new pages, ends it (`wrote(proof=True)`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import exc as sa_exc

from bot.errors import StoreUnavailable

logger = logging.getLogger("bot.store")

#: SQLite's error names (and their extended forms, `SQLITE_IOERR_WRITE`) that say "the database cannot serve this
#: now", as opposed to a bug in our SQL or a constraint we broke.
SQLITE_FAULTS = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_FULL",
    "SQLITE_READONLY",
    "SQLITE_IOERR",
    "SQLITE_CANTOPEN",
    "SQLITE_CORRUPT",
    "SQLITE_NOTADB",
    "SQLITE_PROTOCOL",
    "SQLITE_NOMEM",
    "SQLITE_PERM",
    "SQLITE_NOLFS",
)
#: PostgreSQL SQLSTATEs (or their classes) that are faults: connection exceptions (08), read-only transaction
#: (25006), authorization and missing database (28, 3D000: the server refuses us), serialization failure and
#: deadlock (40001, 40P01), insufficient resources (53: disk full, too many connections), lock not available
#: (55P03), operator intervention (57: shut down, cannot connect now, statement timeout), system and I/O errors
#: (58), corrupted data (XX001, XX002).
PG_FAULTS = ("08", "25006", "28", "3D000", "40001", "40P01", "53", "55P03", "57", "58", "XX001", "XX002")
#: SQLSTATE "connection failure": the code of a server that cannot be reached at all.
PG_UNREACHABLE = "08006"
#: Codes of a full disk (or a full database: SQLite's `max_page_count`): only a write that needs room ends them.
FULL_FAULTS = ("SQLITE_FULL", "53100")


def classify(exc: BaseException) -> StoreUnavailable | None:
    """The `StoreUnavailable` an engine's exception stands for, or None when it is a bug (our SQL, a constraint).

    Reads SQLite's `sqlite_errorname` and PostgreSQL's SQLSTATE through SQLAlchemy's wrapper; a socket that
    cannot connect or was closed (no SQLSTATE) is PostgreSQL being unreachable. The message is the engine's
    own text, without the driver's class name.
    """
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    cause = orig.__cause__ if orig is not None and orig.__cause__ is not None else orig
    name = str(getattr(orig, "sqlite_errorname", "") or getattr(cause, "sqlite_errorname", "") or "")
    if name:
        return StoreUnavailable(str(cause), code=name) if name.startswith(SQLITE_FAULTS) else None
    state = str(getattr(orig, "sqlstate", None) or getattr(cause, "sqlstate", None) or "")
    if state:
        return StoreUnavailable(_pg_message(cause), code=state) if state.startswith(PG_FAULTS) else None
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return StoreUnavailable(_pg_message(cause) or "connection lost", code=PG_UNREACHABLE)
    if isinstance(cause, (OSError, TimeoutError)) or _is_closed_connection(cause):
        return StoreUnavailable(_pg_message(cause) or type(cause).__name__, code=PG_UNREACHABLE)
    return None


def _is_closed_connection(exc: BaseException | None) -> bool:
    """asyncpg's "connection is closed" and "connection was closed in the middle of operation" (no SQLSTATE)."""
    module = type(exc).__module__ if exc is not None else ""
    return module.startswith("asyncpg") and "closed" in str(exc).lower()


def _pg_message(exc: BaseException | None) -> str:
    # SQLAlchemy's adapter prefixes the driver's class ("<class 'asyncpg...'>: ..."): keep the server's words.
    text = str(exc or "")
    return text.split(">: ", 1)[1] if text.startswith("<class ") and ">: " in text else text


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
        #: A `store.write_failing` went out that no `store.write_recovered` answered yet.
        self._warning_open = False

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
            self._warning_open = True
            logger.warning(
                "store.write_failing",
                extra={
                    "error": error.message,
                    "code": error.code,
                    "failures": self.failures,
                    "failing_seconds": round(now - self.failing_since, 1),
                },
            )

    @property
    def full(self) -> bool:
        """The current fault is a full disk (or database): only a write that needs room ends it."""
        return self.error is not None and (self.error.code or "").startswith(FULL_FAULTS)

    def wrote(self, *, proof: bool = False) -> None:
        """A write committed: the store works again (one line says so, if a warning said it was failing).

        Args:
            proof: the write needed new pages (`Store.check_writable`); without it a full disk stays a fault.
        """
        if self.failing_since is None or (self.full and not proof):
            return
        now = self.clock()
        if self._warning_open:
            self._warning_open = False
            logger.info(
                "store.write_recovered",
                extra={"failures": self.failures, "failed_seconds": round(now - self.failing_since, 1)},
            )
        self.failing_since = None
        self.failures = 0
        self.error = None

    def check(self, now: float) -> tuple[bool, dict[str, Any]]:
        """`Health.add_check("store", faults.check)`: not ready while writes fail, with the engine's reason."""
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
