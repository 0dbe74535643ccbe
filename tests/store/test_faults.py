"""Store faults SQLite itself raises on a real file: a lock held by another connection, a full database, a
read-only open. Each is a `StoreUnavailable`, rolls back whole, is reported to `store.faults`, and heals by
itself when the fault is gone."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import pytest

from bot.errors import ConfigError, StoreUnavailable
from bot.store import check_database_writable, open_store
from bot.store.faults import StoreFaults
from bot.store.sqlite import SqliteStore
from tests.conftest import ManualClock, WriteLock

NOW = 1_700_000_000.0


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "bot.db"
    SqliteStore(str(path)).close()
    return path


def test_a_locked_database_fails_fast_after_the_first_wait_and_heals(db: Path) -> None:
    """`database is locked` is a StoreUnavailable; only the first write waits `busy_timeout`, the next ones fail at
    once (the event loop is not held), and the first write after the lock is gone clears the fault."""
    store = SqliteStore(str(db), busy_timeout=0.2)
    with WriteLock(db):
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable, match="database is locked") as caught:
            store.upsert_subscription("C1", "orders", now=NOW)
        first = time.monotonic() - t0
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.upsert_subscription("C1", "orders", now=NOW)
        second = time.monotonic() - t0
        assert store.subscriptions() == []  # reads still work (WAL)
    assert caught.value.code == "SQLITE_BUSY" and not caught.value.read_only
    assert first >= 0.19 and second < 0.05
    assert store.faults.failing and store.faults.failures == 2
    store.upsert_subscription("C1", "orders", now=NOW)
    assert not store.faults.failing
    assert [s.stream for s in store.subscriptions()] == ["orders"]
    store.close()


def test_a_full_database_rolls_the_whole_transaction_back(db: Path) -> None:
    """SQLITE_FULL in the middle of a transaction leaves nothing half-written, and writes work once there is room."""
    store = SqliteStore(str(db))
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    # `max_page_count` is SQLite's own "disk full" on this connection (a full filesystem needs a mount).
    store._conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreUnavailable, match="full") as caught:
        with store.transaction():
            store.upsert_subscription("C1", "orders", now=NOW)
            for i in range(200):
                store.enqueue(f"k{i}", "C1", "message", now=NOW, payload={"text": "x" * 2000})
    assert caught.value.code == "SQLITE_FULL"
    assert store.subscriptions() == [] and store.outbox() == []
    assert store.faults.failing
    store._conn.execute(f"PRAGMA max_page_count = {pages * 100}")
    store.upsert_subscription("C1", "orders", now=NOW)
    assert not store.faults.failing
    store.close()


def test_a_bug_is_not_a_store_fault(db: Path) -> None:
    """A constraint our own code breaks stays an IntegrityError and does not make the store "failing"."""
    store = SqliteStore(str(db))
    with pytest.raises(sqlite3.IntegrityError):
        with store.transaction():
            store._conn.execute(
                "INSERT INTO outbox (key, channel_id, kind, state, created_at) VALUES (NULL, 1, 2, 3, 4)"
            )
    assert not store.faults.failing
    store.close()


def test_faults_warn_once_per_interval_then_once_on_recovery(caplog: pytest.LogCaptureFixture) -> None:
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


def test_an_empty_transaction_is_no_proof_that_writes_work(db: Path) -> None:
    """A transaction that wrote nothing (a steady poll) succeeds even on a full disk: it does not end the fault."""
    store = SqliteStore(str(db), busy_timeout=0.01)
    with WriteLock(db):
        with pytest.raises(StoreUnavailable):
            store.set_baseline_done("C1", "orders")
    with store.transaction():
        store.subscriptions()
    assert store.faults.failing
    store.check_writable()
    assert not store.faults.failing
    store.close()


def test_a_read_only_open_is_refused_at_start_naming_database_url(db: Path) -> None:
    """A database that opens for reading but takes no write stops the start: ConfigError naming DATABASE_URL and
    "read-only"."""
    url = f"sqlite:///{db}?mode=ro"
    store = open_store(url)
    assert store.subscriptions() == []  # it can be read...
    with pytest.raises(StoreUnavailable) as caught:
        store.check_writable()  # ...but not written
    assert caught.value.read_only
    store.close()
    with pytest.raises(ConfigError, match=r"DATABASE_URL .* is read-only"):
        check_database_writable(url)


def test_a_locked_database_at_start_is_only_a_warning(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A lock held at start passes (the store heals by itself): the start-up check warns and lets the bot start."""
    caplog.set_level(logging.WARNING, logger="bot.store")
    with WriteLock(db):
        check_database_writable(f"sqlite:///{db}")
    assert "store.start_write_failed" in [r.getMessage() for r in caplog.records]


def test_a_writable_database_passes_the_start_check(db: Path) -> None:
    """The start-up check changes nothing in a database that works."""
    check_database_writable(f"sqlite:///{db}")
    store = SqliteStore(str(db))
    assert store.schema_version == 1 and not store.faults.failing
    store.close()
