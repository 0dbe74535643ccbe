"""Leadership: which replica runs the poll loop and drains the outbox.

Every replica serves Slack; exactly one at a time is the leader. A `Lease` says which, and for which *term*: a
number stored in the database that grows by one each time any replica becomes leader. The store checks the term
inside every transaction that records a poll, opens an episode or marks an outbox row sent, so a replica that lost
its lease (connection dropped, process paused) cannot write or deliver on stale authority, even before it notices.

- `LocalLease` (SQLite): the single instance is always the leader, term 1.
- `PostgresLease`: a session-level advisory lock (`pg_try_advisory_lock`) held on a dedicated connection. Taking
  the lock bumps `leadership.term`. The connection is health-checked every `check_interval`; a failed or slow
  check means the lock may be gone (it dies with the session), so the replica steps down at once and becomes a
  standby again. The session is started with `idle_session_timeout` (and TCP keepalives) of `lease` seconds, so
  a leader that goes silent (SIGSTOP, a dead host, a partition) loses the lock on the server after `lease`
  seconds without doing anything; its own `is_leader` turns false at the same moment, counted from the last
  check it *sent*, so it never believes itself leader after the server may have freed the lock.
  Standbys try the lock every `retry_interval`, and wake at once on the release notification a leader sends
  when it stops cleanly.

The lease's connection also LISTENs for the wake-up channels (`bot.wakeups`) its owner asks for, so a `/dis
watch` or an outbox row added on any replica reaches the leader within a round trip, on a connection that is
already health-checked.

Timeline of a silent leader (`LeaseTiming.for_watch_interval(60)`: lease 15 s, retry 1 s): last check at t;
the server ends the session at t + 15 s (lock freed); a standby takes it by t + 16 s and bumps the term; the
old leader, on resuming, reads `is_leader` false (lease expired) and its first query fails (`on_lost`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

import asyncpg

from bot import metrics

logger = logging.getLogger("bot.leader")

#: The advisory lock's key: "disbot" in ASCII. One bot deployment per database.
LOCK_KEY = 0x646973626F74
#: Where a leader announces a clean release, so standbys try the lock at once rather than at their next retry.
RELEASE_CHANNEL = "disbot_leader_released"

#: The row the term lives in (the store's migration creates the table; `LEADERSHIP_DDL` is that table).
LEADERSHIP_DDL = (
    "CREATE TABLE IF NOT EXISTS leadership (id INTEGER PRIMARY KEY CHECK (id = 1), term BIGINT NOT NULL DEFAULT 0, "
    "holder TEXT, acquired_at DOUBLE PRECISION)"
)
# An upsert rather than a bare UPDATE, so a database whose row was never inserted still gets term 1, not nothing.
# `prev` reads the row before the change: the log says whom this replica took over from.
_BUMP_TERM = """
WITH prev AS (SELECT holder FROM leadership WHERE id = 1)
INSERT INTO leadership (id, term, holder, acquired_at) VALUES (1, 1, $1, $2)
ON CONFLICT (id) DO UPDATE SET term = leadership.term + 1, holder = EXCLUDED.holder, acquired_at = EXCLUDED.acquired_at
RETURNING term, (SELECT holder FROM prev)
"""
_CURRENT_TERM = "SELECT term FROM leadership WHERE id = 1"
#: The fencing check, for the store: first statement of every transaction that records a poll, opens an episode or
#: marks an outbox row sent; go on only if it returns the writer's `lease.term`. FOR SHARE makes a takeover's term
#: bump wait until such a transaction ends, so nothing written under an old term commits after a new leader starts
#: (the store's sessions need `idle_in_transaction_session_timeout`, or a paused writer would hold up the bump).
FENCE_SQL = "SELECT term FROM leadership WHERE id = 1 FOR SHARE"

#: What asyncpg raises when the server, the network or the connection fails (the lock's fate is then unknown).
_DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

GainedCallback = Callable[[int], None]
LostCallback = Callable[[str], None]
WakeCallback = Callable[[str], None]
_T = TypeVar("_T")


class LeaseExpired(Exception):
    """The leader went longer than a lease without a good check (a paused process, a blocked event loop)."""


class Lease(Protocol):
    """Who leads. `start()` never raises for a database that is down: the replica stays a standby and retries."""

    @property
    def is_leader(self) -> bool: ...

    @property
    def term(self) -> int | None: ...

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def default_holder() -> str:
    """How a replica names itself in `leadership.holder` and the logs: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LocalLease:
    """The lease of a single instance (SQLite): leader from `start()` to `stop()`, always term 1.

    Args:
        on_gained: called with the term once started.
        on_lost: called with "stopped" by `stop()`.
        record: reports changes to `/metrics` (None in tests that run several leases in one process).
    """

    TERM = 1

    def __init__(
        self,
        *,
        on_gained: GainedCallback | None = None,
        on_lost: LostCallback | None = None,
        record: Callable[[bool, str], None] | None = metrics.on_leader_change,
    ) -> None:
        self._on_gained = on_gained
        self._on_lost = on_lost
        self._record = record
        self._leader = False

    @property
    def is_leader(self) -> bool:
        return self._leader

    @property
    def term(self) -> int | None:
        return self.TERM if self._leader else None

    async def start(self) -> None:
        if self._leader:
            return
        self._leader = True
        logger.info("leader.gained", extra={"term": self.TERM, "reason": "single instance (SQLite)"})
        if self._record:
            self._record(True, "gained")
        if self._on_gained:
            _call(self._on_gained, self.TERM)

    async def stop(self) -> None:
        if not self._leader:
            return
        self._leader = False
        logger.info("leader.lost", extra={"term": self.TERM, "reason": "stopped"})
        if self._record:
            self._record(False, "lost")
        if self._on_lost:
            _call(self._on_lost, "stopped")


@dataclass(frozen=True)
class LeaseTiming:
    """How fast a `PostgresLease` notices trouble and hands over (seconds).

    Args:
        lease: the server ends a session silent for this long (freeing the lock), and a leader that has not sent
            a successful check for this long stops believing it leads.
        check_interval: pause between the leader's health checks (also keeps its session from looking idle).
        check_timeout: a check (or the lock attempt) slower than this counts as a lost connection.
        retry_interval: pause between a standby's attempts at the lock (and between reconnects).
        connect_timeout: limit on opening the dedicated connection.
    """

    lease: float = 15.0
    check_interval: float = 5.0
    check_timeout: float = 5.0
    retry_interval: float = 1.0
    connect_timeout: float = 5.0

    def __post_init__(self) -> None:
        if self.check_interval + self.check_timeout >= self.lease:
            # Otherwise a healthy leader's session could look idle to the server, or its lease run out between checks.
            raise ValueError("check_interval + check_timeout must be shorter than the lease")
        if self.retry_interval >= self.lease:
            raise ValueError("retry_interval must be shorter than the lease (a standby's session would look idle)")

    @classmethod
    def for_watch_interval(cls, seconds: float) -> LeaseTiming:
        """Timings that hand over well within 2 x WATCH_INTERVAL_SECONDS, the promise of the README.

        A silent leader is replaced after `lease + retry_interval` at worst: half the interval (0.5 s to 15 s)
        plus a fifth of that (at most 1 s); a killed one after about `retry_interval`, a stopped one at once.
        Checks every lease/4 may each take up to lease/2: a busy machine's slow answer is not a lost lock (the
        leader's own belief is bounded by the lease from the check it sent, whatever the timeout).
        """
        lease = min(max(seconds / 2, 0.5), 15.0)
        return cls(
            lease=lease,
            check_interval=lease / 4,
            check_timeout=lease / 2,
            retry_interval=min(max(lease / 5, 0.05), 1.0),
            connect_timeout=min(max(lease / 3, 0.5), 5.0),
        )


def asyncpg_dsn(url: str) -> str:
    """A `DATABASE_URL` as asyncpg takes it: `postgres://`, `postgresql://` and SQLAlchemy's
    `postgresql+asyncpg://` all name the same server (`?sslmode=require`, as Heroku sets it, is kept)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] not in ("postgres", "postgresql"):
        raise ValueError("not a PostgreSQL URL (postgresql://...)")
    return f"postgresql://{rest}"


class PostgresLease:
    """Leadership through a PostgreSQL advisory lock on a dedicated, health-checked connection.

    Callbacks run on the event loop and must not block (start a task for slow work). `on_lost` comes first
    whenever leadership ends, before any reconnect; after a reconnect each `listen` callback is called once,
    since notifications sent while disconnected are lost.

    Args:
        url: the PostgreSQL `DATABASE_URL` (never logged: it may hold a password).
        holder: this replica's name in `leadership.holder` and the logs (`default_holder()`).
        timing: see `LeaseTiming`.
        key: the advisory lock's key (tests give each test its own).
        on_gained: called with the new term when this replica becomes leader.
        on_lost: called with the reason when it stops being leader.
        listen: channel -> callback(payload), LISTENed on the lease's connection (`bot.wakeups`).
        record: reports changes to `/metrics` (None in tests that run several leases in one process).
        clock: monotonic seconds (the lease's validity is counted with it).
    """

    def __init__(
        self,
        url: str,
        *,
        holder: str | None = None,
        timing: LeaseTiming | None = None,
        key: int = LOCK_KEY,
        on_gained: GainedCallback | None = None,
        on_lost: LostCallback | None = None,
        listen: Mapping[str, WakeCallback] | None = None,
        record: Callable[[bool, str], None] | None = metrics.on_leader_change,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dsn = asyncpg_dsn(url)
        self.holder = holder or default_holder()
        self.timing = timing or LeaseTiming()
        self.key = key
        self._on_gained = on_gained
        self._on_lost = on_lost
        self._listen = dict(listen or {})
        self._record = record
        self._clock = clock
        self._term: int | None = None
        self._valid_until = 0.0
        self._conn: asyncpg.Connection | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self._led = False  # whether this replica led during the current connection

    # --- what callers read ---

    @property
    def is_leader(self) -> bool:
        """True while this replica holds the lock *and* its last successful check is younger than the lease."""
        return self._term is not None and self._clock() < self._valid_until

    @property
    def term(self) -> int | None:
        """The fencing term this replica leads under, None as a standby."""
        return self._term if self.is_leader else None

    @property
    def backend_pid(self) -> int | None:
        """The server process of the dedicated connection (what `pg_stat_activity` and `pg_locks` show)."""
        conn = self._conn
        return conn.get_server_pid() if conn is not None and not conn.is_closed() else None

    # --- life cycle ---

    async def start(self) -> None:
        """Begin: connect, try the lock, and keep at it in the background. Returns after the first attempt."""
        if self._task is not None:
            return
        self._stopping = False
        first = asyncio.Event()
        self._task = asyncio.create_task(self._guarded(first), name="leader-lease")
        # A first answer (leader, standby, or database down) before returning, so a caller starting its poll loop
        # right after sees the truth; bounded, since an unreachable server must not hold up the start.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first.wait(), self.timing.connect_timeout + self.timing.check_timeout)

    async def stop(self) -> None:
        """Release at once: unlock, tell the standbys (NOTIFY), close. `on_lost("stopped")` if it was leader."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self.timing.check_timeout + 1)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            if self._conn is not None:  # the release did not finish: closing the session frees the lock too
                self._conn.terminate()
                self._conn = None
            if self._term is not None:
                self._step_down("stopped")

    # --- the loop ---

    async def _guarded(self, first: asyncio.Event) -> None:
        try:
            await self._run(first)
        except Exception:
            # A bug, not the database: say so loudly rather than leave a replica that silently never leads.
            logger.exception("leader.crashed", extra={"holder": self.holder})
            self._step_down("lease crashed")
            first.set()

    async def _run(self, first: asyncio.Event) -> None:
        while not self._stopping:
            try:
                conn = await self._connect()
            except (*_DB_ERRORS, ValueError) as exc:  # ValueError: a malformed URL (asyncpg parses it here)
                self._failed("leader.connect_failed", _describe(exc))
                first.set()
                await self._pause(self.timing.retry_interval)
                continue
            self._conn = conn
            self._led = False
            failed: str | None = None
            try:
                for callback in self._listen.values():
                    _call(callback, "reconnected")  # notifications sent while we were away are lost: wake anyway
                await self._session(conn, first)
            except (*_DB_ERRORS, LeaseExpired) as exc:
                failed = _describe(exc)
            finally:
                if self._stopping and self._term is not None:
                    await self._release(conn)
                elif failed is not None and self._term is not None:
                    self._step_down(failed)
                elif failed is not None and not self._led:  # (a leader's loss is logged as leader.lost)
                    self._failed("leader.connection_lost", failed)
                self._conn = None
                conn.terminate()
            first.set()
            if not self._stopping:
                await self._pause(self.timing.retry_interval)

    def _failed(self, event: str, reason: str) -> None:
        """Log a failed connect or session: the first of a run, then every 60th (a database down for an hour
        writes a line a minute, not one a second)."""
        self._failures += 1
        if self._failures == 1 or self._failures % 60 == 0:
            logger.warning(event, extra={"reason": reason, "attempts": self._failures, "holder": self.holder})

    def _succeeded(self) -> None:
        if self._failures:
            logger.info("leader.connected", extra={"after_attempts": self._failures, "holder": self.holder})
            self._failures = 0

    async def _connect(self) -> asyncpg.Connection:
        lease_ms = str(max(int(self.timing.lease * 1000), 1))
        keepalive = str(max(int(self.timing.lease / 3), 1))
        conn: asyncpg.Connection = await asyncpg.connect(
            self._dsn,
            timeout=self.timing.connect_timeout,
            command_timeout=self.timing.check_timeout,
            server_settings={
                "application_name": f"dis-bot lease {self.holder}"[:63],
                # The server ends this session, and with it the lock, once the replica falls silent for a lease:
                # a paused or cut-off leader loses leadership without having to do anything (PostgreSQL 14+).
                "idle_session_timeout": lease_ms,
                "idle_in_transaction_session_timeout": lease_ms,
                # A dead peer the server is writing to (a notification) is dropped within a lease too.
                "tcp_user_timeout": lease_ms,
                "tcp_keepalives_idle": keepalive,
                "tcp_keepalives_interval": keepalive,
                "tcp_keepalives_count": "3",
            },
        )
        conn.add_termination_listener(self._on_terminated)
        await conn.add_listener(RELEASE_CHANNEL, self._on_release)
        for channel in self._listen:
            await conn.add_listener(channel, self._on_notify)
        return conn

    async def _session(self, conn: asyncpg.Connection, first: asyncio.Event) -> None:
        timing = self.timing
        while not self._stopping:
            sent = self._clock()
            if self._term is None:
                if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key, timeout=timing.check_timeout):
                    await self._take(conn, sent)
            elif sent >= self._valid_until:
                # Stalled past the lease (a paused process, a blocked loop): the server may have freed the lock.
                raise LeaseExpired(
                    f"lease expired: last good health check {sent - self._valid_until + timing.lease:.1f}s ago"
                )
            else:
                try:
                    term = await conn.fetchval(_CURRENT_TERM, timeout=timing.check_timeout)
                except TimeoutError:
                    raise TimeoutError(f"health check took over {timing.check_timeout:g}s") from None
                if term != self._term:
                    self._step_down(f"term moved to {term}")
                    return
                self._valid_until = sent + timing.lease
            self._succeeded()
            first.set()
            await self._pause(timing.check_interval if self._term is not None else timing.retry_interval)

    async def _take(self, conn: asyncpg.Connection, sent: float) -> None:
        try:
            row = await conn.fetchrow(_BUMP_TERM, self.holder, time.time(), timeout=self.timing.check_timeout)
        except asyncpg.PostgresError:
            # Holding the lock without a term would block every replica from leading: give it back.
            with contextlib.suppress(*_DB_ERRORS):
                await conn.fetchval("SELECT pg_advisory_unlock($1)", self.key, timeout=self.timing.check_timeout)
            raise
        assert row is not None  # RETURNING always yields the row
        self._term = int(row[0])
        self._led = True
        self._valid_until = sent + self.timing.lease
        extra = {"term": self._term, "holder": self.holder, "previous": row[1], "reason": "lock acquired"}
        logger.info("leader.gained", extra=extra)
        if self._record:
            self._record(True, "gained")
        if self._on_gained:
            _call(self._on_gained, self._term)

    async def _release(self, conn: asyncpg.Connection) -> None:
        term = self._term
        with contextlib.suppress(*_DB_ERRORS):
            await conn.fetchval(
                "SELECT pg_advisory_unlock($1), pg_notify($2, $3)",
                self.key,
                RELEASE_CHANNEL,
                str(term),
                timeout=self.timing.check_timeout,
            )
        self._step_down("stopped")

    def _step_down(self, reason: str) -> None:
        term, self._term = self._term, None
        if term is None:
            return
        self._valid_until = 0.0
        level = logging.INFO if reason == "stopped" else logging.WARNING
        logger.log(level, "leader.lost", extra={"term": term, "holder": self.holder, "reason": reason})
        if self._record:
            self._record(False, "lost")
        if self._on_lost:
            _call(self._on_lost, reason)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    # --- asyncpg callbacks ---

    def _on_terminated(self, conn: asyncpg.Connection) -> None:
        # The server ended the session (pg_terminate_backend, a restart, the idle timeout): the lock is gone now,
        # so step down at once rather than at the next check.
        if conn is not self._conn:
            return  # one we closed ourselves
        if self._term is not None and not self._stopping:
            self._step_down("connection closed by the server")
        self._wake.set()

    def _on_release(self, conn: asyncpg.Connection, pid: int, channel: str, payload: str) -> None:
        if self._term is None:
            self._wake.set()  # a leader let go: try now

    def _on_notify(self, conn: asyncpg.Connection, pid: int, channel: str, payload: str) -> None:
        callback = self._listen.get(channel)
        if callback is not None:
            _call(callback, payload)


def _call(callback: Callable[[_T], None], arg: _T) -> None:
    """Run an owner's callback; a bug in it is logged, and must not end the lease's loop (leadership would freeze)."""
    try:
        callback(arg)
    except Exception:
        logger.exception("leader.callback_failed", extra={"callback": getattr(callback, "__qualname__", "?")})


def lease_for(
    database_url: str,
    watch_interval: float,
    *,
    on_gained: GainedCallback | None = None,
    on_lost: LostCallback | None = None,
    listen: Mapping[str, WakeCallback] | None = None,
) -> Lease:
    """The lease a replica on `DATABASE_URL` needs: a `PostgresLease` timed for `WATCH_INTERVAL_SECONDS` on
    PostgreSQL, the single instance's `LocalLease` on SQLite (which has no one to share leadership with)."""
    if database_url.split("://", 1)[0].split("+")[0] in ("postgres", "postgresql"):
        timing = LeaseTiming.for_watch_interval(watch_interval)
        return PostgresLease(database_url, timing=timing, on_gained=on_gained, on_lost=on_lost, listen=listen)
    return LocalLease(on_gained=on_gained, on_lost=on_lost)


def _describe(exc: BaseException) -> str:
    """A reason for the log: the error class and the server's message (asyncpg's never hold the URL)."""
    if isinstance(exc, LeaseExpired):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return f"timed out{': ' + str(exc) if str(exc) else ''}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
