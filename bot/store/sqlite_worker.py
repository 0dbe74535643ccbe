"""SQLite on one worker thread: every statement is one hop from the event loop, none runs on it.

aiosqlite behind SQLAlchemy's asyncio engine costs a thread hop for each of cursor(), execute(), fetchall() and
close(), plus BEGIN and COMMIT: 0.7 ms per read and 1.3-2 ms per write here, where the statement itself takes
30-50 µs. This adapter runs SQLAlchemy's sync engine (pysqlite) on one dedicated thread that owns the one
connection, and offers the part of `AsyncConnection` that `SqlStore` uses:

- `execute` runs the statement and reads its whole result (rows, row count) in one hop, and returns it
  buffered (`mappings()`, `all()`, `scalar()`, `scalars()`, `rowcount`): nothing touches SQLite afterwards;
- `begin` sends nothing: a write transaction's `BEGIN IMMEDIATE` goes with its first statement, and its COMMIT
  with its last one (`execute(..., commit=True)`: a one-statement write is one hop) or as one hop of its own;
  a read (no `begin` of a write) runs each statement on its own (WAL: its own snapshot), no BEGIN, no COMMIT;
- `prepare(busy_ms=...)` sets SQLite's lock wait (`PRAGMA busy_timeout`) with the next statement, only when it
  changes;
- `run_sync(fn)` hands the sync connection to `fn` in the worker (Alembic's migrations run that way).

One connection, one user at a time (`connect()` waits its turn, as a pool of one would). Errors are
SQLAlchemy's own (`DBAPIError` wrapping pysqlite's), so `bot.store.faults.classify` reads them unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import NullPool, StaticPool

T = TypeVar("T")


class Buffered:
    """A statement's whole outcome, read in the worker thread: its rows (if it returns any) and its row count.

    Lighter than SQLAlchemy's `freeze()` (which rebuilds the result's metadata: 25 µs a statement).
    """

    __slots__ = ("_rows", "rowcount")

    def __init__(self, result: sa.CursorResult[Any]) -> None:
        self.rowcount: int = result.rowcount
        self._rows: list[sa.Row[Any]] | None = list(result.all()) if result.returns_rows else None

    def _all(self) -> list[sa.Row[Any]]:
        if self._rows is None:
            raise sa.exc.ResourceClosedError("This result object does not return rows.")
        return self._rows

    def all(self) -> list[sa.Row[Any]]:
        return list(self._all())

    def first(self) -> sa.Row[Any] | None:
        rows = self._all()
        return rows[0] if rows else None

    def scalar(self) -> Any:
        rows = self._all()
        return rows[0][0] if rows else None

    def mappings(self) -> Rows[sa.RowMapping]:
        return Rows([row._mapping for row in self._all()])

    def scalars(self) -> Rows[Any]:
        return Rows([row[0] for row in self._all()])


class Rows(Generic[T]):
    """`mappings()` and `scalars()` of a `Buffered`: what `MappingResult` and `ScalarResult` offer that we use."""

    __slots__ = ("_items",)

    def __init__(self, items: list[T]) -> None:
        self._items = items

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def all(self) -> list[T]:
        return list(self._items)

    def first(self) -> T | None:
        return self._items[0] if self._items else None

    def one(self) -> T:
        if len(self._items) != 1:
            raise sa.exc.NoResultFound("no row") if not self._items else sa.exc.MultipleResultsFound("rows")
        return self._items[0]


class SqliteEngine:
    """The worker thread and its one SQLite connection (opened on first use, in the thread; again after `dispose`).

    Args:
        url: a `sqlite://` URL for pysqlite (SQLite URI parameters in its query, with `uri=true`).
    """

    def __init__(self, url: sa.URL) -> None:
        memory = url.database in (None, "", ":memory:")
        # One connection for the engine's life: a memory database must stay the same one.
        self.sync_engine = sa.create_engine(url, poolclass=StaticPool if memory else NullPool)
        self._executor: ThreadPoolExecutor | None = None
        self._turn = asyncio.Lock()
        #: Hops to the worker so far (what a store call costs: `bench/store.py`, the tests).
        self.hops = 0
        # Worker thread only: the connection, and the DBAPI connection and busy timeout last set on it.
        self._conn: sa.Connection | None = None
        self._busy: tuple[object, int] | None = None

        @event.listens_for(self.sync_engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            # pysqlite's own transaction handling is off: `SqliteConnection` says BEGIN IMMEDIATE for writes.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[SqliteConnection]:
        """The connection, once the previous user is done; a transaction left open is rolled back on the way out."""
        async with self._turn:
            conn = SqliteConnection(self)
            try:
                yield conn
            finally:
                await conn.close()

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[SqliteConnection]:
        """A write transaction, committed at the end (as `AsyncEngine.begin`)."""
        async with self.connect() as conn:
            conn.prepare(write=True)
            await conn.begin()
            yield conn
            await conn.commit()

    async def dispose(self) -> None:
        """Close the connection (after the current user) and let the thread end; a later call opens both again."""
        async with self._turn:
            executor, self._executor = self._executor, None
            if executor is None:
                return
            try:
                await asyncio.get_running_loop().run_in_executor(executor, self._close)
            finally:
                executor.shutdown(wait=False)

    async def hop(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` in the worker thread; its result or exception."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="disbot-sqlite")
        self.hops += 1
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # ---------------------------------------------------------------- worker thread

    def _set_busy(self, conn: sa.Connection, busy_ms: int | None) -> None:
        raw = conn.connection.dbapi_connection
        if busy_ms is not None and self._busy != (raw, busy_ms):
            conn.exec_driver_sql(f"PRAGMA busy_timeout={int(busy_ms)}")
            self._busy = (raw, busy_ms)

    def run(self, work: Callable[[sa.Connection], T], *, begin: bool, autocommit: bool, busy_ms: int | None) -> T:
        """`work(connection)` after `BEGIN IMMEDIATE` if `begin`; committed right after if `autocommit`."""
        if self._conn is None or self._conn.closed:
            self._conn = self.sync_engine.connect()
        conn = self._conn
        try:
            if begin and conn.in_transaction():
                conn.rollback()  # a failed statement's, or a cancelled caller's: never carried over
            self._set_busy(conn, busy_ms)
            if begin:
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # the lock first, never upgraded half-way
            out = work(conn)
            if autocommit:
                # A read's: SQLAlchemy's own bookkeeping (SQLite began nothing, isolation_level None); a write's
                # last statement: its COMMIT, in this hop.
                conn.commit()
        except BaseException:
            if autocommit:
                with contextlib.suppress(sa.exc.DBAPIError):  # the first error is the one to report
                    conn.rollback()
            raise
        return out

    def end(self, commit: bool) -> None:
        conn = self._conn
        if conn is None or conn.closed or not conn.in_transaction():
            return
        if commit:
            conn.commit()
        else:
            conn.rollback()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._busy = None
        self.sync_engine.dispose()


class SqliteConnection:
    """The part of `AsyncConnection` that `SqlStore` (and the tests' helpers) use, one hop per call."""

    def __init__(self, engine: SqliteEngine) -> None:
        self._engine = engine
        self._write = False
        self._busy_ms: int | None = None
        #: `begin()` of a write was called and its BEGIN not sent yet.
        self._pending = False
        #: A BEGIN went to the worker: the transaction may be open until commit or rollback.
        self._open = False

    def prepare(self, *, write: bool, busy_ms: int | None = None) -> None:
        """Whether `begin()` starts a write (`BEGIN IMMEDIATE`), and SQLite's lock wait from the next statement on."""
        self._write = write
        self._busy_ms = busy_ms

    @property
    def in_transaction(self) -> bool:
        return self._open

    async def begin(self) -> None:
        # Sent with the first statement (a read sends none: each statement is its own snapshot).
        self._pending = self._write

    async def execute(self, statement: sa.Executable, parameters: Any = None, *, commit: bool = False) -> Buffered:
        """Run a statement; `commit`: and commit the transaction with it, in the same hop (rolled back if it fails)."""
        return await self.run_sync(lambda conn: Buffered(conn.execute(statement, parameters)), commit=commit)

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Buffered:
        return await self.run_sync(lambda conn: Buffered(conn.exec_driver_sql(statement, parameters)))

    async def run_sync(self, fn: Callable[..., T], *args: Any, commit: bool = False) -> T:
        """`fn(sync_connection, *args)` in the worker thread, inside this connection's transaction (`commit`: as
        `execute`)."""
        begin, self._pending = self._pending, False
        # Set before the hop: a caller cancelled while the worker runs still rolls the transaction back (or the
        # hop ends it itself: commit, or rollback if it fails).
        self._open = (self._open or begin) and not commit
        autocommit, busy_ms, run = not self._open, self._busy_ms, self._engine.run
        return await self._engine.hop(
            lambda: run(lambda conn: fn(conn, *args), begin=begin, autocommit=autocommit, busy_ms=busy_ms)
        )

    async def commit(self) -> None:
        await self._end(commit=True)

    async def rollback(self) -> None:
        await self._end(commit=False)

    async def close(self) -> None:
        await self._end(commit=False)

    async def _end(self, *, commit: bool) -> None:
        self._pending = False
        if self._open:
            self._open = False
            await self._engine.hop(self._engine.end, commit)
