"""Store faults SQLite itself raises on a real file: a lock held by another connection, a full database, a
read-only open. Each is a `StoreUnavailable`, rolls back whole, is reported to `store.faults`, and heals by
itself when the fault is gone."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from sqlalchemy import exc as sa_exc

from bot.errors import ConfigError, StoreUnavailable
from bot.store import SqlStore, check_database_writable, connect_store, open_store
from bot.store.faults import StoreFaults
from tests.conftest import ManualClock, WriteLock

NOW = 1_700_000_000.0


@pytest.fixture
async def db(tmp_path: Path) -> Path:
    """A migrated SQLite file."""
    path = tmp_path / "bot.db"
    await (await connect_store(f"sqlite:///{path}")).close()
    return path


async def pragma(store: SqlStore, statement: str) -> int | None:
    """Run a PRAGMA on the store's own (only) SQLite connection."""
    async with store.engine.connect() as conn:
        return (await conn.exec_driver_sql(f"PRAGMA {statement}")).scalar()


async def test_a_locked_database_fails_fast_after_the_first_wait_and_heals(db: Path) -> None:
    """`database is locked` is a StoreUnavailable; only the first write waits `busy_timeout`, the next ones fail at
    once (the event loop is not held), and the first write after the lock is gone clears the fault."""
    store = open_store(f"sqlite:///{db}", busy_timeout=0.2)
    with WriteLock(db):
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable, match="database is locked") as caught:
            await store.upsert_subscription("C1", "orders", now=NOW)
        first = time.monotonic() - t0
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.upsert_subscription("C1", "orders", now=NOW)
        second = time.monotonic() - t0
        assert await store.subscriptions() == []  # reads still work (WAL)
    assert caught.value.code == "SQLITE_BUSY" and not caught.value.read_only
    assert first >= 0.19 and second < 0.05
    assert store.faults.failing and store.faults.failures == 2
    await store.upsert_subscription("C1", "orders", now=NOW)
    assert not store.faults.failing
    assert [s.stream for s in await store.subscriptions()] == ["orders"]
    await store.close()


async def test_a_full_database_rolls_the_whole_transaction_back(db: Path) -> None:
    """SQLITE_FULL in the middle of a transaction leaves nothing half-written, and writes work once there is room."""
    store = open_store(f"sqlite:///{db}")
    pages = await pragma(store, "page_count")
    # `max_page_count` is SQLite's own "disk full" on this connection (a full filesystem needs a mount).
    await pragma(store, f"max_page_count = {pages}")
    with pytest.raises(StoreUnavailable, match="full") as caught:
        async with store.transaction():
            await store.upsert_subscription("C1", "orders", now=NOW)
            for i in range(200):
                await store.enqueue(f"k{i}", "C1", "message", now=NOW, payload={"text": "x" * 2000})
    assert caught.value.code == "SQLITE_FULL"
    assert await store.subscriptions() == [] and await store.outbox() == []
    assert store.faults.failing
    await pragma(store, f"max_page_count = {pages * 100}")
    await store.upsert_subscription("C1", "orders", now=NOW)
    await store.check_writable()
    assert not store.faults.failing
    assert [s.stream for s in await store.subscriptions()] == ["orders"]
    await store.close()


async def test_small_writes_that_still_fit_on_a_full_database_do_not_end_the_fault(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On a full database small writes still commit in the pages it has: the fault lasts (no recovery line) until
    `check_writable`, whose write needs new pages, commits; then one `store.write_recovered`."""
    caplog.set_level(logging.INFO, logger="bot.store")
    store = open_store(f"sqlite:///{db}")
    await store.check_writable()
    pages = await pragma(store, "page_count")
    await pragma(store, f"max_page_count = {pages}")
    with pytest.raises(StoreUnavailable, match="full"):
        for i in range(200):
            await store.enqueue(f"k{i}", "C1", "message", now=NOW, payload={"text": "x" * 2000})
    for _ in range(5):
        await store.upsert_subscription("C1", "orders", now=NOW)  # fits: commits, proves nothing
        assert store.faults.failing and store.faults.error is not None
        assert store.faults.error.code == "SQLITE_FULL"
        with pytest.raises(StoreUnavailable, match="full"):
            await store.check_writable()
    await pragma(store, f"max_page_count = {pages * 100}")
    await store.upsert_subscription("C1", "orders", now=NOW)
    assert store.faults.failing
    await store.check_writable()
    assert not store.faults.failing and store.faults.check(0.0) == (True, {"ok": True})
    assert [r.getMessage() for r in caplog.records] == ["store.write_failing", "store.write_recovered"]
    async with store.engine.connect() as conn:  # the probe's row went with its transaction
        assert (await conn.exec_driver_sql("SELECT count(*) FROM schema_version")).scalar() == 1
    await store.close()


async def test_a_bug_is_not_a_store_fault(db: Path) -> None:
    """A constraint our own code breaks stays an IntegrityError and does not make the store "failing"."""
    store = open_store(f"sqlite:///{db}")
    with pytest.raises(sa_exc.IntegrityError):
        async with store.transaction():
            await store.enqueue(None, "C1", "post", now=NOW)  # type: ignore[arg-type]
    assert not store.faults.failing
    await store.close()


async def test_faults_warn_once_per_interval_then_once_on_recovery(caplog: pytest.LogCaptureFixture) -> None:
    """Many refused writes make one WARNING per `warn_every` seconds, and the recovery one INFO line."""
    clock = ManualClock()
    faults = StoreFaults(warn_every=60, clock=clock)
    caplog.set_level(logging.INFO, logger="bot.store")
    error = StoreUnavailable("database is locked", code="SQLITE_BUSY")
    for _ in range(100):
        faults.failed(error)
        clock.now += 0.5  # a poll every half second for 50 s
    clock.now += 10
    faults.failed(error)
    assert [r.getMessage() for r in caplog.records] == ["store.write_failing", "store.write_failing"]
    ready, detail = faults.check(clock.now)
    assert not ready
    assert detail["reason"] == "store failing: database is locked"
    assert detail["failures"] == 101 and detail["failing_seconds"] == 60.0
    faults.wrote()
    faults.wrote()
    assert [(r.levelname, r.getMessage()) for r in caplog.records][-1] == ("INFO", "store.write_recovered")
    assert len(caplog.records) == 3
    assert faults.check(clock.now) == (True, {"ok": True})


def test_a_fault_that_comes_and_goes_still_warns_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    """A lock taken and released every few seconds (a backup job) is one WARNING a minute, not one per lock."""
    clock = ManualClock()
    faults = StoreFaults(warn_every=60, clock=clock)
    caplog.set_level(logging.WARNING, logger="bot.store")
    for _ in range(20):  # 100 s of: refused, then works again 5 s later
        faults.failed(StoreUnavailable("database is locked", code="SQLITE_BUSY"))
        clock.now += 5
        faults.wrote()
    assert [r.getMessage() for r in caplog.records] == ["store.write_failing", "store.write_failing"]


def test_a_fault_that_comes_and_goes_logs_one_recovery_per_warning(caplog: pytest.LogCaptureFixture) -> None:
    """Recoveries are logged at most once per warning: a lock taken and released every 5 s for 100 s is two
    `store.write_failing` and two `store.write_recovered`, each recovery after its warning."""
    clock = ManualClock()
    faults = StoreFaults(warn_every=60, clock=clock)
    caplog.set_level(logging.INFO, logger="bot.store")
    for _ in range(20):
        faults.failed(StoreUnavailable("database is locked", code="SQLITE_BUSY"))
        clock.now += 5
        faults.wrote()
    assert [r.getMessage() for r in caplog.records] == ["store.write_failing", "store.write_recovered"] * 2


async def test_an_empty_transaction_is_no_proof_that_writes_work(db: Path) -> None:
    """A transaction that wrote nothing (a steady poll) succeeds even on a full disk: it does not end the fault."""
    store = open_store(f"sqlite:///{db}", busy_timeout=0.01)
    with WriteLock(db):
        with pytest.raises(StoreUnavailable):
            await store.set_baseline_done("C1", "orders")
    async with store.transaction():
        await store.subscriptions()
    assert store.faults.failing
    await store.check_writable()
    assert not store.faults.failing
    await store.close()


async def test_a_read_only_open_is_refused_at_start_naming_database_url(db: Path) -> None:
    """A database that opens for reading but takes no write stops the start: ConfigError naming DATABASE_URL and
    "read-only"."""
    url = f"sqlite:///{db}?mode=ro"
    store = open_store(url)
    assert await store.subscriptions() == []  # it can be read...
    with pytest.raises(StoreUnavailable) as caught:
        await store.check_writable()  # ...but not written
    assert caught.value.read_only
    await store.close()
    with pytest.raises(ConfigError, match=r"DATABASE_URL .* is read-only"):
        await check_database_writable(url)


async def test_a_locked_database_at_start_is_only_a_warning(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A lock held at start passes (the store heals by itself): the start-up check warns and lets the bot start."""
    caplog.set_level(logging.WARNING, logger="bot.store")
    with WriteLock(db):
        await check_database_writable(f"sqlite:///{db}")
    assert "store.start_write_failed" in [r.getMessage() for r in caplog.records]


async def test_a_writable_database_passes_the_start_check(db: Path) -> None:
    """The start-up check changes nothing in a database that works."""
    await check_database_writable(f"sqlite:///{db}")
    store = open_store(f"sqlite:///{db}")
    await store.check_writable()
    assert not store.faults.failing
    await store.close()
