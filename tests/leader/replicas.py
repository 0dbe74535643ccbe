"""Two or three `dis-bot serve` processes on one PostgreSQL `DATABASE_URL`, against one DIS simulator and one fake
Slack, for the failover tests and `bench/failover.py`.

    async with serve_replicas(sim, fake, url, tmp_path, n=2) as (a, b):
        leader = await leader_among([a, b])
        killed = leader.kill()
        ...

Built on `tests/test_serve_process.py` (`serve_env`, `served_bot`, `metric`); each replica's output is drained as it
comes (a chatty replica must not block on a full pipe) into `seen`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from bot.devtools.fake_slack import Call, FakeSlack
from bot.dis.simulator import DisSimulator
from bot.leader import asyncpg_dsn
from tests.conftest import free_port
from tests.leader.conftest import with_database
from tests.slack.payloads import slash_command
from tests.slack_signing import signed_headers
from tests.test_serve_process import ServedBot, metric, serve_env, served_bot

SIGNING_SECRET = "signing-secret-for-test"  # what serve_env sets


@dataclass
class ServedReplica:
    """One served bot: its name, ops/HTTP port, process, and the lines it printed so far."""

    name: str
    port: int
    bot: ServedBot
    _drain: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def alive(self) -> bool:
        return self.bot.proc.returncode is None

    @property
    def output(self) -> str:
        return self.bot.output

    async def is_leader(self) -> bool:
        """What its `/metrics` says (`disbot_leader`); a dead replica leads nothing."""
        if not self.alive:
            return False
        with contextlib.suppress(httpx.HTTPError):
            return await metric(self.port, "disbot_leader") == 1
        return False

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> float:
        """Send `sig`; the monotonic time it was sent."""
        self.bot.proc.send_signal(sig)
        return time.monotonic()

    async def stop(self) -> int:
        """SIGTERM and wait for the exit code (output keeps draining)."""
        if self.alive:
            self.bot.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.bot.proc.wait(), 20)
        if self._drain is not None:
            await self._drain
        return code

    async def command(self, text: str, fake: FakeSlack, *, user: str = "U0OPS", channel: str = "C0OPS") -> int:
        """A signed `/dis` slash command to this replica (HTTP mode, as a load balancer would route it)."""
        body = slash_command(text, user=user, channel=channel, response_url=fake.response_url())
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"http://127.0.0.1:{self.port}/slack/events", content=body, headers=signed_headers(SIGNING_SECRET, body)
            )
        return response.status_code


async def _drain(replica: ServedReplica) -> None:
    stdout = replica.bot.proc.stdout
    assert stdout is not None
    async for line in stdout:
        replica.bot.seen.append(line.decode(errors="replace"))


class Replicas(list[ServedReplica]):
    """The replicas started so far (killed ones stay in the list, `alive` False); `add()` starts one more."""

    def __init__(self, stack: AsyncExitStack, start: Callable[[int], dict[str, str]], cwd: Path) -> None:
        super().__init__()
        self._stack = stack
        self._env = start
        self._cwd = cwd

    @property
    def alive(self) -> list[ServedReplica]:
        return [r for r in self if r.alive]

    async def add(self) -> ServedReplica:
        """Start one more replica on the same database; returns once it logged `server.started`."""
        port = free_port()
        bot = await self._stack.enter_async_context(served_bot(self._env(port), self._cwd))
        replica = ServedReplica(f"r{len(self)}", port, bot)
        replica._drain = asyncio.create_task(_drain(replica))
        self.append(replica)
        return replica


@contextlib.asynccontextmanager
async def serve_replicas(
    sim: DisSimulator, fake: FakeSlack, database_url: str, cwd: Path, *, n: int = 2, **env: str
) -> AsyncIterator[Replicas]:
    """Start `n` served bots on one database at once; yields once each logged `server.started`."""
    async with AsyncExitStack() as stack:
        started = Replicas(stack, lambda port: serve_env(sim, fake, port, DATABASE_URL=database_url, **env), cwd)
        try:
            # Together: each start is a second of interpreter start-up and migrations that need not queue.
            await asyncio.gather(*(started.add() for _ in range(n)))
            yield started
        finally:
            for replica in started:
                if replica.alive:
                    replica.kill()
                await replica.bot.proc.wait()
                if replica._drain is not None:
                    await replica._drain


async def until(
    check: Callable[[], bool | Awaitable[bool]],
    timeout: float = 10,  # noqa: ASYNC109
    *,
    describe: Callable[[], object] | None = None,
) -> bool:
    """Wait until `check()` (sync or async) is true; True, or a TimeoutError after `timeout` seconds (the
    `eventually` of tests/conftest.py, for checks that read a replica over HTTP and for longer waits). With
    `describe`, the timeout is an AssertionError saying what it returns (what the replicas did, for the CI log)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = check()
                if inspect.isawaitable(result):
                    result = await result
                if result:
                    return True
                await asyncio.sleep(0.02)
    except TimeoutError:
        if describe is None:
            raise
        raise AssertionError(f"not within {timeout:g}s: {describe()}") from None


async def leader_among(
    replicas: list[ServedReplica],
    timeout: float = 10,  # noqa: ASYNC109
    *,
    also: Sequence[ServedReplica] = (),
) -> ServedReplica:
    """The one live replica whose /metrics says it leads, once exactly one does. On a timeout, an AssertionError
    with the last log lines of `replicas` and `also` (say, the leader that was paused)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                leading = [r for r in replicas if await r.is_leader()]
                if len(leading) == 1:
                    return leading[0]
                await asyncio.sleep(0.02)
    except TimeoutError:
        logs = "\n".join(f"--- {r.name}\n{r.output[-4000:]}" for r in [*replicas, *also])
        raise AssertionError(f"no single leader within {timeout:g}s\n{logs}") from None


@contextlib.asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """An empty database `leader_replicas_<id>` on the test server (the replicas' store creates its schema)."""
    name = f"leader_replicas_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_database(server_url, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def term(url: str) -> int:
    """The leadership term in the database: one more each time a replica takes the lead."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return int(await conn.fetchval("SELECT term FROM leadership WHERE id = 1"))
    finally:
        await conn.close()


async def delivered(url: str) -> bool:
    """The outbox holds nothing pending or mid-send: Slack's answers are recorded (a fault injected now does not
    fall into the one-round-trip window in which a message Slack took is sent again)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return not await conn.fetchval("SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')")
    finally:
        await conn.close()


def key_of(call: Call) -> str | None:
    """The outbox idempotency key a message carries in its metadata (None: a message without one)."""
    metadata = call.payload.get("metadata")
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    return str(metadata["event_payload"]["key"]) if metadata else None


def keys(calls: list[Call]) -> Counter[str]:
    """How often each outbox idempotency key reached Slack (a message sent twice shows its key twice)."""
    return Counter(key for call in calls if (key := key_of(call)) is not None)


def distinct(calls: list[Call]) -> list[Call]:
    """The calls with the first of each idempotency key only (what a reader deduplicating by metadata sees)."""
    seen: set[str] = set()
    out = []
    for call in calls:
        key = key_of(call)
        if key is not None and key in seen:
            continue
        if key is not None:
            seen.add(key)
        out.append(call)
    return out


def fenced_outcomes(output: str) -> set[str]:
    """Keys whose Slack answer a deposed leader could not record (`outbox.outcome_fenced`): the documented
    one-round-trip duplicate window, which the next leader's resend of the row falls into."""
    found = set()
    for line in output.splitlines():
        if '"outbox.outcome_fenced"' in line:
            found.add(str(json.loads(line[line.index("{") :])["key"]))
    return found
