"""The server around the app: health endpoint, settings checks, background services, Socket Mode end to end."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler

from bot.app import create_app
from bot.dis.client import DisClient
from bot.dis.simulator import SimTask
from bot.errors import ConfigError
from bot.server import Runtime, build_deps, build_runtime
from tests.conftest import FAST_RETRY, eventually, free_port, settings_for
from tests.slack.conftest import ALICE, BOT_TOKEN, CHANNEL
from tests.slack.payloads import TEAM


async def test_healthz_answers_while_the_process_is_up(bot):
    """GET /healthz is 200 on the same port as /slack/events."""
    response = await bot.http.get(bot.runtime.server.url + "/healthz")
    assert response.status_code == 200
    assert response.json()["alive"] is True


async def test_http_mode_requires_the_signing_secret(sim, fake):
    """Without SLACK_SIGNING_SECRET the HTTP app refuses to start, naming it and SLACK_APP_TOKEN as the other way."""
    settings = settings_for(sim, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=fake.url)
    deps = build_deps(settings, dis=DisClient(settings, retry=FAST_RETRY))
    with pytest.raises(ConfigError, match=r"SLACK_SIGNING_SECRET is not set.*SLACK_APP_TOKEN.*Socket Mode"):
        create_app(settings, deps)
    create_app(settings, deps, socket_mode=True)  # Socket Mode needs no signing secret
    await deps.dis.aclose()


async def test_bot_token_is_required(sim, fake):
    """Without SLACK_BOT_TOKEN building the services fails with a message naming it."""
    settings = settings_for(sim, SLACK_SIGNING_SECRET="s", SLACK_API_URL=fake.url)
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        build_deps(settings, dis=object())


async def test_build_runtime_wires_the_watcher_in_one_place(sim, fake, tmp_path):
    """build_runtime(watcher=...) builds the watcher with what it needs: the watch commands reach it, /readyz checks
    its store, and its own Slack client (no rate-limit retry handler) reports to the process's readiness."""
    db = f"sqlite:///{tmp_path}/bot.db"
    settings = settings_for(
        sim, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET="s", SLACK_API_URL=fake.url, PORT=0, DATABASE_URL=db
    )
    deps = build_deps(settings, dis=DisClient(settings, retry=FAST_RETRY))
    runtime = build_runtime(settings, deps=deps, host="127.0.0.1", watcher={"spread": 0.0, "channel_interval": 0.0})
    watcher = runtime.watcher
    assert watcher is not None and runtime.server.services == [runtime.leadership]
    assert runtime.leadership is not None and runtime.leadership.watcher is watcher
    assert deps.watches is not None and deps.watches.engine is watcher.engine
    client = watcher.sender.client
    assert client is not deps.slack
    assert not any(isinstance(h, AsyncRateLimitErrorRetryHandler) for h in client.retry_handlers)
    await runtime.server.start()
    try:
        assert deps.health.status()[1]["store"]["ok"]
        fake.fail_next("chat.postMessage", error="token_revoked")
        with pytest.raises(SlackApiError):
            await client.chat_postMessage(channel=CHANNEL, text="x")
        assert deps.health.status()[1]["slack"]["reason"] == "Slack failing: chat.postMessage: token_revoked"
    finally:
        await runtime.server.stop()
        await deps.dis.aclose()


class _Recorder:
    def __init__(self, name: str, log: list[str], started: object = None) -> None:
        self.name, self.log, self.started = name, log, started

    async def start(self) -> None:
        self.log.append(f"start {self.name}")
        if self.started is not None:
            self.started.set()

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")


def _http_runtime(sim, fake, *services: _Recorder) -> Runtime:
    """The bot in HTTP mode on a free port with these background services."""
    settings = settings_for(sim, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET="s", SLACK_API_URL=fake.url, PORT=0)
    deps = build_deps(settings, dis=DisClient(settings, retry=FAST_RETRY))
    factories = [lambda d, service=service: service for service in services]
    return build_runtime(settings, deps=deps, host="127.0.0.1", services=factories)


async def test_background_services_start_after_and_stop_before_the_server(sim, fake):
    """Services given to build_runtime start in order once the server listens and stop in reverse."""
    log: list[str] = []
    runtime = _http_runtime(sim, fake, _Recorder("watcher", log), _Recorder("other", log))
    await runtime.server.start()
    async with httpx.AsyncClient() as http:
        assert (await http.get(runtime.server.url + "/healthz")).status_code == 200
    await runtime.server.stop()
    await runtime.deps.dis.aclose()
    assert log == ["start watcher", "start other", "stop other", "stop watcher"]


class _SlowStart(_Recorder):
    """A service whose start waits (the watcher's first writes on a slow disk)."""

    async def start(self) -> None:
        self.log.append(f"start {self.name}")
        await asyncio.Event().wait()


async def test_a_service_whose_start_was_interrupted_is_stopped_too(sim, fake):
    """SIGTERM while a service is still starting (serve cancels its start-up): stop() stops that service as well,
    so its task is not left running until the event loop closes and cuts it off mid-transaction (seen as an ERROR
    'Exception during reset or similar' with a traceback from SQLAlchemy's pool at exit)."""
    log: list[str] = []
    runtime = _http_runtime(sim, fake, _Recorder("first", log), _SlowStart("watcher", log))
    starting = asyncio.create_task(runtime.server.start())
    await eventually(lambda: "start watcher" in log)
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    await runtime.server.stop()
    await runtime.deps.dis.aclose()
    assert log == ["start first", "start watcher", "stop watcher", "stop first"]


@pytest.fixture
async def socket_bot(make_socket_bot):
    """The bot in Socket Mode against a fake Slack that speaks the Socket Mode websocket protocol."""
    bot = await make_socket_bot()
    return bot.runtime, bot.fake


async def test_socket_mode_slash_command_is_acked_and_answered(socket_bot, sim):
    """Over Socket Mode a /dis command is acked on the websocket and answered at its response_url."""
    runtime, fake = socket_bot
    sim.add_stream("orders", [SimTask("to-obs", state="ERROR")])
    hook = fake.response_url("sock1")
    payload = {
        "team_id": TEAM,
        "channel_id": CHANNEL,
        "user_id": ALICE,
        "command": "/dis",
        "text": "tasks orders",
        "response_url": hook,
        "trigger_id": "1.2.3",
        "api_app_id": "A0DISBOT",
    }
    envelope_id = await fake.socket_send("slash_commands", payload)
    await fake.wait_for("socket_mode.ack", where=lambda c: c.payload.get("envelope_id") == envelope_id)
    [answer] = await fake.wait_for("response_url", where=lambda c: c.hook_id == "sock1")
    assert "to-obs" in answer.text
    assert fake.count("apps.connections.open") == 1  # the websocket URL came from SLACK_API_URL
    async with httpx.AsyncClient() as http:  # the ops endpoints are still served on $PORT
        assert (await http.get(f"http://127.0.0.1:{runtime.server.port}/healthz")).status_code == 200


async def test_socket_mode_mention_is_answered_in_thread(socket_bot):
    """An app_mention delivered over Socket Mode is answered in its thread through chat.postMessage."""
    _, fake = socket_bot
    event = {
        "type": "app_mention",
        "user": ALICE,
        "text": f"<@{fake.bot_user_id}> help",
        "ts": "9.1",
        "channel": CHANNEL,
    }
    body = {"type": "event_callback", "team_id": TEAM, "event_id": "EvSOCK1", "event": event, "api_app_id": "A0DISBOT"}
    await fake.socket_send("events_api", body)
    [post] = await fake.wait_for("chat.postMessage")
    assert post.payload["thread_ts"] == "9.1"
    assert "help" in json.dumps(post.payload["blocks"])


@pytest.fixture
def keep_logging():
    """serve() installs the bot's log handler on the root logger; put pytest's back afterwards."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


async def test_serve_runs_until_stopped(sim, fake, keep_logging, tmp_path):
    """serve() checks the token, serves HTTP on $PORT with its services, and stops cleanly when asked."""
    import asyncio

    from bot.server import serve

    port = free_port()
    settings = settings_for(
        sim,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET="s",
        SLACK_API_URL=fake.url,
        PORT=port,
        DATABASE_URL=f"sqlite:///{tmp_path}/bot.db",
    )
    log: list[str] = []
    stop, started = asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(serve(settings, services=[lambda d: _Recorder("watcher", log, started)], stop=stop))
    await asyncio.wait_for(started.wait(), 5)  # services start once the server listens
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
    stop.set()
    await asyncio.wait_for(running, 5)
    assert log == ["start watcher", "stop watcher"]
    assert fake.count("auth.test") == 1


async def test_serve_stops_at_once_when_slack_refuses_the_token(sim, fake, keep_logging, tmp_path):
    """A bot token Slack refuses ends serve() with a ConfigError naming the variable, not the token."""
    from bot.server import serve

    wrong = "xoxb-wrong-token-0123456789"
    settings = settings_for(
        sim,
        SLACK_BOT_TOKEN=wrong,
        SLACK_SIGNING_SECRET="s",
        SLACK_API_URL=fake.url,
        PORT=0,
        DATABASE_URL=f"sqlite:///{tmp_path}/bot.db",
    )
    with pytest.raises(ConfigError, match=r"Slack refused SLACK_BOT_TOKEN \(invalid_auth\)") as err:
        await serve(settings)
    assert wrong not in str(err.value)
