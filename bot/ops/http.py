"""`GET /healthz`, `GET /readyz` and `GET /metrics` on an aiohttp application.

In HTTP mode they share the app that serves `/slack/events` (`add_ops_routes`); in Socket Mode, where Bolt serves
no HTTP, `start_ops_server` runs them alone on `$PORT` so the same probes and scrapes work in both modes.
"""

from __future__ import annotations

import time

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from bot import metrics
from bot.services.health import Health

HEALTH_KEY = web.AppKey("dis_bot_health", Health)
STARTED_KEY = web.AppKey("dis_bot_started", float)


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and its event loop answers."""
    return web.json_response({"alive": True, "uptime_seconds": round(time.monotonic() - request.app[STARTED_KEY], 1)})


async def readyz(request: web.Request) -> web.Response:
    """200 when DIS and Slack both answered recently, else 503 with the reason per dependency."""
    health = request.app[HEALTH_KEY]
    health.kick()  # refresh a quiet dependency in the background; this answer uses what is known now
    ready, detail = health.status()
    return web.json_response({"ready": ready, **detail}, status=200 if ready else 503)


async def metrics_endpoint(request: web.Request) -> web.Response:
    """Prometheus text exposition of `bot.metrics.REGISTRY`."""
    return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


def add_ops_routes(app: web.Application, health: Health) -> None:
    """Add the three endpoints to `app`; `/readyz` answers from `health` (the process's `Deps.health`)."""
    app[HEALTH_KEY] = health
    app[STARTED_KEY] = time.monotonic()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
    app.on_startup.append(_first_probes)
    app.on_cleanup.append(_stop_probes)


async def _first_probes(app: web.Application) -> None:
    # Readiness at start-up should not wait for the first alert or command: check DIS and Slack right away.
    app[HEALTH_KEY].kick()


async def _stop_probes(app: web.Application) -> None:
    await app[HEALTH_KEY].aclose()


async def start_ops_server(port: int, health: Health, *, host: str = "0.0.0.0") -> web.AppRunner:
    """Serve only the ops endpoints on `host:port` (Socket Mode). Stop with `await runner.cleanup()`.

    The bound port (useful with `port=0`) is `runner.addresses[0][1]`.
    """
    app = web.Application()
    add_ops_routes(app, health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
