"""The Slack app under test, for real: DIS simulator + fake Slack Web API + the bot's HTTP server on 127.0.0.1.

async def test_x(bot):
    bot.sim.add_stream("orders", [SimTask("to-obs")])
    sent = await bot.command("tasks orders")
    answer = await bot.answer(sent)          # what reached the response_url

async def test_y(make_socket_bot):
    bot = await make_socket_bot()            # the same bot in Socket Mode, on the fake's websocket
    hook = await bot.command("help")         # an envelope; bot.answers(hook) is what reached its response_url
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bot.deps import Deps
from bot.devtools.fake_slack import MESSAGE_METHODS, Call, FakeSlack, SocketConnection
from bot.dis.client import DisClient
from bot.dis.retry import RetryPolicy
from bot.dis.simulator import DisSimulator
from bot.server import Runtime, ServiceFactory, SlackSocketModeServer, build_deps, build_runtime
from bot.socket_mode import SocketModeTiming
from tests.conftest import FAST_RETRY, settings_for
from tests.slack import payloads
from tests.slack.blockkit import validate_message
from tests.slack_signing import signed_headers

SIGNING_SECRET = "test-signing-secret-0123456789"
BOT_TOKEN = "xoxb-test-bot-token-0123456789"
ALICE = "U0ALICE"
ADMIN = "U0ADMIN"
CHANNEL = "C0OPS"


@dataclass
class Sent:
    """A request the test sent: the HTTP response, how long the ack took, and its response_url hook id."""

    response: httpx.Response
    elapsed: float
    hook_id: str | None = None


class SlackBot:
    """Drives the running bot the way Slack does: signed HTTP requests to POST /slack/events."""

    def __init__(self, runtime: Runtime, fake: FakeSlack, sim: DisSimulator, http: httpx.AsyncClient) -> None:
        self.runtime = runtime
        self.fake = fake
        self.sim = sim
        self.http = http
        self.deps: Deps = runtime.deps

    @property
    def url(self) -> str:
        return self.runtime.server.url + "/slack/events"

    async def post(
        self,
        body: str,
        *,
        content_type: str = "application/x-www-form-urlencoded",
        timestamp: int | None = None,
        secret: str = SIGNING_SECRET,
        retry_num: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[httpx.Response, float]:
        sent_headers = signed_headers(secret, body, timestamp=timestamp, content_type=content_type, retry_num=retry_num)
        sent_headers.update(headers or {})
        started = time.perf_counter()
        response = await self.http.post(self.url, content=body.encode(), headers=sent_headers)
        return response, time.perf_counter() - started

    async def command(
        self, text: str, *, user: str = ALICE, channel: str = CHANNEL, response_url: str | None = None, **kw: Any
    ) -> Sent:
        """`/dis text` as `user` in `channel` (with a fresh response_url unless one is given)."""
        hook = response_url or self.fake.response_url()
        body = payloads.slash_command(text, user=user, channel=channel, response_url=hook)
        response, elapsed = await self.post(body, **kw)
        return Sent(response, elapsed, hook.rsplit("/", 1)[1])

    async def event(self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None) -> Sent:
        body = payloads.event_callback(event, bot_user_id=self.fake.bot_user_id, event_id=event_id)
        response, elapsed = await self.post(body, content_type="application/json", retry_num=retry_num)
        return Sent(response, elapsed)

    async def mention(
        self, text: str, *, ts: str = "1700000000.000200", thread_ts: str | None = None, **kw: Any
    ) -> Sent:
        """`@dis-bot text` in the ops channel (in a thread when `thread_ts` is given)."""
        event = {
            "type": "app_mention",
            "user": ALICE,
            "text": f"<@{self.fake.bot_user_id}> {text}",
            "ts": ts,
            "channel": CHANNEL,
            "event_ts": ts,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return await self.event(event, **kw)

    async def click(
        self, action_id: str, value: str, *, user: str = ALICE, response_url: str | None = None, **kw: Any
    ) -> Sent:
        """Press a button whose action_id and value came from a message the bot sent (a fresh response_url)."""
        hook = response_url or self.fake.response_url()
        body = payloads.block_actions(action_id, value, user=user, channel=CHANNEL, response_url=hook, **kw)
        response, elapsed = await self.post(body)
        return Sent(response, elapsed, hook.rsplit("/", 1)[1])

    async def answer(self, sent: Sent, count: int = 1, timeout: float = 5.0) -> Call:  # noqa: ASYNC109
        """The `count`-th message posted to the response_url of `sent` (waits for it)."""
        calls = await self.fake.wait_for(
            "response_url", count=count, timeout=timeout, where=lambda c: c.hook_id == sent.hook_id
        )
        return calls[count - 1]


MakeBot = Callable[..., Awaitable[SlackBot]]

APP_TOKEN = "xapp-1-A0DISBOT-0123456789"
#: Socket Mode for tests: quick retries, drains and grace; a heartbeat slow enough that a busy machine answers it.
FAST_SOCKET = SocketModeTiming(
    ping_interval=2.0,
    connect_timeout=3.0,
    drain_seconds=3.0,
    down_grace=0.5,
    retry=RetryPolicy(base_delay=0.02, max_delay=0.1),
    close_timeout=0.5,
)


class SocketBot:
    """The bot in Socket Mode, driven the way Slack drives it: envelopes on the fake's websocket."""

    def __init__(self, runtime: Runtime, fake: FakeSlack, sim: DisSimulator) -> None:
        self.runtime = runtime
        self.fake = fake
        self.sim = sim
        self.deps: Deps = runtime.deps

    @property
    def server(self) -> SlackSocketModeServer:
        assert isinstance(self.runtime.server, SlackSocketModeServer)
        return self.runtime.server

    @property
    def ops_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    async def command(
        self, text: str, *, hook: str | None = None, connection: SocketConnection | None = None, **envelope: Any
    ) -> str:
        """`/dis text` as an envelope (on `connection`, default the newest); returns its response_url hook id."""
        hook = hook or uuid.uuid4().hex[:12]
        body = payloads.slash_command(text, user=ALICE, channel=CHANNEL, response_url=self.fake.response_url(hook))
        await self.fake.socket_send("slash_commands", payloads.socket_payload(body), connection=connection, **envelope)
        return hook

    def answers(self, hook: str) -> list[Call]:
        """What reached the response_url `hook` so far."""
        return [c for c in self.fake.calls_to("response_url") if c.hook_id == hook]

    def acks(self, envelope_id: str) -> list[Call]:
        return [c for c in self.fake.calls_to("socket_mode.ack") if c.payload.get("envelope_id") == envelope_id]


MakeSocketBot = Callable[..., Awaitable[SocketBot]]


@pytest.fixture
async def make_socket_bot(sim: DisSimulator, fake: FakeSlack) -> AsyncIterator[MakeSocketBot]:
    """Factory: `await make_socket_bot(timing=..., api_url=..., services=[...], watcher={...}, **settings)` starts
    the bot in Socket Mode against the `fake` Slack (or `api_url`), with a watcher if `watcher` gives its options,
    and waits for its first connection unless `connect=False`."""
    started: list[Runtime] = []

    async def make(
        *,
        timing: SocketModeTiming = FAST_SOCKET,
        api_url: str | None = None,
        services: Sequence[ServiceFactory] = (),
        connect: bool = True,
        watcher: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> SocketBot:
        values: dict[str, Any] = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,
            "SLACK_API_URL": api_url or fake.url,
            "PORT": 0,
        }
        values.update(overrides)
        settings = settings_for(sim, **values)
        deps = build_deps(settings, dis=DisClient(settings, retry=FAST_RETRY))
        runtime = build_runtime(
            settings, deps=deps, host="127.0.0.1", services=services, socket_timing=timing, watcher=watcher
        )
        started.append(runtime)
        await runtime.server.start()
        bot = SocketBot(runtime, fake, sim)
        if connect:
            await bot.server.client.wait_connected()
        return bot

    yield make
    for runtime in started:
        await runtime.server.stop()
        await runtime.deps.dis.aclose()


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    """The fake Slack; afterwards, every message the bot sent it must have passed slack_sdk's block validation."""
    async with FakeSlack(token=BOT_TOKEN) as fake_slack:
        yield fake_slack
    for call in fake_slack.calls:
        if call.ok and call.method in MESSAGE_METHODS:
            validate_message(call.payload)


@pytest.fixture
async def make_bot(sim: DisSimulator, fake: FakeSlack) -> AsyncIterator[MakeBot]:
    """Factory: `await make_bot(DIS_ACTIONS_ENABLED="true", ...)` starts a bot with those settings."""
    started: list[tuple[Runtime, httpx.AsyncClient]] = []

    async def make(**overrides: Any) -> SlackBot:
        values: dict[str, Any] = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake.url,
            "PORT": 0,
        }
        values.update(overrides)
        settings = settings_for(sim, **values)
        deps = build_deps(settings, dis=DisClient(settings, retry=FAST_RETRY))
        runtime = build_runtime(settings, deps=deps, host="127.0.0.1", socket_mode=False)
        await runtime.server.start()
        # The server checks DIS and Slack once at start-up (readiness): let that finish so tests count their own calls.
        await runtime.deps.health.refresh()
        sim.reset_counts()
        http = httpx.AsyncClient(timeout=10)
        started.append((runtime, http))
        return SlackBot(runtime, fake, sim, http)

    yield make
    for runtime, http in started:
        await http.aclose()
        await runtime.server.stop()
        await runtime.deps.dis.aclose()


@pytest.fixture
async def bot(make_bot: MakeBot) -> SlackBot:
    """A bot with default settings (actions disabled)."""
    return await make_bot()
