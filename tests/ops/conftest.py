"""A whole bot for the operational tests: DIS simulator, DisClient with the metrics and health hooks, a fake Slack,
the Bolt app, and signed slash commands sent through it.

    async def test_x(make_bot):
        bot = await make_bot("aksk")
        call = await bot.command("tasks orders-prod")   # the response_url call that answered it
"""

from __future__ import annotations

import io
import json
import logging
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.config import AuthMode, Settings
from bot.deps import Deps
from bot.devtools.fake_slack import Call, FakeSlack
from bot.dis.client import DisClient
from bot.dis.simulator import DisSimulator, SimTask
from bot.services.health import Health, connect_health
from bot.services.tasks import TaskService
from tests.conftest import FAST_RETRY, new_simulator, settings_for
from tests.slack_signing import signed_headers

SLACK_BOT_TOKEN = "xoxb-111-222-opsbottokenopsbottoken"
SLACK_SIGNING_SECRET = "ops-signing-secret-8f742231b10e8888"
SLACK_APP_TOKEN = "xapp-1-A111-333-opsapptokenopsapptoken"
SLACK_SECRETS = (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APP_TOKEN)


@dataclass
class Bot:
    """One running bot and its fakes."""

    sim: DisSimulator
    fake: FakeSlack
    settings: Settings
    client: DisClient
    deps: Deps
    app: Any
    health: Health

    async def command(
        self, text: str, *, user: str = "U0OPS", channel: str = "C0OPS", wait: float = 10, ok: bool | None = True
    ) -> Call:
        """Send a signed `/dis <text>` through the app; return the response_url call that answered it.

        `wait` is the most seconds to wait for the answer; `ok=None` also accepts an answer the fake was
        scripted to refuse.
        """
        hook = uuid.uuid4().hex[:12]
        body = urllib.parse.urlencode(
            {
                "token": "legacy-verification",
                "team_id": "T0FAKE",
                "team_domain": "fake",
                "channel_id": channel,
                "channel_name": "ops",
                "user_id": user,
                "user_name": "ops",
                "command": "/dis",
                "text": text,
                "api_app_id": "A0DISBOT",
                "response_url": self.fake.response_url(hook),
                "trigger_id": "1.2.3",
            }
        )
        request = AsyncBoltRequest(body=body, headers=signed_headers(SLACK_SIGNING_SECRET, body))
        response = await self.app.async_dispatch(request)
        assert response.status == 200, response.body
        [call] = await self.fake.wait_for("response_url", where=lambda c: c.hook_id == hook, timeout=wait, ok=ok)
        return call

    async def home_opened(self, *, user: str = "U0OPS", tab: str = "home") -> None:
        """Deliver a signed app_home_opened event (the listener runs in the background after the ack)."""
        body = json.dumps(
            {
                "token": "legacy-verification",
                "team_id": "T0FAKE",
                "api_app_id": "A0DISBOT",
                "type": "event_callback",
                "event_id": "Ev" + uuid.uuid4().hex[:10].upper(),
                "event_time": 1,
                "event": {"type": "app_home_opened", "user": user, "channel": "D0OPS", "tab": tab},
            }
        )
        headers = signed_headers(SLACK_SIGNING_SECRET, body, content_type="application/json")
        response = await self.app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))
        assert response.status == 200


@pytest.fixture
async def make_bot() -> AsyncIterator[Any]:
    """Factory `await make_bot(mode="token", **settings)`: a bot on a fresh simulator (stream orders-prod)."""
    from bot.app import create_app

    cleanups: list[Any] = []

    async def make(mode: AuthMode | str = AuthMode.TOKEN, **overrides: Any) -> Bot:
        sim = new_simulator()
        await sim.start()
        cleanups.append(sim.stop)
        sim.add_stream("orders-prod", [SimTask("to-obs"), SimTask("to-dws", state="ERROR")])
        fake = FakeSlack()
        await fake.start()
        cleanups.append(fake.stop)
        values: dict[str, Any] = {
            "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
            "SLACK_APP_TOKEN": SLACK_APP_TOKEN,
            "SLACK_API_URL": fake.url,
            "CACHE_TTL_SECONDS": 0,
        }
        values.update(overrides)
        settings = settings_for(sim, mode, **values)
        client = DisClient(settings, retry=FAST_RETRY)
        cleanups.append(client.aclose)
        client.on_request = metrics.on_dis_request
        client.on_retry = metrics.on_dis_retry
        tasks = TaskService(client, settings.cache_ttl_seconds, on_cache_event=metrics.on_cache_event)
        slack = AsyncWebClient(token=SLACK_BOT_TOKEN, base_url=fake.url, retry_handlers=[])
        health = connect_health(settings.ready_max_age_seconds, client, slack)
        deps = Deps(settings=settings, dis=client, tasks=tasks, health=health, slack=slack)
        cleanups.append(health.aclose)
        app = create_app(settings, deps)
        return Bot(sim, fake, settings, client, deps, app, health)

    yield make
    for cleanup in reversed(cleanups):
        await cleanup()


@pytest.fixture
def capture_logs() -> Iterator[Any]:
    """Factory `capture_logs(settings) -> StringIO`: the bot's own logging setup writing to a buffer.

    Restores the root logger (handlers, level) and the levels `configure_logging` changes afterwards.
    """
    from bot.logs import configure_logging

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    noisy = {
        name: logging.getLogger(name).level
        for name in ("httpx", "httpcore", "aiohttp.access", "slack_sdk", "slack_bolt", "bot.bolt")
    }

    def capture(settings: Settings) -> io.StringIO:
        buffer = io.StringIO()
        configure_logging(settings, buffer)
        return buffer

    yield capture
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    for name, level in noisy.items():
        logging.getLogger(name).setLevel(level)


#: Every metric the README's table lists (the issue's list).
METRIC_FAMILIES = (
    "disbot_commands_total",
    "disbot_ack_latency_seconds",
    "disbot_dis_requests_total",
    "disbot_dis_request_seconds",
    "disbot_dis_retries_total",
    "disbot_cache_events_total",
    "disbot_watch_cycle_seconds",
    "disbot_watch_lag_seconds",
    "disbot_alerts_total",
    "disbot_outbox_depth",
    "disbot_outbox_delivery_failures_total",
    "disbot_watched_tasks",
    "disbot_task_backlog_records",
    "disbot_task_discarded_records",
    "disbot_socket_mode_connected",
    "disbot_socket_mode_reconnects_total",
)
