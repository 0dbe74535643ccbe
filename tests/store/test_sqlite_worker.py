"""SQLite's worker thread: a store call costs one hop to it per statement (a write's BEGIN goes with its first
statement, its COMMIT with a single call's last one or as a hop of its own), every statement runs there and
never on the event loop's thread, and a caller cancelled mid-transaction leaves nothing open behind it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy import exc as sa_exc

from bot.store import SqlStore, connect_store
from bot.store.sqlite_worker import SqliteEngine

NOW = 1_700_000_000.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    s = await connect_store(f"sqlite:///{tmp_path / 'bot.db'}")
    yield s
    await s.close()


def worker(store: SqlStore) -> SqliteEngine:
    assert isinstance(store.engine, SqliteEngine)
    return store.engine


async def hops(store: SqlStore, call: Any) -> int:
    before = worker(store).hops
    await call
    return worker(store).hops - before


async def test_a_read_or_a_one_statement_write_is_one_hop(store: SqlStore) -> None:
    """A read is one hop (no BEGIN, no COMMIT), so is a one-statement write (BEGIN and COMMIT with it); a fenced
    one adds its term check; a transaction of three statements is four (COMMIT on its own)."""
    await store.upsert_subscription("C1", "orders", now=NOW)
    assert await hops(store, store.subscriptions()) == 1
    assert await hops(store, store.set_baseline_done("C1", "orders")) == 1
    assert await hops(store, store.enqueue("k1", "C1", "message", now=NOW)) == 1
    store.fence(0)
    assert await hops(store, store.mark_done(1, NOW)) == 2
    assert await hops(store, store.upsert_subscription("C1", "orders", now=NOW)) == 4
    assert [i.state for i in await store.outbox()] == ["done"]


async def test_statements_run_in_the_worker_thread_not_the_loops(store: SqlStore) -> None:
    """SQLAlchemy's execution of every statement (compiling, SQLite, reading rows) happens off the loop's thread."""
    threads: set[int] = set()

    def seen(*_args: Any) -> None:
        threads.add(threading.get_ident())

    event.listen(worker(store).sync_engine, "before_cursor_execute", seen)
    await store.upsert_subscription("C1", "orders", now=NOW)
    await store.subscriptions()
    assert threads and threading.get_ident() not in threads


async def test_a_failing_one_hop_write_is_rolled_back(store: SqlStore) -> None:
    """A one-statement write that fails (a constraint) rolls back in its hop: the next write takes the lock."""
    await store.upsert_subscription("C1", "orders", now=NOW)
    with pytest.raises(sa_exc.IntegrityError):
        await store.enqueue(None, "C1", "message", now=NOW)  # type: ignore[arg-type]
    await asyncio.wait_for(store.set_baseline_done("C1", "orders"), 5)
    assert not (await store.subscriptions())[0].baseline_pending


async def test_a_caller_cancelled_mid_transaction_leaves_nothing_open(store: SqlStore) -> None:
    """A task cancelled inside a transaction rolls it back: nothing of it is kept and the next write goes through
    (SQLite's lock is not left held by a transaction nobody will commit)."""
    inside = asyncio.Event()

    async def interrupted() -> None:
        async with store.transaction():
            await store.upsert_subscription("C1", "orders", now=NOW)
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(interrupted())
    await asyncio.wait_for(inside.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await store.subscriptions() == []
    await asyncio.wait_for(store.upsert_subscription("C1", "payments", now=NOW), 5)
    assert [s.stream for s in await store.subscriptions()] == ["payments"]


async def test_a_memory_database_keeps_its_rows_across_calls() -> None:
    """`sqlite:///:memory:` is one database for the store's life (one connection, in the worker)."""
    store = await connect_store("sqlite:///:memory:")
    try:
        await store.upsert_subscription("C1", "orders", now=NOW)
        assert [s.stream for s in await store.subscriptions()] == ["orders"]
    finally:
        await store.close()
