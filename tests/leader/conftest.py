"""PostgreSQL for the lease tests: one database per test session (`leader_tests_<pid>`), a fresh `leadership` row
and a lock key of its own per test, and leases that are stopped afterwards.

    async def test_something(pg, make_lease):
        a, b = make_lease("a"), make_lease("b")
        await a.lease.start(); await b.lease.start()
        assert a.lease.is_leader and await pg.term() == 1

The server is `DISBOT_TEST_POSTGRES_URL` (`.ci/run` starts one with `.ci/postgres.sh`); without it these tests
skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from bot.leader import LEADERSHIP_DDL, LeaseTiming, PostgresLease, asyncpg_dsn

URL_VARIABLE = "DISBOT_TEST_POSTGRES_URL"

#: Short enough that a silent leader is replaced in about 1.6 s, long enough that a busy 2-core machine running
#: the suite does not miss a check (a check may take up to a second before it counts as failed).
FAST = LeaseTiming(lease=1.5, check_interval=0.25, check_timeout=1.0, retry_interval=0.1, connect_timeout=2.0)


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` (query string, such as `?sslmode=require`, kept)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The test server's URL, or a skip (a failure under CI=true) saying how to get one."""
    url = os.environ.get(URL_VARIABLE)
    if not url:
        message = (
            f"{URL_VARIABLE} is not set: the PostgreSQL lease tests need a server (.ci/postgres.sh DIR starts one)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture(scope="session")
def leader_database(pg_server: str) -> Iterator[str]:
    """A database of this session's own on the test server, with the `leadership` table; dropped at the end."""
    name = f"leader_tests_{os.getpid()}"

    async def create() -> None:
        admin = await asyncpg.connect(asyncpg_dsn(pg_server))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(asyncpg_dsn(with_database(pg_server, name)))
        try:
            await conn.execute(LEADERSHIP_DDL)
        finally:
            await conn.close()

    async def drop() -> None:
        admin = await asyncpg.connect(asyncpg_dsn(pg_server))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(create())
    yield with_database(pg_server, name)
    asyncio.run(drop())


class Pg:
    """The test's view of the server: an admin connection, this test's lock key, and what they show."""

    def __init__(self, url: str, conn: asyncpg.Connection, key: int) -> None:
        self.url = url
        self.conn = conn
        self.key = key

    async def term(self) -> int:
        return int(await self.conn.fetchval("SELECT term FROM leadership WHERE id = 1"))

    async def holder(self) -> str | None:
        return await self.conn.fetchval("SELECT holder FROM leadership WHERE id = 1")

    async def lock_holders(self) -> list[int]:
        """Server pids holding this test's advisory lock (a bigint key shows as classid = high, objid = low half)."""
        rows = await self.conn.fetch(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1 AND objid = $2 "
            "AND objsubid = 1",
            self.key >> 32,
            self.key & 0xFFFFFFFF,
        )
        return [row["pid"] for row in rows]

    async def terminate(self, pid: int | None) -> None:
        """Kill a session from the server side, as an admin or a failover of the database would."""
        assert pid is not None
        assert await self.conn.fetchval("SELECT pg_terminate_backend($1)", pid)


@pytest.fixture
async def pg(leader_database: str) -> AsyncIterator[Pg]:
    """This test's key and a `leadership` row at term 0."""
    conn = await asyncpg.connect(asyncpg_dsn(leader_database))
    await conn.execute("DELETE FROM leadership")
    await conn.execute("INSERT INTO leadership (id, term) VALUES (1, 0)")
    try:
        yield Pg(leader_database, conn, random.randrange(1, 2**62))
    finally:
        await conn.close()


@dataclass
class Replica:
    """A lease and what its callbacks saw: (term, monotonic time) gained, (reason, time) lost."""

    lease: PostgresLease
    gained: list[tuple[int, float]] = field(default_factory=list)
    lost: list[tuple[str, float]] = field(default_factory=list)
    woken: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
async def make_lease(pg: Pg) -> AsyncIterator[Callable[..., Replica]]:
    """Factory `make_lease(holder, timing=FAST, url=None, **kwargs)` for a `PostgresLease` on this test's key (`url`:
    the same database reached another way), not reporting to /metrics (several share the process) unless `record=`
    says so; stopped after the test."""
    replicas: list[Replica] = []

    def make(holder: str, timing: LeaseTiming = FAST, *, url: str | None = None, **kwargs: Any) -> Replica:
        replica: Replica
        kwargs.setdefault("record", None)

        def gained(term: int) -> None:
            replica.gained.append((term, time.monotonic()))

        def lost(reason: str) -> None:
            replica.lost.append((reason, time.monotonic()))

        lease = PostgresLease(
            url or pg.url, holder=holder, timing=timing, key=pg.key, on_gained=gained, on_lost=lost, **kwargs
        )
        replica = Replica(lease)
        replicas.append(replica)
        return replica

    yield make
    for replica in replicas:
        await replica.lease.stop()


def leaders(*replicas: Replica) -> list[Replica]:
    return [r for r in replicas if r.lease.is_leader]
