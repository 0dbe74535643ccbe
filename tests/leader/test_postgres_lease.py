"""`PostgresLease` against a real PostgreSQL: one leader among several leases, handover when the leader's session
is killed, stops, or its checks hang, a term that only grows, and wake-ups by LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from urllib.parse import urlsplit

import asyncpg
import pytest

from bot import metrics
from bot.leader import FENCE_SQL, LeaseTiming, asyncpg_dsn
from bot.wakeups import OUTBOX_QUEUED, WATCHES_CHANGED, notify
from tests.conftest import eventually
from tests.leader.conftest import FAST, Pg, leaders
from tests.leader.proxy import TcpProxy


async def test_three_leases_elect_exactly_one_leader(pg: Pg, make_lease) -> None:
    """Three leases on one database: one leads (term 1, its name stored, its session holds the lock), two wait."""
    replicas = [make_lease(name) for name in ("a", "b", "c")]
    for replica in replicas:
        await replica.lease.start()  # returns after its first attempt at the lock
    [leader] = leaders(*replicas)
    assert leader.lease.term == 1 and leader.gained == [(1, leader.gained[0][1])]
    assert sum(len(r.gained) for r in replicas) == 1
    assert await pg.holder() == leader.lease.holder and await pg.term() == 1
    assert await pg.lock_holders() == [leader.lease.backend_pid]
    assert all(r.lease.term is None for r in replicas if r is not leader)


async def test_killed_leader_session_hands_over_with_a_new_term(pg: Pg, make_lease) -> None:
    """pg_terminate_backend on the leader's session: it steps down at once, the standby leads with term 2."""
    # a waits a second before reconnecting, so the standby's next try (0.1 s) surely comes first.
    a, b = make_lease("a", replace(FAST, retry_interval=1.0)), make_lease("b")
    await a.lease.start()
    await b.lease.start()
    assert a.lease.is_leader and not b.lease.is_leader
    killed = time.monotonic()
    await pg.terminate(a.lease.backend_pid)
    await eventually(lambda: bool(a.lost) and bool(b.gained))
    assert not a.lease.is_leader and b.lease.term == 2 and await pg.term() == 2
    assert a.lost[0][1] - killed < FAST.check_interval + 0.5  # told by the closed connection, not a late check
    assert b.gained[0][1] - killed < FAST.lease  # measured ~0.1-0.2 s: the standby's next try
    await eventually(lambda: a.lease.backend_pid is not None)  # the old leader reconnects, as a standby
    assert not a.lease.is_leader and await pg.lock_holders() == [b.lease.backend_pid]


async def test_stop_hands_over_at_once(pg: Pg, make_lease) -> None:
    """`stop()` unlocks and notifies: a standby that retries only every 5 s leads within half a second."""
    slow = LeaseTiming(lease=6.0, check_interval=1.0, check_timeout=2.0, retry_interval=5.0)
    a, b = make_lease("a", slow), make_lease("b", slow)
    await a.lease.start()
    await b.lease.start()
    stopped = time.monotonic()
    await a.lease.stop()
    assert not a.lease.is_leader and [reason for reason, _ in a.lost] == ["stopped"]
    await eventually(lambda: b.lease.is_leader)
    assert b.gained[0][1] - stopped < 0.5
    assert b.lease.term == 2 and await pg.holder() == "b"


async def test_leader_whose_checks_hang_steps_down_then_leads_again(pg: Pg, make_lease) -> None:
    """A health check that gets no answer within its timeout ends leadership; once the database answers again the
    lease takes it back under a new term."""
    a = make_lease("a")
    await a.lease.start()
    assert a.lease.term == 1
    async with pg.conn.transaction():
        # The check reads the leadership row: an exclusive table lock makes the database not answer it.
        await pg.conn.execute("LOCK TABLE leadership IN ACCESS EXCLUSIVE MODE")
        await eventually(lambda: bool(a.lost))
        assert not a.lease.is_leader
        [(reason, _)] = a.lost
        assert "health check took over 1s" in reason
    await eventually(lambda: a.lease.is_leader)
    assert a.lease.term == 2 and await pg.term() == 2


async def test_cut_network_ends_leadership_on_both_sides(pg: Pg, make_lease) -> None:
    """The leader's network goes silent (no FIN, no RST): its own check times out and it steps down; the server
    ends the silent session after the lease, and the standby leads, in that order."""
    server = urlsplit(pg.url)
    async with TcpProxy(server.hostname or "127.0.0.1", server.port or 5432) as proxy:
        a = make_lease("a", url=proxy.url_for(pg.url))
        b = make_lease("b")
        await a.lease.start()
        await b.lease.start()
        assert a.lease.is_leader
        cut = time.monotonic()
        proxy.freeze()
        await eventually(lambda: bool(a.lost))
        [(reason, lost_at)] = a.lost
        assert reason == "timed out: health check took over 1s"
        assert lost_at - cut < FAST.check_interval + FAST.check_timeout + 0.3
        await eventually(lambda: b.lease.is_leader)
        taken_at = b.gained[0][1]
        assert lost_at < taken_at  # the old leader had stopped before the new one started
        assert FAST.lease / 2 < taken_at - cut < FAST.lease + FAST.retry_interval + 1.0
        assert b.lease.term == 2


async def test_term_grows_by_one_at_every_change_of_leader(pg: Pg, make_lease) -> None:
    """Killed sessions and stops, six changes of leader: every new leader's term is the last one plus one."""
    replicas = [make_lease("a"), make_lease("b")]
    for replica in replicas:
        await replica.lease.start()
    for change in range(6):
        [leader] = leaders(*replicas)
        before = await pg.term()
        if change % 2:
            await leader.lease.stop()
            await leader.lease.start()
        else:
            await pg.terminate(leader.lease.backend_pid)
        await eventually(lambda want=before + 1: [r.lease.term for r in leaders(*replicas)] == [want])
    terms = sorted(term for r in replicas for term, _ in r.gained)
    assert terms == list(range(1, 8)) and await pg.term() == 7


async def test_takeover_waits_for_a_fenced_write_then_fences_the_old_term_out(pg: Pg, make_lease) -> None:
    """The store's check (FENCE_SQL): a write of the old leader that passed it commits before the new term exists
    (the bump waits on it), and every later check shows the new term, so the old leader's next write is refused."""
    a, b = make_lease("a"), make_lease("b")
    await a.lease.start()
    await b.lease.start()
    store = await asyncpg.connect(asyncpg_dsn(pg.url))  # leader a's store connection
    try:
        tx = store.transaction()
        await tx.start()
        assert await store.fetchval(FENCE_SQL) == a.lease.term == 1
        await pg.terminate(a.lease.backend_pid)
        # Whoever takes the lock next (b, or a reconnected) has its term bump wait for a's fenced transaction.
        bumps_waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name LIKE 'dis-bot lease %' AND wait_event_type = 'Lock'"
        )
        await eventually_async(lambda: pg.conn.fetchval(bumps_waiting), 1)
        assert leaders(a, b) == []
        committing = time.monotonic()  # (the bump may finish before commit() returns to us: stamp it before)
        await tx.commit()
        await eventually(lambda: len(leaders(a, b)) == 1)
        [leader] = leaders(a, b)
        assert leader.lease.term == 2 and leader.gained[-1][1] >= committing
        assert await store.fetchval(FENCE_SQL) == 2  # != a's old term 1: the store refuses a write made under it
    finally:
        await store.close()


async def eventually_async(query, expected) -> None:
    """Wait until an awaited query returns `expected` (5 s at most)."""
    async with asyncio.timeout(5):
        while await query() != expected:  # noqa: ASYNC110 - another session's state: nothing to wait on
            await asyncio.sleep(0.01)


async def test_notifications_wake_the_leader_within_a_second(pg: Pg, make_lease) -> None:
    """A wake-up sent from another connection reaches the lease's callback in well under a second; one sent
    inside a transaction arrives only at its commit, and one rolled back never."""
    woken: list[tuple[str, str, float]] = []
    a = make_lease(
        "a",
        listen={
            OUTBOX_QUEUED: lambda p: woken.append((OUTBOX_QUEUED, p, time.monotonic())),
            WATCHES_CHANGED: lambda p: woken.append((WATCHES_CHANGED, p, time.monotonic())),
        },
    )
    await a.lease.start()
    woken.clear()  # each callback is called once at connect ("reconnected")
    other = await asyncpg.connect(asyncpg_dsn(pg.url))
    try:
        sent = time.monotonic()
        await notify(other, OUTBOX_QUEUED, "row 7")
        await eventually(lambda: len(woken) == 1)
        assert woken[0][:2] == (OUTBOX_QUEUED, "row 7") and woken[0][2] - sent < 1.0
        async with other.transaction():
            await notify(other, WATCHES_CHANGED, "orders-prod")
            await asyncio.sleep(0.2)  # a window for a premature delivery to show up (there is none)
            assert len(woken) == 1
        await eventually(lambda: len(woken) == 2)
        assert woken[1][:2] == (WATCHES_CHANGED, "orders-prod")
        tx = other.transaction()
        await tx.start()
        await notify(other, OUTBOX_QUEUED, "rolled back")
        await tx.rollback()
        await notify(other, OUTBOX_QUEUED, "after")
        await eventually(lambda: len(woken) == 3)
        assert [p for _, p, _ in woken] == ["row 7", "orders-prod", "after"]
    finally:
        await other.close()


async def test_reconnect_wakes_every_listener_once(pg: Pg, make_lease) -> None:
    """Notifications sent while the lease's connection was down are lost, so after a reconnect each callback is
    called once ("reconnected"): the leader looks at the database rather than wait a cycle."""
    woken: list[str] = []
    a = make_lease("a", listen={OUTBOX_QUEUED: woken.append})
    await a.lease.start()
    assert woken == ["reconnected"]
    await pg.terminate(a.lease.backend_pid)
    await eventually(lambda: woken == ["reconnected", "reconnected"])


async def test_unknown_wakeup_channel_is_refused(pg: Pg) -> None:
    """Only the bot's own channels can be notified (a typo would wake no one, silently)."""
    with pytest.raises(ValueError, match="unknown wake-up channel"):
        await notify(pg.conn, "disbot_outbox")


async def test_metrics_and_log_lines_follow_leadership(pg: Pg, make_lease, caplog) -> None:
    """/metrics shows disbot_leader 1 while leading and 0 after, counting each change; the log says when and why."""
    caplog.set_level(logging.INFO, logger="bot.leader")

    def sample(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    gained, lost = (
        sample("disbot_leader_changes_total", event="gained"),
        sample("disbot_leader_changes_total", event="lost"),
    )
    a = make_lease("a", record=metrics.on_leader_change)
    await a.lease.start()
    assert sample("disbot_leader") == 1 and sample("disbot_leader_changes_total", event="gained") == gained + 1
    await pg.terminate(a.lease.backend_pid)
    await eventually(lambda: sample("disbot_leader") == 0)
    await eventually(lambda: a.lease.is_leader)
    await a.lease.stop()
    assert sample("disbot_leader") == 0
    assert sample("disbot_leader_changes_total", event="gained") == gained + 2
    assert sample("disbot_leader_changes_total", event="lost") == lost + 2
    records = [r for r in caplog.records if r.name == "bot.leader" and r.msg in ("leader.gained", "leader.lost")]
    assert [(r.msg, r.levelname, r.term) for r in records] == [
        ("leader.gained", "INFO", 1),
        ("leader.lost", "WARNING", 1),
        ("leader.gained", "INFO", 2),
        ("leader.lost", "INFO", 2),
    ]
    assert records[1].reason == "connection closed by the server" and records[3].reason == "stopped"
    assert records[2].previous == "a" and records[2].reason == "lock acquired"
