"""SqlStore: the one `Store`, on SQLite (aiosqlite) or PostgreSQL (asyncpg), through SQLAlchemy Core's asyncio engine.

No call blocks the event loop: aiosqlite runs SQLite in its own thread and asyncpg talks to the server over an
asyncio socket, so a Slack ack never waits behind a write.

- SQLite: one connection (WAL, `synchronous=NORMAL`), used by one task at a time (an `asyncio.Lock`): the bot's
  own writes never contend for SQLite's lock, so "database is locked" always means another process. Write
  transactions begin with `BEGIN IMMEDIATE` (the lock is taken first, never upgraded half-way); reads begin a
  deferred transaction, so a writer elsewhere does not stop them (WAL). While writes fail, SQLite does not wait
  `busy_timeout` for the lock (it applies again after the next commit): a wait per poll and per outbox row would
  pile up behind a lock another process holds.
- PostgreSQL: a small pool; every transaction gets its own connection. This process's write transactions take
  turns (reads do not wait), so in one process they apply in order as on SQLite; other replicas' writes are
  kept apart by the database and by fencing.

`async with store.transaction():` commits everything inside together. The transaction belongs to the task that
opened it (a context variable): the store's calls made by that task inside it join it, other tasks' calls do not.

Fencing (`fence(term)`): once set, a transaction that makes one of the leader's writes (recording a poll: task
states, stream health; opening or updating an episode; the outbox's delivery marks; reminders; recovery notes;
pruning) first reads `SELECT term FROM leadership WHERE id = 1 FOR SHARE` (a plain SELECT on SQLite, whose write
transaction already excludes every other writer) and raises `FencedOut` if the term moved on. The shared row
lock is held until the commit, so a new leader cannot take the term while a deposed one is still writing.
Writes people make from any replica (watches, acknowledgements, snoozes, queueing a reply) are not fenced.

Wake-ups (PostgreSQL): a transaction that adds or removes a watch, queues an outbox row or unparks a channel
sends a NOTIFY (`bot.wakeups`) inside it, so the leader, whichever replica it is, acts within a round trip of
the commit rather than at its next cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, StaticPool

from bot.errors import FencedOut, StoreUnavailable
from bot.store.base import (
    DEAD,
    DONE,
    OUT_POST,
    OUT_UPDATE,
    PARKED,
    PENDING,
    PROBLEM_STATE,
    SENDING,
    SOURCE_COMMAND,
    SOURCE_CONFIG,
    Alert,
    Episode,
    KnownTask,
    OutboxItem,
    Snooze,
    StreamHealth,
    StreamPoll,
    Subscription,
    from_row,
    iter_chunks,
)
from bot.store.faults import StoreFaults, classify
from bot.store.tables import (
    alerts,
    episodes,
    leadership,
    outbox,
    schema_version,
    snoozes,
    stream_health,
    stream_polls,
    subscriptions,
    task_states,
)
from bot.store.urls import POSTGRESQL, DatabaseUrl
from bot.wakeups import OUTBOX_QUEUED, WATCHES_CHANGED

logger = logging.getLogger("bot.store")

#: Bytes of the row `check_writable` writes on SQLite: 16 pages of 4 KiB, more than the WAL keeps spare after a
#: write that failed half-way on a full disk.
PROBE_BYTES = 64 * 1024
#: Execution option of a connection whose transaction writes (SQLite: `BEGIN IMMEDIATE`).
_WRITE = "disbot_write"


@dataclass
class _Tx:
    """The transaction in progress of one task."""

    conn: AsyncConnection
    #: Rows written: only a commit that wrote proves writes work (an empty one succeeds on a full disk).
    changed: bool = False
    #: The fencing term was checked (and its row locked) in this transaction.
    fenced: bool = False


class SqlStore:
    """`Store` over an SQLAlchemy asyncio engine (see module docstring); `bot.store.open_store` builds one.

    Every engine *fault* (SQLite locked, disk full, read-only, I/O error; PostgreSQL unreachable, shut down,
    read-only, disk full) leaves as `StoreUnavailable` and is reported to `faults`; a commit that wrote reports
    that writes work.

    Args:
        target: the parsed DATABASE_URL.
        busy_timeout: seconds a SQLite write waits for another process's lock before it fails.
        faults: the tracker to report to (a new one by default; `/readyz` reads it).
        pool_size: PostgreSQL connections kept open (and the most in use at once). Small on purpose: 40 commands
            reading at once on 10 connections kept the event loop busy enough to push the ack p99 to 160 ms in
            `bench/commands.py --storm`; on 4 it is 33-45 ms, the reads waiting their turn off the loop.
        migrate_timeout: seconds a start waits for another replica's migration (its lock).
        idle_transaction_timeout: PostgreSQL ends a session idle this long inside a transaction. A leader paused
            mid-write (SIGSTOP, a frozen host) holds the fencing row's share lock, and a takeover waits for it:
            the lease's length (`bot.server.build_watcher` passes it), so a frozen leader costs no longer than
            a lease. Every transaction of the store is a few statements in a row, never a wait.
    """

    def __init__(
        self,
        target: DatabaseUrl,
        *,
        busy_timeout: float = 1.0,
        faults: StoreFaults | None = None,
        pool_size: int = 4,
        migrate_timeout: float = 60.0,
        idle_transaction_timeout: float = 15.0,
    ) -> None:
        self.target = target
        self.faults = faults or StoreFaults()
        self.is_postgresql = target.engine == POSTGRESQL
        self.migrate_timeout = migrate_timeout
        self._busy_ms = max(0, int(busy_timeout * 1000))
        self._waits_for_lock = True
        self._term: int | None = None
        self._tx: ContextVar[_Tx | None] = ContextVar(f"store-tx-{id(self)}", default=None)
        #: SQLite: the one connection, one task at a time. PostgreSQL: this process's write transactions one at a
        #: time (reads run in parallel), so the engine's read-modify-write of one stream never interleaves.
        self._serial = asyncio.Lock()
        self._opened = False
        self._migrating = False
        self._open_lock = asyncio.Lock()
        self.engine: AsyncEngine = (
            _pg_engine(target, pool_size, idle_transaction_timeout) if self.is_postgresql else _sqlite_engine(target)
        )
        self._insert = postgresql.insert if self.is_postgresql else sqlite.insert

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Create or migrate the schema, under a lock (replicas may start together); once per store (the first
        call of any other method does it too).

        Raises:
            StoreUnavailable: the database cannot be reached or written now (reported to `faults`).
            ConfigError: the database was migrated by a newer bot.
        """
        async with self._open_lock:
            if self._opened:
                return
            from bot.store.migrate import migrate

            self._migrating = True
            try:
                await migrate(self)
            finally:
                self._migrating = False
            self._opened = True

    async def close(self) -> None:
        await self.engine.dispose()

    def fence(self, term: int | None) -> None:
        """Check `leadership.term == term` in every transaction of the leader's writes from now on (None: never)."""
        self._term = term

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Commit everything inside together; the calls of this task inside it join it.

        Raises:
            StoreUnavailable: the database refused to begin, write or commit (the transaction is rolled back).
            FencedOut: a fenced write found another leader's term (rolled back).
        """
        if self._tx.get() is not None:
            yield
            return
        async with self._connection(write=True) as tx:
            token = self._tx.set(tx)
            try:
                yield
            finally:
                self._tx.reset(token)

    @contextlib.asynccontextmanager
    async def _connection(self, *, write: bool, busy_ms: int | None = None) -> AsyncIterator[_Tx]:
        """A transaction on a connection of its own (SQLite: the one connection, taken in turn); faults reported.

        `busy_ms`: SQLite's lock wait for this transaction (the migration waits for another replica's).
        """
        if not self._opened and not self._migrating:
            await self.open()  # the first call migrates, if `open()` was not called yet
        tx: _Tx | None = None
        try:
            async with self._turn(write), self.engine.connect() as conn:
                if not self.is_postgresql:
                    await self._sqlite_prepare(conn, busy_ms)
                    await conn.execution_options(**{_WRITE: write})
                tx = _Tx(conn)
                await conn.begin()
                yield tx
                await conn.commit()
        except StoreUnavailable as exc:
            self._failed(exc)
            raise
        except (sa.exc.DBAPIError, OSError, TimeoutError) as exc:
            fault = classify(exc)
            if fault is None:
                raise
            self._failed(fault)
            raise fault from exc
        if tx is not None and tx.changed:
            self._wrote()

    def _turn(self, write: bool) -> contextlib.AbstractAsyncContextManager[Any]:
        return self._serial if write or not self.is_postgresql else contextlib.nullcontext()

    async def check_writable(self) -> None:
        """Commit a write that leaves nothing behind: proves the database takes writes now, even ones that need room.

        SQLite: a row of `PROBE_BYTES` inserted into `schema_version` (its column takes any value) and deleted in
        the same transaction, so the commit needs new pages: on a full disk it fails even where small writes still
        fit (see `bot.store.faults`). PostgreSQL: the version row rewritten.

        Raises:
            StoreUnavailable: it does not (`read_only` tells a read-only database from a passing fault).
        """
        async with self.transaction():
            if self.is_postgresql:
                await self._write(schema_version.update().values(version=schema_version.c.version))
            else:
                await self._write(schema_version.insert().values(version=sa.func.zeroblob(PROBE_BYTES)))
                await self._write(
                    schema_version.delete().where(sa.literal_column("rowid") == sa.func.last_insert_rowid())
                )
        self.faults.wrote(proof=True)

    # ------------------------------------------------------------------ faults and SQLite's lock wait

    def _failed(self, error: StoreUnavailable) -> None:
        if self._waits_for_lock and not self.is_postgresql:
            # Fail fast until a write works again: the next attempt (next poll, outbox retry) is the retry.
            self._waits_for_lock = False
        self.faults.failed(error)

    def _wrote(self) -> None:
        self._waits_for_lock = True
        self.faults.wrote()

    async def _sqlite_prepare(self, conn: AsyncConnection, busy_ms: int | None = None) -> None:
        """Set SQLite's lock wait on the connection to what the fault state asks (0 while writes fail)."""
        wanted = busy_ms if busy_ms is not None else self._busy_ms if self._waits_for_lock else 0
        if conn.info.get("busy_ms") != wanted:
            raw = await conn.get_raw_connection()
            await raw.driver_connection.execute(f"PRAGMA busy_timeout={wanted}")  # type: ignore[union-attr]
            conn.info["busy_ms"] = wanted

    # ------------------------------------------------------------------ statements

    @contextlib.asynccontextmanager
    async def _joined(self, *, write: bool) -> AsyncIterator[_Tx]:
        """The task's transaction, or a new one around a single call."""
        tx = self._tx.get()
        if tx is not None:
            try:
                yield tx
            except (sa.exc.DBAPIError, OSError, TimeoutError) as exc:
                fault = classify(exc)
                if fault is None:
                    raise
                raise fault from exc  # reported once, by the transaction as it ends
            return
        if write:
            async with self.transaction():
                tx = self._tx.get()
                assert tx is not None
                yield tx
        else:
            async with self._connection(write=False) as tx:
                yield tx

    async def _rows(self, stmt: sa.Executable) -> list[sa.RowMapping]:
        async with self._joined(write=False) as tx:
            return list((await tx.conn.execute(stmt)).mappings().all())

    async def _scalar(self, stmt: sa.Executable) -> Any:
        async with self._joined(write=False) as tx:
            return (await tx.conn.execute(stmt)).scalar()

    async def _write(self, stmt: sa.Executable, *, fenced: bool = False) -> int:
        """Run a write; its row count."""
        async with self._joined(write=True) as tx:
            if fenced:
                await self._check_fence(tx)
            n = (await tx.conn.execute(stmt)).rowcount
            tx.changed = tx.changed or n > 0
            return n

    async def _returning(self, stmt: sa.Executable, *, fenced: bool = False) -> list[sa.RowMapping]:
        """Run a write with RETURNING; the rows it returned."""
        async with self._joined(write=True) as tx:
            if fenced:
                await self._check_fence(tx)
            rows = list((await tx.conn.execute(stmt)).mappings().all())
            tx.changed = tx.changed or bool(rows)
            return rows

    async def _check_fence(self, tx: _Tx) -> None:
        if self._term is None or tx.fenced:
            return
        stmt = sa.select(leadership.c.term).where(leadership.c.id == 1)
        if self.is_postgresql:
            stmt = stmt.with_for_update(read=True)  # FOR SHARE: no new term until this transaction ends
        current = (await tx.conn.execute(stmt)).scalar()
        if current != self._term:
            raise FencedOut(self._term, current)
        tx.fenced = True

    async def _notify(self, channel: str) -> None:
        """Wake the leader when this transaction commits (PostgreSQL; a single SQLite instance wakes itself)."""
        if self.is_postgresql:
            async with self._joined(write=True) as tx:
                await tx.conn.execute(sa.select(sa.func.pg_notify(channel, "")))

    async def check_fence(self) -> None:
        """Check the fencing term in the current transaction now (the leader's own writes do it by themselves)."""
        async with self._joined(write=True) as tx:
            await self._check_fence(tx)

    # ------------------------------------------------------------------ subscriptions

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
        key = (subscriptions.c.channel_id == channel_id) & (subscriptions.c.stream == stream)
        async with self.transaction():
            rows = await self._rows(sa.select(subscriptions).where(key))
            if not rows:
                await self._write(
                    subscriptions.insert().values(
                        channel_id=channel_id,
                        stream=stream,
                        mention=mention if set_mention else None,
                        source=source,
                        created_by=created_by,
                        created_at=now,
                    )
                )
                created = True
            else:
                row = rows[0]
                new_source = SOURCE_COMMAND if SOURCE_COMMAND in (row["source"], source) else SOURCE_CONFIG
                await self._write(
                    subscriptions.update()
                    .where(key)
                    .values(source=new_source, mention=mention if set_mention else row["mention"])
                )
                created = False
            [sub] = await self._rows(sa.select(subscriptions).where(key))
            await self._notify(WATCHES_CHANGED)
        return from_row(Subscription, sub), created

    async def remove_subscription(self, channel_id: str, stream: str) -> bool:
        stmt = subscriptions.delete().where(subscriptions.c.channel_id == channel_id, subscriptions.c.stream == stream)
        async with self.transaction():
            removed = await self._write(stmt) > 0
            if removed:
                await self._notify(WATCHES_CHANGED)
        return removed

    async def subscriptions(self, *, channel_id: str | None = None, stream: str | None = None) -> list[Subscription]:
        stmt = sa.select(subscriptions).where(*_equal(subscriptions, channel_id=channel_id, stream=stream))
        rows = await self._rows(stmt.order_by(subscriptions.c.channel_id, subscriptions.c.stream))
        return [from_row(Subscription, r) for r in rows]

    async def set_baseline_done(self, channel_id: str, stream: str) -> None:
        where = (subscriptions.c.channel_id == channel_id) & (subscriptions.c.stream == stream)
        await self._write(subscriptions.update().where(where).values(baseline_pending=False))

    async def set_delivery_error(self, channel_id: str, error: str | None, now: float) -> None:
        stmt = subscriptions.update().where(subscriptions.c.channel_id == channel_id)
        await self._write(stmt.values(delivery_error=error, delivery_error_at=now if error else None))

    # ------------------------------------------------------------------ task states

    async def task_states(self) -> dict[str, dict[str, KnownTask]]:
        out: dict[str, dict[str, KnownTask]] = {}
        for r in await self._rows(sa.select(task_states)):
            out.setdefault(r["stream"], {})[r["task_name"]] = from_row(KnownTask, r)
        return out

    async def save_task_states(self, stream: str, upsert: Iterable[KnownTask], delete: Iterable[str] = ()) -> None:
        rows = [
            {
                "stream": t.stream,
                "task_name": t.task_name,
                "task_id": t.task_id,
                "state": t.state,
                "since": t.since,
                "last_transfer_ms": t.last_transfer_ms,
                "discarded": t.discarded,
                "discarded_at": t.discarded_at,
            }
            for t in upsert
        ]
        gone = list(delete)
        if not rows and not gone:
            return
        async with self.transaction():
            await self.check_fence()
            if rows:
                stmt = self._insert(task_states)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["stream", "task_name"],
                    set_={
                        c: stmt.excluded[c]
                        for c in ("task_id", "state", "since", "last_transfer_ms", "discarded", "discarded_at")
                    },
                )
                await self._write_many(stmt, rows)
            for chunk in iter_chunks(gone, 500):
                await self._write(
                    task_states.delete().where(task_states.c.stream == stream, task_states.c.task_name.in_(chunk))
                )

    async def _write_many(self, stmt: sa.Executable, rows: list[dict[str, Any]]) -> None:
        async with self._joined(write=True) as tx:
            await tx.conn.execute(stmt, rows)
            tx.changed = True

    async def set_discards(self, stream: str, counts: Mapping[str, tuple[int, float]]) -> None:
        if not counts:
            return
        async with self.transaction():
            await self.check_fence()
            for task_name, (count, at) in counts.items():
                stmt = task_states.update().where(task_states.c.stream == stream, task_states.c.task_name == task_name)
                await self._write(stmt.values(discarded=count, discarded_at=at))

    async def forget_stream(self, stream: str) -> None:
        async with self.transaction():
            await self._write(task_states.delete().where(task_states.c.stream == stream), fenced=True)
            await self._write(stream_health.delete().where(stream_health.c.stream == stream))

    # ------------------------------------------------------------------ episodes

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
        key = dict(channel_id=channel_id, stream=stream, task_name=task_name, kind=kind, problem=problem)
        values = dict(
            key,
            task_id=task_id,
            state=state,
            problem_state=state,
            previous_state=previous_state,
            baseline=baseline,
            started_at=started_at,
            reason=reason,
            last_transfer_ms=last_transfer_ms,
            detail=detail,
        )
        async with self.transaction():
            # The partial unique index (one open episode per key) turns a second opening into "nothing inserted".
            created = await self._write(self._insert(episodes).values(**values).on_conflict_do_nothing(), fenced=True)
            [row] = await self._rows(sa.select(episodes).where(*_equal(episodes, **key), episodes.c.ended_at.is_(None)))
        return from_row(Episode, row), created > 0

    async def open_episodes(
        self,
        *,
        channel_id: str | None = None,
        stream: str | None = None,
        kind: str | None = None,
        problem: str | None = None,
    ) -> list[Episode]:
        where = [
            *_equal(episodes, channel_id=channel_id, stream=stream, kind=kind, problem=problem),
            episodes.c.ended_at.is_(None),
        ]
        return await self._episodes(*where)

    async def _episodes(self, *where: sa.ColumnElement[bool]) -> list[Episode]:
        rows = await self._rows(sa.select(episodes).where(*where).order_by(episodes.c.id))
        return [from_row(Episode, r) for r in rows]

    async def unalerted_episodes(self) -> list[Episode]:
        return await self._episodes(episodes.c.ended_at.is_(None), episodes.c.alert_id.is_(None))

    async def unnoted_recoveries(self) -> list[Episode]:
        return await self._episodes(
            episodes.c.ended_at.is_not(None), episodes.c.recovery_noted.is_(False), episodes.c.alert_id.is_not(None)
        )

    async def episodes_for_alert(self, alert_id: int) -> list[Episode]:
        return await self._episodes(episodes.c.alert_id == alert_id)

    async def update_episode(
        self, episode_id: int, *, state: str | None = None, detail: dict[str, Any] | None = None
    ) -> None:
        values: dict[str, Any] = {}
        if state is not None:
            values["state"] = state
        if detail is not None:
            values["detail"] = detail
        if values:
            await self._write(episodes.update().where(episodes.c.id == episode_id).values(**values), fenced=True)

    async def close_episode(
        self,
        episode_id: int,
        *,
        ended_at: float,
        end_state: str,
        note: bool = True,
        detail: dict[str, Any] | None = None,
    ) -> None:
        stmt = episodes.update().where(episodes.c.id == episode_id, episodes.c.ended_at.is_(None))
        values: dict[str, Any] = {"ended_at": ended_at, "end_state": end_state, "recovery_noted": not note}
        if detail is not None:
            values["detail"] = detail
        await self._write(stmt.values(**values))

    async def mark_recoveries_noted(self, episode_ids: Sequence[int]) -> None:
        async with self.transaction():
            for chunk in iter_chunks(list(episode_ids), 500):
                stmt = episodes.update().where(episodes.c.id.in_(chunk)).values(recovery_noted=True)
                await self._write(stmt, fenced=True)

    async def attach_episodes(self, episode_ids: Sequence[int], alert_id: int) -> None:
        async with self.transaction():
            for chunk in iter_chunks(list(episode_ids), 500):
                await self._write(episodes.update().where(episodes.c.id.in_(chunk)).values(alert_id=alert_id))

    # ------------------------------------------------------------------ alerts

    async def create_alert(self, channel_id: str, kind: str, *, now: float, mention: str | None = None) -> Alert:
        stmt = alerts.insert().values(channel_id=channel_id, kind=kind, created_at=now, mention=mention)
        [row] = await self._returning(stmt.returning(*alerts.c))
        return from_row(Alert, row)

    async def alert(self, alert_id: int) -> Alert | None:
        rows = await self._rows(sa.select(alerts).where(alerts.c.id == alert_id))
        return from_row(Alert, rows[0]) if rows else None

    async def open_alerts(self, kind: str | None = None) -> list[Alert]:
        stmt = sa.select(alerts).where(*_equal(alerts, kind=kind), alerts.c.resolved_at.is_(None))
        return [from_row(Alert, r) for r in await self._rows(stmt.order_by(alerts.c.id))]

    async def set_alert_posted(self, alert_id: int, ts: str, now: float, seq: int = 0) -> None:
        stmt = alerts.update().where(alerts.c.id == alert_id).values(ts=ts, posted_at=now, posted_seq=seq)
        await self._write(stmt, fenced=True)

    async def set_alert_mention(self, alert_id: int, mention: str | None) -> None:
        await self._write(alerts.update().where(alerts.c.id == alert_id).values(mention=mention))

    async def ack_alert(self, alert_id: int, user_id: str, now: float) -> bool:
        stmt = alerts.update().where(alerts.c.id == alert_id, alerts.c.acked_by.is_(None))
        return await self._write(stmt.values(acked_by=user_id, acked_at=now)) > 0

    async def mark_reminded(self, alert_id: int, now: float) -> int:
        stmt = (
            alerts.update()
            .where(alerts.c.id == alert_id)
            .values(reminders=alerts.c.reminders + 1, last_reminder_at=now)
            .returning(alerts.c.reminders)
        )
        rows = await self._returning(stmt, fenced=True)
        return int(rows[0]["reminders"]) if rows else 0

    async def resolve_alert(self, alert_id: int, now: float) -> None:
        stmt = alerts.update().where(alerts.c.id == alert_id, alerts.c.resolved_at.is_(None))
        await self._write(stmt.values(resolved_at=now))

    # ------------------------------------------------------------------ snoozes

    async def snooze(self, channel_id: str, stream: str, task_name: str, *, until: float, by: str | None) -> None:
        stmt = self._insert(snoozes).values(
            channel_id=channel_id, stream=stream, task_name=task_name, until=until, by=by
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["channel_id", "stream", "task_name"],
            set_={"until": stmt.excluded.until, "by": stmt.excluded.by},
        )
        await self._write(stmt)

    async def snoozes(self, *, now: float, channel_id: str | None = None) -> list[Snooze]:
        stmt = sa.select(snoozes).where(*_equal(snoozes, channel_id=channel_id), snoozes.c.until > now)
        return [from_row(Snooze, r) for r in await self._rows(stmt.order_by(snoozes.c.until))]

    # ------------------------------------------------------------------ outbox

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
        stmt = self._insert(outbox).values(
            key=key,
            channel_id=channel_id,
            kind=kind,
            alert_id=alert_id,
            payload=payload or {},
            state=PENDING,
            not_before=now,
            created_at=now,
        )
        async with self.transaction():
            rows = await self._returning(stmt.on_conflict_do_nothing(index_elements=["key"]).returning(*outbox.c))
            if rows:
                await self._notify(OUTBOX_QUEUED)
        return from_row(OutboxItem, rows[0]) if rows else None

    async def pending_update(self, alert_id: int) -> bool:
        stmt = sa.select(outbox.c.id).where(
            outbox.c.alert_id == alert_id, outbox.c.kind == OUT_UPDATE, outbox.c.state == PENDING
        )
        return await self._scalar(stmt.limit(1)) is not None

    async def outbox_heads(self) -> list[OutboxItem]:
        # Per channel: the oldest pending alert post, else the oldest other pending row. A row waits while an older
        # row of its own alert is unfinished (its post and its earlier edits and replies, parked ones too); a
        # channel with a row being sent offers nothing.
        c, e, s = outbox.alias("c"), outbox.alias("e"), outbox.alias("s")
        earlier = sa.exists().where(
            e.c.alert_id == c.c.alert_id, e.c.id < c.c.id, e.c.state.in_((PENDING, SENDING, PARKED))
        )
        busy = sa.select(s.c.channel_id).where(s.c.state == SENDING)
        head = (
            sa.select(
                sa.func.coalesce(sa.func.min(sa.case((c.c.kind == OUT_POST, c.c.id))), sa.func.min(c.c.id)).label("id")
            )
            .where(c.c.state == PENDING, ~earlier, c.c.channel_id.not_in(busy))
            .group_by(c.c.channel_id)
            .subquery("h")
        )
        stmt = sa.select(outbox).join(head, outbox.c.id == head.c.id).order_by(outbox.c.id)
        return [from_row(OutboxItem, r) for r in await self._rows(stmt)]

    async def outbox_item(self, item_id: int) -> OutboxItem | None:
        rows = await self._rows(sa.select(outbox).where(outbox.c.id == item_id))
        return from_row(OutboxItem, rows[0]) if rows else None

    async def outbox_seq(self) -> int:
        return int(await self._scalar(sa.select(sa.func.coalesce(sa.func.max(outbox.c.id), 0))))

    async def outbox_depth(self) -> int:
        stmt = sa.select(sa.func.count()).select_from(outbox).where(outbox.c.state.in_((PENDING, SENDING, PARKED)))
        return int(await self._scalar(stmt))

    async def outbox(self, *, state: str | None = None, channel_id: str | None = None) -> list[OutboxItem]:
        stmt = sa.select(outbox).where(*_equal(outbox, state=state, channel_id=channel_id)).order_by(outbox.c.id)
        return [from_row(OutboxItem, r) for r in await self._rows(stmt)]

    async def mark_sending(self, item_id: int) -> None:
        stmt = outbox.update().where(outbox.c.id == item_id).values(state=SENDING, attempts=outbox.c.attempts + 1)
        await self._write(stmt, fenced=True)

    async def mark_done(self, item_id: int, now: float) -> None:
        stmt = outbox.update().where(outbox.c.id == item_id).values(state=DONE, delivered_at=now, last_error=None)
        await self._write(stmt, fenced=True)

    async def mark_retry(self, item_id: int, *, not_before: float, error: str) -> None:
        stmt = outbox.update().where(outbox.c.id == item_id)
        await self._write(stmt.values(state=PENDING, not_before=not_before, last_error=error), fenced=True)

    async def park_channel(self, channel_id: str, error: str, *, not_before: float) -> int:
        stmt = outbox.update().where(outbox.c.channel_id == channel_id, outbox.c.state.in_((PENDING, SENDING)))
        return await self._write(stmt.values(state=PARKED, not_before=not_before, last_error=error), fenced=True)

    async def parked_channels(self) -> dict[str, float]:
        """Channels with parked rows, and when each may be tried again."""
        stmt = (
            sa.select(outbox.c.channel_id, sa.func.min(outbox.c.not_before).label("when"))
            .where(outbox.c.state == PARKED)
            .group_by(outbox.c.channel_id)
        )
        return {r["channel_id"]: float(r["when"]) for r in await self._rows(stmt)}

    async def mark_dead(self, item_id: int, error: str) -> None:
        stmt = outbox.update().where(outbox.c.id == item_id).values(state=DEAD, last_error=error)
        await self._write(stmt, fenced=True)

    async def unpark(self, channel_id: str, now: float) -> int:
        stmt = outbox.update().where(outbox.c.channel_id == channel_id, outbox.c.state == PARKED)
        async with self.transaction():
            n = await self._write(stmt.values(state=PENDING, not_before=now))
            if n:
                await self._notify(OUTBOX_QUEUED)
        return n

    async def recover_sending(self) -> int:
        stmt = outbox.update().where(outbox.c.state == SENDING).values(state=PENDING)
        return await self._write(stmt, fenced=True)

    # ------------------------------------------------------------------ stream health

    async def stream_health(self) -> dict[str, StreamHealth]:
        return {r["stream"]: from_row(StreamHealth, r) for r in await self._rows(sa.select(stream_health))}

    async def put_stream_health(self, health: StreamHealth) -> None:
        values = {
            "stream": health.stream,
            "failures": health.failures,
            "first_failure_at": health.first_failure_at,
            "error_kind": health.error_kind,
            "error": health.error,
            "warned": health.warned,
        }
        stmt = self._insert(stream_health).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["stream"], set_={k: stmt.excluded[k] for k in values if k != "stream"}
        )
        await self._write(stmt, fenced=True)

    async def clear_stream_health(self, stream: str) -> None:
        await self._write(stream_health.delete().where(stream_health.c.stream == stream), fenced=True)

    # ------------------------------------------------------------------ last polls (replicas)

    async def stream_polls(self) -> dict[str, StreamPoll]:
        return {r["stream"]: from_row(StreamPoll, r) for r in await self._rows(sa.select(stream_polls))}

    async def put_stream_polls(self, polls: Iterable[StreamPoll]) -> None:
        rows = [
            {
                "stream": p.stream,
                "at": p.at,
                "ok": p.ok,
                "counts": dict(p.counts),
                "error_kind": p.error_kind,
                "error": p.error,
                "failures": p.failures,
            }
            for p in polls
        ]
        async with self.transaction():
            await self.check_fence()
            await self._write(stream_polls.delete())
            if rows:
                await self._write_many(stream_polls.insert(), rows)

    # ------------------------------------------------------------------ housekeeping

    async def prune(self, before: float) -> int:
        finished = (DONE, DEAD)
        live = (PENDING, SENDING, PARKED)
        async with self.transaction():
            await self.check_fence()
            n = await self._write(outbox.delete().where(outbox.c.state.in_(finished), outbox.c.created_at < before))
            resolved = sa.select(alerts.c.id).where(alerts.c.resolved_at.is_not(None))
            n += await self._write(
                episodes.delete().where(
                    episodes.c.ended_at.is_not(None),
                    episodes.c.ended_at < before,
                    episodes.c.recovery_noted.is_(True),
                    episodes.c.alert_id.is_(None) | episodes.c.alert_id.in_(resolved),
                )
            )
            n += await self._write(
                alerts.delete().where(
                    alerts.c.resolved_at.is_not(None),
                    alerts.c.resolved_at < before,
                    alerts.c.id.not_in(sa.select(episodes.c.alert_id).where(episodes.c.alert_id.is_not(None))),
                    alerts.c.id.not_in(
                        sa.select(outbox.c.alert_id).where(outbox.c.alert_id.is_not(None), outbox.c.state.in_(live))
                    ),
                )
            )
            n += await self._write(snoozes.delete().where(snoozes.c.until < before))
        return n


def _equal(table: sa.Table, **filters: object) -> list[sa.ColumnElement[bool]]:
    """`column = value` for each filter that is not None."""
    return [table.c[name] == value for name, value in filters.items() if value is not None]


# ---------------------------------------------------------------------- engines


def _sqlite_engine(target: DatabaseUrl) -> AsyncEngine:
    """aiosqlite on the file (SQLite URI parameters kept), one connection, transactions begun by us."""
    if target.path == ":memory:":
        url = sa.URL.create("sqlite+aiosqlite", database=":memory:")
        engine = create_async_engine(url, poolclass=StaticPool)
    else:
        query: dict[str, str] = {}
        database = target.path
        if target.query:
            database = f"file:{quote(target.path)}"
            query = {**dict(parse_qsl(target.query, keep_blank_values=True)), "uri": "true"}
        url = sa.URL.create("sqlite+aiosqlite", database=database, query=query)
        engine = create_async_engine(
            url, poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0, pool_timeout=3600
        )
    memory = target.path == ":memory:"

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling is off: `begin` below says BEGIN, IMMEDIATE for writes.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # A write takes the lock first (never upgraded half-way). A read needs no transaction: one statement, its own
        # WAL snapshot; skipping BEGIN saves a thread hop per read.
        if conn.get_execution_options().get(_WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _enable_wal(cursor: Any) -> None:
    """`PRAGMA journal_mode=WAL`, retried: two processes opening a new file at once can get "database is locked"
    at once from it (SQLite does not always wait on its busy timeout while the journal mode changes). Runs once per
    connection, and the pool holds one, so the short blocking waits happen at start only."""
    for attempt in range(50):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:
            if "locked" not in str(exc) or attempt == 49:
                raise
            time.sleep(0.02)


def _pg_engine(target: DatabaseUrl, pool_size: int, idle_transaction_timeout: float) -> AsyncEngine:
    """asyncpg, handed DATABASE_URL as it is: it reads `sslmode` (Heroku's `?sslmode=require`) and `postgres://`."""
    import asyncpg

    dsn = target.url
    settings = {"idle_in_transaction_session_timeout": str(max(int(idle_transaction_timeout * 1000), 1))}
    if "application_name=" not in dsn:  # the URL's own name wins
        # Which replica a session belongs to, in pg_stat_activity (as the lease's own connection says too).
        settings["application_name"] = f"dis-bot store {socket.gethostname()}:{os.getpid()}"[:63]

    async def connect() -> Any:
        return await asyncpg.connect(dsn, timeout=10, server_settings=settings)

    return create_async_engine(
        "postgresql+asyncpg://",
        async_creator=connect,
        # A fixed pool: connections opened under load and closed after it cost more than waiting for one.
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=30,
    )
