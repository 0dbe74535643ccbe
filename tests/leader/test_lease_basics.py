"""What needs no PostgreSQL: the single instance's lease, the timings' promise, URLs, and a database that is down."""

from __future__ import annotations

import logging

import pytest

from bot import metrics
from bot.leader import LeaseTiming, LocalLease, PostgresLease, asyncpg_dsn, lease_for
from tests.conftest import free_port


async def test_local_lease_leads_from_start_to_stop_with_term_1() -> None:
    """SQLite's single instance: leader with term 1 once started, on_lost("stopped") at stop, metrics follow."""
    events: list[object] = []
    lease = LocalLease(on_gained=events.append, on_lost=events.append)
    assert not lease.is_leader and lease.term is None
    await lease.start()
    assert lease.is_leader and lease.term == 1 and metrics.REGISTRY.get_sample_value("disbot_leader") == 1
    await lease.stop()
    assert not lease.is_leader and lease.term is None and metrics.REGISTRY.get_sample_value("disbot_leader") == 0
    assert events == [1, "stopped"]


@pytest.mark.parametrize("interval", [0.5, 1, 2, 5, 30, 60, 300])
def test_timings_hand_over_a_silent_leader_within_two_intervals(interval: float) -> None:
    """For any WATCH_INTERVAL_SECONDS, the worst handover (a silent leader: lease + one retry) is under 2 x it."""
    timing = LeaseTiming.for_watch_interval(interval)
    assert timing.lease + timing.retry_interval < 2 * interval
    assert timing.check_interval + timing.check_timeout < timing.lease


def test_timings_that_would_let_a_healthy_session_look_idle_are_refused() -> None:
    """A check interval plus timeout, or a standby's retry, as long as the lease would lose the lock by itself."""
    with pytest.raises(ValueError, match="shorter than the lease"):
        LeaseTiming(lease=2, check_interval=1, check_timeout=1)
    with pytest.raises(ValueError, match="retry_interval"):
        LeaseTiming(lease=2, check_interval=0.5, check_timeout=0.5, retry_interval=2)


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u:p@db.example:5432/d?sslmode=require",
        "postgresql://u:p@db.example:5432/d?sslmode=require",
        "postgresql+asyncpg://u:p@db.example:5432/d?sslmode=require",
    ],
)
def test_database_urls_as_heroku_and_sqlalchemy_write_them(url: str) -> None:
    """Heroku's postgres://, postgresql:// and SQLAlchemy's postgresql+asyncpg:// name one server, sslmode kept."""
    assert asyncpg_dsn(url) == "postgresql://u:p@db.example:5432/d?sslmode=require"


def test_a_sqlite_url_is_not_a_postgres_lease() -> None:
    """A lease on SQLite is the LocalLease; PostgresLease refuses anything but PostgreSQL."""
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        PostgresLease("sqlite:///dis-bot.db")


async def test_unreachable_database_leaves_a_standby_that_logs_no_password(caplog) -> None:
    """Nothing listens at the URL: start() returns, the replica is no leader, one warning, and no password."""
    caplog.set_level(logging.DEBUG)
    timing = LeaseTiming(lease=1.5, check_interval=0.25, check_timeout=0.5, retry_interval=0.1, connect_timeout=0.5)
    lease = PostgresLease(f"postgresql://disbot:pw-0123456789@127.0.0.1:{free_port()}/db", timing=timing, record=None)
    await lease.start()
    try:
        assert not lease.is_leader and lease.term is None
    finally:
        await lease.stop()
    [warning] = [r for r in caplog.records if r.msg == "leader.connect_failed"]
    assert warning.levelname == "WARNING" and warning.attempts == 1
    assert all("pw-0123456789" not in r.getMessage() and "pw-0123456789" not in str(vars(r)) for r in caplog.records)


def test_the_database_url_picks_the_lease() -> None:
    """SQLite gets the single instance's lease; PostgreSQL (as Heroku writes it) a lock timed for the interval."""
    assert isinstance(lease_for("sqlite:///dis-bot.db", 60), LocalLease)
    lease = lease_for("postgres://u:p@db.example/d?sslmode=require", 60)
    assert isinstance(lease, PostgresLease) and lease.timing == LeaseTiming.for_watch_interval(60)
    assert lease.timing.lease == 15 and lease.timing.retry_interval == 1


async def test_a_malformed_url_is_logged_without_its_password(caplog) -> None:
    """A port that is not a number: the lease stays a standby and says why, naming no password."""
    caplog.set_level(logging.INFO, logger="bot.leader")
    timing = LeaseTiming(lease=1.5, check_interval=0.25, check_timeout=0.5, retry_interval=0.1, connect_timeout=0.5)
    lease = PostgresLease("postgresql://disbot:pw-0123456789@127.0.0.1:port/db", timing=timing, record=None)
    await lease.start()
    try:
        assert not lease.is_leader
    finally:
        await lease.stop()
    [warning] = [r for r in caplog.records if r.msg == "leader.connect_failed"]
    assert "ValueError" in warning.reason
    assert all("pw-0123456789" not in r.getMessage() and "pw-0123456789" not in str(vars(r)) for r in caplog.records)
