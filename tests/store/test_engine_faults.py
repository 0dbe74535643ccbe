"""Faults of each engine seen as `StoreUnavailable`, and a store that never holds the event loop: SQLite waiting for
another process's lock, PostgreSQL unreachable, its connection killed mid-transaction, a read-only server."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path

import asyncpg
import pytest

from bot.errors import ConfigError, StoreUnavailable
from bot.store import check_database_writable, connect_store, open_store
from tests.conftest import WriteLock, free_port

NOW = 1_700_000_000.0


async def longest_stall(work: asyncio.Future[object] | asyncio.Task[object]) -> float:
    """The longest the event loop went without running a 5 ms ticker while `work` ran."""
    longest, last = 0.0, time.monotonic()
    while not work.done():
        await asyncio.sleep(0.005)
        now = time.monotonic()
        longest, last = max(longest, now - last), now
    return longest


async def test_a_write_waiting_for_sqlites_lock_leaves_the_event_loop_free(tmp_path: Path) -> None:
    """While a write waits `busy_timeout` for a lock another process holds, the event loop keeps running (acks are
    answered): SQLite works in aiosqlite's thread, not on the loop."""
    db = tmp_path / "bot.db"
    store = await connect_store(f"sqlite:///{db}", busy_timeout=0.4)
    try:
        with WriteLock(db):
            t0 = time.monotonic()
            write = asyncio.ensure_future(store.upsert_subscription("C1", "orders", now=NOW))
            stall = await longest_stall(write)
            with pytest.raises(StoreUnavailable, match="database is locked"):
                await write
            waited = time.monotonic() - t0
        assert waited >= 0.35 and stall < 0.1, (waited, stall)
    finally:
        await store.close()


async def test_an_unreachable_postgresql_is_a_passing_fault(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing listening at DATABASE_URL: calls raise StoreUnavailable (SQLSTATE 08006), readiness says why, and the
    start-up check only warns (the server may come up after the bot), naming no password."""
    url = f"postgresql://bot:s3cret@127.0.0.1:{free_port()}/bot"
    store = open_store(url)
    with pytest.raises(StoreUnavailable) as caught:
        await store.subscriptions()
    assert caught.value.code == "08006" and not caught.value.read_only
    assert store.faults.failing and not store.faults.check(0.0)[0]
    await store.close()
    caplog.set_level(logging.WARNING, logger="bot.store")
    await check_database_writable(url)
    assert "store.start_write_failed" in [r.getMessage() for r in caplog.records]
    assert "s3cret" not in caplog.text


async def test_a_connection_killed_mid_transaction_rolls_back_and_heals(postgres_url: str) -> None:
    """The server ends our connection inside a transaction (a failover, an admin's pg_terminate_backend): nothing of
    the transaction is kept, it is a StoreUnavailable, and the next call works on a new connection."""
    name = f"disbot-test-{uuid.uuid4().hex[:8]}"  # only this store's connections are ended
    store = await connect_store(f"{postgres_url}&application_name={name}")
    admin = await asyncpg.connect(postgres_url)
    try:
        with pytest.raises(StoreUnavailable):
            async with store.transaction():
                await store.upsert_subscription("C1", "orders", now=NOW)
                ended = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", name
                )
                assert ended >= 1
                await store.upsert_subscription("C1", "payments", now=NOW)
        assert store.faults.failing
        assert await store.subscriptions() == []
        await store.upsert_subscription("C1", "orders", now=NOW)
        assert not store.faults.failing
    finally:
        await admin.close()
        await store.close()


async def test_a_read_only_postgresql_is_refused_at_start(postgres_url: str) -> None:
    """A server that takes no writes (a standby, default_transaction_read_only): writes are a read-only
    StoreUnavailable (25006), and the start-up check refuses it naming DATABASE_URL and "read-only"."""
    await (await connect_store(postgres_url)).close()
    read_only = f"{postgres_url}&default_transaction_read_only=on"
    store = open_store(read_only)
    assert await store.subscriptions() == []
    with pytest.raises(StoreUnavailable) as caught:
        await store.check_writable()
    assert caught.value.read_only and caught.value.code == "25006"
    await store.close()
    with pytest.raises(ConfigError, match=r"DATABASE_URL .* is read-only"):
        await check_database_writable(read_only)
