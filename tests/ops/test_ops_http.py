"""`/healthz`, `/readyz` and `/metrics` over real HTTP, fed by real DIS and Slack traffic."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.deps import Deps
from bot.devtools.fake_slack import FakeSlack
from bot.dis.simulator import SimTask
from bot.errors import DisError
from bot.ops.http import add_ops_routes, start_ops_server
from bot.services.health import Health, connect_health
from bot.services.tasks import TaskService
from tests.conftest import FAST_RETRY
from tests.ops.conftest import METRIC_FAMILIES


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def ops(sim, make_client, fake_slack) -> AsyncIterator[dict[str, Any]]:
    """A Deps around the simulator and the fake Slack, with the ops server on a free port."""
    sim.add_stream("orders-prod", [SimTask("to-obs")])
    client = make_client(sim)
    client.on_request = metrics.on_dis_request
    slack = AsyncWebClient(token="xoxb-test", base_url=fake_slack.url, retry_handlers=[])
    health = connect_health(client.settings.ready_max_age_seconds, client, slack)
    deps = Deps(settings=client.settings, dis=client, tasks=TaskService(client, 0), health=health, slack=slack)
    runner = await start_ops_server(0, deps.health, host="127.0.0.1")
    port = runner.addresses[0][1]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        yield {"deps": deps, "http": http, "health": deps.health, "client": client, "slack": slack}
    await runner.cleanup()


async def test_healthz_answers_while_dependencies_are_down(ops, sim) -> None:
    """/healthz only says the process is alive, whatever DIS and Slack do."""
    await sim.stop()
    response = await ops["http"].get("/healthz")
    assert response.status_code == 200
    assert response.json()["alive"] is True


async def test_readyz_is_ready_after_start_up_probes(ops, sim, fake_slack) -> None:
    """The server checks DIS and Slack as it starts, so a quiet bot is ready without any traffic."""
    health: Health = ops["health"]
    await health.refresh()  # wait for the probes the start-up began
    assert sim.count("/streams") >= 1
    assert fake_slack.count("auth.test") >= 1
    response = await ops["http"].get("/readyz")
    assert response.status_code == 200
    assert response.json()["ready"] is True


async def test_readyz_is_503_with_reasons_when_both_are_down(sim, make_client) -> None:
    """With DIS and Slack unreachable, /readyz answers 503 and names what failed for each."""
    client = make_client(sim)
    async with FakeSlack() as fake:
        slack = AsyncWebClient(token="xoxb-test", base_url=fake.url, retry_handlers=[])
    await sim.stop()
    health = connect_health(client.settings.ready_max_age_seconds, client, slack)
    runner = await start_ops_server(0, health, host="127.0.0.1")
    try:
        await health.refresh()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.addresses[0][1]}") as http:
            response = await http.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["ready"] is False
        assert body["dis"]["reason"] == "DIS failing: list_streams: connect_error"
        assert body["slack"]["reason"].startswith("Slack failing: auth.test: network (")
        assert body["dis"]["last_ok_age_seconds"] is None
    finally:
        await runner.cleanup()


async def test_readyz_flips_on_dis_failure_and_back(ops, sim) -> None:
    """DIS failing after the last success makes /readyz 503 naming DIS; a good read makes it 200 again."""
    await ops["health"].refresh()
    client = ops["client"]
    sim.fail_next(FAST_RETRY.attempts, status=503)
    with pytest.raises(DisError):
        await client.list_transfer_tasks("orders-prod")
    response = await ops["http"].get("/readyz")
    assert response.status_code == 503
    assert response.json()["dis"]["reason"] == "DIS failing: list_transfer_tasks: HTTP 503"
    assert response.json()["slack"]["ok"] is True

    await client.list_transfer_tasks("orders-prod")
    assert (await ops["http"].get("/readyz")).status_code == 200


async def test_readyz_flips_on_slack_failure_and_back(ops, fake_slack) -> None:
    """A Slack 503 on the shared Web API client makes /readyz 503 naming Slack; the next ok call recovers."""
    await ops["health"].refresh()
    fake_slack.fail_next("chat.postMessage", status=503)
    with pytest.raises(SlackApiError):
        await ops["slack"].chat_postMessage(channel="C1", text="alert")
    response = await ops["http"].get("/readyz")
    assert response.status_code == 503
    assert response.json()["slack"]["reason"] == "Slack failing: chat.postMessage: HTTP 503"
    await ops["slack"].chat_postMessage(channel="C1", text="alert")
    assert (await ops["http"].get("/readyz")).status_code == 200


async def test_metrics_exposition_moves_with_dis_traffic(ops) -> None:
    """/metrics is Prometheus text 0.0.4 and its DIS request counter grows with real requests."""
    labels = {"endpoint": "list_transfer_tasks", "status": "200"}
    before = metrics.REGISTRY.get_sample_value("disbot_dis_requests_total", labels) or 0.0
    await ops["client"].list_transfer_tasks("orders-prod")
    response = await ops["http"].get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.text
    line = f'disbot_dis_requests_total{{endpoint="list_transfer_tasks",status="200"}} {before + 1}'
    assert line in text
    for name in METRIC_FAMILIES:
        assert f"# TYPE {name}" in text, name


async def test_known_label_values_are_exported_before_their_first_event(ops) -> None:
    """Retries, cache events, alerts, outbox failures and ack kinds have samples at 0 before anything happens,
    so `rate()` sees their first increment and dashboards show a 0 rather than "no data"."""
    text = (await ops["http"].get("/metrics")).text
    for line in (
        'disbot_dis_retries_total{endpoint="show_transfer_task",reason="auth_renewed"}',
        'disbot_dis_retries_total{endpoint="list_transfer_tasks",reason="throttled"}',
        'disbot_cache_events_total{event="coalesced"}',
        'disbot_alerts_total{event="reminded",problem="state"}',
        'disbot_alerts_total{event="raised",problem="stalled"}',
        'disbot_outbox_delivery_failures_total{error="network"}',
        'disbot_ack_latency_seconds_count{kind="action"}',
        'disbot_dis_request_seconds_count{endpoint="stop_transfer_tasks"}',
    ):
        assert re.search(rf"^{re.escape(line)} \d", text, re.M), line


async def test_routes_join_an_existing_app(sim, make_client) -> None:
    """add_ops_routes adds the endpoints next to the app's own routes (HTTP mode shares /slack/events' app)."""

    async def events(request: web.Request) -> web.Response:
        return web.Response(text="events")

    app = web.Application()
    app.router.add_post("/slack/events", events)
    add_ops_routes(app, Health(300))
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    assert {"/slack/events", "/healthz", "/readyz", "/metrics"} <= paths
