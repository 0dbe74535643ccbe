"""The ops surface of the real runtime in both Slack modes: `/readyz` and `/metrics` on `$PORT`, and JSON log lines
that carry the request id of the Slack request that caused them (its DIS calls included)."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.devtools.fake_slack import FakeSlack
from bot.dis.client import DisClient
from bot.dis.simulator import DisSimulator, SimTask
from bot.server import Runtime, SlackHttpServer, SlackSocketModeServer, build_deps, build_runtime
from tests.conftest import FAST_RETRY, settings_for
from tests.ops.conftest import SLACK_APP_TOKEN, SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET
from tests.slack_signing import signed_headers


def command_payload(fake: FakeSlack, hook: str, text: str) -> dict[str, str]:
    return {
        "team_id": "T0FAKE",
        "channel_id": "C0OPS",
        "user_id": "U0OPS",
        "command": "/dis",
        "text": text,
        "response_url": fake.response_url(hook),
        "trigger_id": "1.2.3",
        "api_app_id": "A0DISBOT",
    }


@pytest.fixture(params=["http", "socket"])
async def running(request, sim: DisSimulator, capture_logs) -> AsyncIterator[dict[str, Any]]:
    """The bot as `serve` builds it, in one mode, logging JSON at DEBUG into a buffer."""
    mode = request.param
    sim.add_stream("orders-prod", [SimTask("to-obs"), SimTask("to-dws", state="ERROR")])
    async with FakeSlack(token=SLACK_BOT_TOKEN, app_token=SLACK_APP_TOKEN) as fake:
        slack = {"SLACK_BOT_TOKEN": SLACK_BOT_TOKEN, "SLACK_API_URL": fake.url, "PORT": 0}
        if mode == "socket":
            slack["SLACK_APP_TOKEN"] = SLACK_APP_TOKEN
        else:
            slack["SLACK_SIGNING_SECRET"] = SLACK_SIGNING_SECRET
        settings = settings_for(sim, LOG_FORMAT="json", LOG_LEVEL="DEBUG", CACHE_TTL_SECONDS=0, **slack)
        logs = capture_logs(settings)
        deps = build_deps(settings, dis=DisClient(settings, retry=FAST_RETRY))
        runtime: Runtime = build_runtime(settings, deps=deps, host="127.0.0.1")
        assert isinstance(runtime.server, SlackSocketModeServer if mode == "socket" else SlackHttpServer)
        await runtime.server.start()
        if mode == "socket":
            await fake.wait_for("socket_mode.connect")
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runtime.server.port}") as http:
                yield {"mode": mode, "fake": fake, "runtime": runtime, "http": http, "logs": logs}
        finally:
            await runtime.server.stop()
            await deps.dis.aclose()


async def send_command(bot: dict[str, Any], hook: str, text: str) -> None:
    """`/dis <text>` the way Slack delivers it in this mode; waits for the answer at its response_url."""
    fake: FakeSlack = bot["fake"]
    payload = command_payload(fake, hook, text)
    if bot["mode"] == "socket":
        await fake.socket_send("slash_commands", payload)
    else:
        body = urllib.parse.urlencode(payload)
        response = await bot["http"].post(
            "/slack/events", content=body, headers=signed_headers(SLACK_SIGNING_SECRET, body)
        )
        assert response.status_code == 200
    await fake.wait_for("response_url", where=lambda c: c.hook_id == hook)


async def test_readyz_and_metrics_are_served_on_port(running) -> None:
    """In both modes `$PORT` answers /readyz (200 once the start-up probes of DIS and Slack succeeded) and /metrics."""
    health = running["runtime"].deps.health
    await health.refresh()  # the start-up probes, already running
    response = await running["http"].get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["ready"] is True
    assert running["fake"].count("auth.test") >= 1  # the Slack probe went to the (fake) Web API
    metrics = await running["http"].get("/metrics")
    assert metrics.status_code == 200 and "disbot_dis_requests_total" in metrics.text


async def test_json_log_lines_carry_the_request_id(running) -> None:
    """Every line a slash command causes (its DIS request too) carries one request id, different per request."""
    await send_command(running, "first", "tasks orders-prod")
    await send_command(running, "second", "tasks orders-prod")
    records = [json.loads(line) for line in running["logs"].getvalue().splitlines() if line.strip()]
    received = [r for r in records if r["event"] == "command.received"]
    assert [r["subcommand"] for r in received] == ["tasks", "tasks"]
    ids = [r.get("request_id") for r in received]
    assert all(ids) and ids[0] != ids[1], ids
    commanded = [r for r in records if r["event"] == "dis.request" and r.get("endpoint") == "list_transfer_tasks"]
    assert len(commanded) == 2
    assert [r.get("request_id") for r in commanded] == ids
