"""SQLite's worker thread: a store call costs one hop to it per statement (a write's BEGIN goes with its first
statement, its COMMIT is one more), every statement runs there and never on the event loop's thread, and a
caller cancelled mid-transaction leaves nothing open behind it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

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


async def test_a_read_is_one_hop_and_a_write_two(store: SqlStore) -> None:
    """A read is one hop (no BEGIN, no COMMIT), a one-statement write two (BEGIN with it, then COMMIT), and a
    transaction of three statements four."""
    await store.upsert_subscription("C1", "orders", now=NOW)
    assert await hops(store, store.subscriptions()) == 1
    assert await hops(store, store.set_baseline_done("C1", "orders")) == 2
    assert await hops(store, store.upsert_subscription("C1", "orders", now=NOW)) == 4


async def test_statements_run_in_the_worker_thread_not_the_loops(store: SqlStore) -> None:
    """SQLAlchemy's execution of every statement (compiling, SQLite, reading rows) happens off the loop's thread."""
    threads: set[int] = set()

    def seen(*_args: Any) -> None:
        threads.add(threading.get_ident())

    event.listen(worker(store).sync_engine, "before_cursor_execute", seen)
    await store.upsert_subscription("C1", "orders", now=NOW)
    await store.subscriptions()
    assert threads and threading.get_ident() not in threads


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
