"""Shared fixtures: hermetic environment, a running DIS simulator, settings and clients pointed at it.

    async def test_something(sim, make_client):
        sim.add_stream("orders", [SimTask("to-obs")])
        client = make_client(sim, "aksk")
        ...

`settings_for(sim, mode)` is importable (`from tests.conftest import settings_for`) for tests that build
their own clients or apps, and so are the small helpers `ManualClock`, `free_port`, `eventually` and
`WriteLock` (a real "database is locked" for a SQLite file).

PostgreSQL: `postgres_url` is a DATABASE_URL of a fresh, empty schema on the server named by
DISBOT_TEST_POSTGRES_URL (dropped after the test). Without that variable those tests are skipped, and the run's
summary says so; with CI=true they fail instead (CI starts the server: `.ci/run`).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest

from bot.config import AuthMode, Settings
from bot.dis.client import DisClient
from bot.dis.retry import RetryPolicy
from bot.dis.simulator import DisSimulator

SIM_PROJECT = "0123456789abcdef0123456789abcdef"
SIM_REGION = "cn-north-4"
SIM_TOKEN = "sim-token-0123456789"
SIM_AK = "SIMAKEXAMPLE0000"
SIM_SK = "sim-secret-key-0123456789"
SIM_SECURITY_TOKEN = "sim-security-token-0123456789"
IAM_DOMAIN = "sim-account"
IAM_USER = "sim-user"
IAM_PASSWORD = "sim-password-0123456789"

#: Every secret the fixtures hand out, for "never in a message or log" assertions.
SECRETS = (SIM_TOKEN, SIM_AK, SIM_SK, SIM_SECURITY_TOKEN, IAM_PASSWORD)

#: Retries without waiting: backoff of microseconds, the way stamina's testing mode works.
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.002)

_ENV_PREFIXES = ("DIS_", "CLOUD_SDK_", "IAM_", "SLACK_", "WATCH_", "HUAWEICLOUD_")
_ENV_NAMES = {"PORT", "DATABASE_URL", "LOG_FORMAT", "LOG_LEVEL", "CACHE_TTL_SECONDS", "READY_MAX_AGE_SECONDS"}
_PROXY_NAMES = {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR"}


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No setting, credential or proxy from the developer's shell leaks into a test."""
    import os

    for name in list(os.environ):
        upper = name.upper()
        if upper.startswith(_ENV_PREFIXES) or upper in _ENV_NAMES or upper in _PROXY_NAMES:
            monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Code under test may call `configure_logging` (serve, the demo): put the root logger back afterwards."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    named = {name: logging.getLogger(name).level for name in list(logging.root.manager.loggerDict)}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    for name, old in named.items():
        logging.getLogger(name).setLevel(old)


class ManualClock:
    """Seconds that move only when the test sets `now`, so a TTL or token expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


#: Ports `free_port` hands out: below Linux's ephemeral range (32768-60999), where the kernel picks the source ports
#: of the suite's own client connections, and one slice per pytest-xdist worker (gw0-gw7; the main process last).
_PORT_SLICE = 1200
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_SLICE_INDEX = int(_WORKER[2:]) % 8 if _WORKER[2:].isdigit() else 8
_ports = itertools.cycle(
    random.sample(range(20000 + _SLICE_INDEX * _PORT_SLICE, 20000 + (_SLICE_INDEX + 1) * _PORT_SLICE), _PORT_SLICE)
)


def free_port() -> int:
    """A free loopback port: nothing listens there ("connection refused"), or a server may bind it.

    Not port 0's pick: that one comes from the ephemeral range, so between this call and the server's bind a client
    connection of another test could take it as its source port (a served bot then failed to start with OSError).
    """
    for _ in range(_PORT_SLICE):
        port = next(_ports)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port left in this worker's slice")


async def eventually(check: Callable[[], bool]) -> None:
    """Wait until `check()` is true, failing after 5 seconds.

    For state that changes with no event to wait on (the simulator's timers, a request arriving).
    """
    async with asyncio.timeout(5):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


class WriteLock:
    """A second connection holding a SQLite file's write lock (`BEGIN EXCLUSIVE`), as a backup tool or an admin's
    `sqlite3` shell would: the bot's writes get SQLite's own `database is locked`, its reads (WAL) still work.
    Unlike chmod, this works when the tests run as root.

        with WriteLock(db):
            ...  # every write of the bot's store fails here
    """

    def __init__(self, path: object) -> None:
        self.path = str(path)
        self._conn: sqlite3.Connection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def hold(self) -> None:
        if self._conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None)
            conn.execute("BEGIN EXCLUSIVE")
            self._conn = conn

    def release(self) -> None:
        if self._conn is not None:
            self._conn.execute("ROLLBACK")
            self._conn.close()
            self._conn = None

    def __enter__(self) -> WriteLock:
        self.hold()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def settings_for(sim: DisSimulator, mode: AuthMode | str = AuthMode.TOKEN, **overrides: Any) -> Settings:
    """Settings pointing DIS and IAM at `sim`, with the credentials of one auth mode.

    Args:
        mode: "token", "aksk" or "iam-password" (an `AuthMode`); "aksk" adds the security token
            when the simulator requires one.
        overrides: more settings by variable name (`DIS_TIMEOUT_SECONDS=1`), or None to unset one.
    """
    mode = AuthMode(mode)
    values: dict[str, Any] = {
        "DIS_REGION": SIM_REGION,
        "DIS_PROJECT_ID": sim.project_id,
        "DIS_ENDPOINT": sim.url,
        "IAM_ENDPOINT": sim.url,
    }
    if mode is AuthMode.TOKEN:
        values["DIS_AUTH_TOKEN"] = sim.token or SIM_TOKEN
    elif mode is AuthMode.AKSK:
        values["CLOUD_SDK_AK"] = sim.ak or SIM_AK
        values["CLOUD_SDK_SK"] = sim.sk or SIM_SK
        if sim.security_token:
            values["CLOUD_SDK_SECURITY_TOKEN"] = sim.security_token
    else:
        values["IAM_DOMAIN_NAME"] = IAM_DOMAIN
        values["IAM_USERNAME"] = IAM_USER
        values["IAM_PASSWORD"] = IAM_PASSWORD
    values.update(overrides)
    values = {k: v for k, v in values.items() if v is not None}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def new_simulator(**kwargs: Any) -> DisSimulator:
    """A simulator that knows every fixture credential (override any constructor argument)."""
    options: dict[str, Any] = {
        "project_id": SIM_PROJECT,
        "token": SIM_TOKEN,
        "ak": SIM_AK,
        "sk": SIM_SK,
        "iam_users": {(IAM_DOMAIN, IAM_USER): IAM_PASSWORD},
        "project_name": SIM_REGION,
    }
    options.update(kwargs)
    return DisSimulator(**options)


@pytest.fixture
async def sim() -> AsyncIterator[DisSimulator]:
    """A running DIS + IAM simulator on 127.0.0.1 with no streams yet."""
    async with new_simulator() as simulator:
        yield simulator


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., DisClient]]:
    """Factory `make_client(sim, mode="token", retry=FAST_RETRY, **settings)`; clients are closed afterwards."""
    clients: list[DisClient] = []

    def make(
        sim: DisSimulator, mode: AuthMode | str = AuthMode.TOKEN, *, retry: RetryPolicy = FAST_RETRY, **overrides: Any
    ) -> DisClient:
        client = DisClient(settings_for(sim, mode, **overrides), retry=retry)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


#: Where the PostgreSQL tests find their server (a superuser's URL; `.ci/postgres.sh DIR` prints one).
POSTGRES_ENV = "DISBOT_TEST_POSTGRES_URL"
POSTGRES_SKIPPED = (
    "PostgreSQL tests skipped: DISBOT_TEST_POSTGRES_URL is not set "
    '(run them with DISBOT_TEST_POSTGRES_URL="$(bash .ci/postgres.sh /tmp/disbot-pg)" make test)'
)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """DATABASE_URL of a new, empty schema (its own `search_path`) on the test server; dropped afterwards.

    A schema, not a database: creating one costs a millisecond where a database costs a few hundred.
    """
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{POSTGRES_ENV} is not set, and CI must run the PostgreSQL tests (.ci/run starts a server)")
        pytest.skip(POSTGRES_SKIPPED)
    import asyncpg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(base)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        # asyncpg passes unknown URL parameters to the server as settings: the bot's connections use the schema.
        yield f"{base}{'&' if '?' in base else '?'}search_path={quote(schema)}"
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say it plainly when the PostgreSQL tests did not run (a green run on SQLite alone is not the whole suite)."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if POSTGRES_SKIPPED in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} PostgreSQL tests SKIPPED: {POSTGRES_ENV} is not set; "
            f'run DISBOT_TEST_POSTGRES_URL="$(bash .ci/postgres.sh /tmp/disbot-pg)" make test',
            yellow=True,
            bold=True,
        )
