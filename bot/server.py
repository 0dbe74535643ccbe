"""Running the bot: an aiohttp server for Slack's HTTP requests, or a Socket Mode connection.

HTTP mode serves `POST /slack/events` (slash commands, events and interactivity: one Request URL) plus the ops
endpoints (`/healthz`, `/readyz`, `/metrics`) on `$PORT`. Socket Mode (when `SLACK_APP_TOKEN` is set) needs no
public URL; the ops endpoints are still served on `$PORT`. Background services (the watcher) are started after
the server and stopped before it, in both modes.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.app import create_app, slack_client
from bot.blocks.alerts import BLOCK_KIT_ALERTS
from bot.config import MISSING_APP_TOKEN, Settings
from bot.deps import Deps
from bot.dis.api import DisApi
from bot.errors import ConfigError
from bot.leader import LeaseTiming, lease_for
from bot.ops.http import add_ops_routes, start_ops_server
from bot.services.dis_credentials import check_dis_credentials
from bot.services.health import chain, connect_health, observe_slack
from bot.services.tasks import TaskService
from bot.services.watches import WatchService
from bot.slack_errors import read_error, refuses_token
from bot.slack_signature import Unverified, verified_body
from bot.socket_mode import ConnectFailed, EnvelopeDispatcher, SocketModeClient, SocketModeTiming, refusal
from bot.store import check_database_writable, open_store
from bot.store.base import Store
from bot.store.urls import POSTGRESQL, parse_database_url
from bot.watcher.leadership import Leadership
from bot.watcher.watcher import Watcher

logger = logging.getLogger("bot.server")

EVENTS_PATH = "/slack/events"


class Service(Protocol):
    """A background job that lives as long as the server (the watcher)."""

    async def start(self) -> None: ...
    async def stop(self) -> object: ...  # what it returns is not used (the watcher's says if it flushed)


ServiceFactory = Callable[[Deps], Service]


class _Lifecycle:
    """Start/stop of background services around the server itself."""

    def __init__(self) -> None:
        #: Background services, started (in order) after the server is up and stopped (in reverse) before it goes.
        self.services: list[Service] = []
        self._started: list[Service] = []

    async def _start_services(self) -> None:
        for service in self.services:
            # Listed before its start returns: a SIGTERM during a start (the watcher's first writes) still stops
            # it, instead of leaving its task to be cut off mid-transaction when the event loop closes.
            self._started.append(service)
            await service.start()

    async def _stop_services(self) -> None:
        while self._started:
            service = self._started.pop()
            try:
                await service.stop()
            except Exception:
                logger.exception("server.service_stop_failed", extra={"service": type(service).__name__})


class SlackHttpServer(_Lifecycle):
    """The HTTP front: `POST /slack/events` into Bolt, plus the ops routes, on one aiohttp application.

    `web_app` is a plain `aiohttp.web.Application`: add routes to it before `start()`. Requests to
    `/slack/events` are verified on their raw bytes before Bolt parses them (`bot.slack_signature`): a missing or
    wrong signature gets 401 and one short log line, whatever the body; a signed body Bolt cannot read gets 400.

    Args:
        app: the Bolt app (`create_app`).
        deps: the process's services (the ops routes read health from them).
        host: interface to bind ("0.0.0.0" in production, "127.0.0.1" in tests).
        port: port to bind; 0 picks a free one (see `port` after `start()`).
    """

    def __init__(self, app: AsyncApp, deps: Deps, *, host: str = "0.0.0.0", port: int = 3000) -> None:
        super().__init__()
        self.bolt = app
        self.deps = deps
        self.host = host
        self.port = port
        secret = deps.settings.slack_signing_secret
        if secret is None or not secret.get_secret_value().strip():
            raise ConfigError("SLACK_SIGNING_SECRET is not set; HTTP mode needs it to verify requests from Slack")
        self.verifier = SignatureVerifier(secret.get_secret_value())
        self.web_app = web.Application()
        self.web_app.router.add_post(EVENTS_PATH, self._events)
        add_ops_routes(self.web_app, deps.health)
        self._runner: web.AppRunner | None = None

    async def _events(self, request: web.Request) -> web.Response:
        try:
            body = await verified_body(request, self.verifier)
        except Unverified as exc:
            # One short line: no body, no header values (the signature, a huge Content-Type) are ever logged.
            extra = {"reason": exc.reason, "bytes": request.content_length, "remote": request.remote}
            logger.warning("slack.request_rejected", extra=extra)
            return web.json_response({"error": "invalid request"}, status=401)
        try:
            bolt_request = AsyncBoltRequest(body=body, query=request.query_string, headers=request.headers)  # type: ignore[arg-type]
            if not isinstance(bolt_request.body, dict):
                raise TypeError("not an object")
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            # Signed, so from Slack (or someone holding the secret), but not a payload Bolt can read.
            logger.warning("slack.request_unreadable", extra={"error": type(exc).__name__, "bytes": len(body)})
            return web.json_response({"error": "bad request"}, status=400)
        try:
            bolt_response = await self.bolt.async_dispatch(bolt_request)
        except Exception as exc:
            # Bolt's own reading of a payload of the wrong shape (`"event": 5`) raised before any listener ran (a
            # listener's error goes to Bolt's error handler instead): the same answer, the trace only at DEBUG.
            logger.warning("slack.request_unreadable", extra={"error": type(exc).__name__, "bytes": len(body)})
            logger.debug("slack.request_unreadable_trace", exc_info=exc)
            return web.json_response({"error": "bad request"}, status=400)
        return await to_aiohttp_response(bolt_response)

    @property
    def url(self) -> str:
        """Base URL of the running server (the host as bound; use with 127.0.0.1 in tests)."""
        return f"http://{'127.0.0.1' if self.host in ('0.0.0.0', '') else self.host}:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.web_app, access_log=None)
        await self._runner.setup()
        # A larger accept backlog than aiohttp's 128: in an incident a burst of commands opens many connections at
        # once, and a full backlog costs a dropped SYN and a 1 s retransmit (seen in bench/commands.py).
        await web.TCPSite(self._runner, self.host, self.port, backlog=1024).start()
        self.port = self._runner.addresses[0][1]
        logger.info("server.http_listening", extra={"port": self.port, "path": EVENTS_PATH})
        await self._start_services()

    async def stop(self) -> None:
        await self._stop_services()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class SlackSocketModeServer(_Lifecycle):
    """Socket Mode: a websocket to Slack (URLs from `apps.connections.open` on SLACK_API_URL), and the ops
    routes on `$PORT` so probes and scrapes work the same as in HTTP mode.

    `start()` does not wait for Slack: the watcher runs (its alerts wait in the outbox) while the client keeps
    trying, `/readyz` turns 503 after the websocket has been down for `timing.down_grace` seconds, and
    `disbot_socket_mode_connected` says whether it is up (see `bot.socket_mode`).

    Args:
        timing: the Socket Mode client's intervals and timeouts (tests pass small ones).
    """

    def __init__(
        self,
        app: AsyncApp,
        deps: Deps,
        app_token: str,
        *,
        host: str = "0.0.0.0",
        port: int = 3000,
        timing: SocketModeTiming | None = None,
    ) -> None:
        super().__init__()
        self.bolt = app
        self.deps = deps
        self.host = host
        self.port = port
        self.client = SocketModeClient(app_token, deps.settings.slack_api_url, EnvelopeDispatcher(app), timing=timing)
        self.client.on_connected = chain(metrics.set_socket_mode_connected, self._heard)
        self.client.on_reconnect = metrics.on_socket_mode_reconnect
        self._ops: web.AppRunner | None = None

    def _heard(self, connected: bool) -> None:
        # A websocket opened with none before (at start, or after an outage): Slack is back for the outbox too.
        if connected:
            self.deps.health.slack_heard()

    async def start(self) -> None:
        self._ops = await start_ops_server(self.port, self.deps.health, host=self.host)
        self.port = self._ops.addresses[0][1]
        self.deps.health.add_check("socket_mode", self.client.readiness)
        metrics.set_socket_mode_connected(False)
        await self.client.start()
        logger.info("server.socket_mode_started", extra={"ops_port": self.port})
        await self._start_services()

    async def stop(self) -> None:
        # The websocket and the services together: no new command arrives while the watcher flushes its outbox,
        # and closing the websocket does not eat into the watcher's 8 s (SIGTERM must end us within 10 s).
        await asyncio.gather(self.client.close(), self._stop_services())
        metrics.set_socket_mode_connected(False)
        if self._ops is not None:
            await self._ops.cleanup()
            self._ops = None


def build_deps(settings: Settings, *, dis: DisApi | None = None) -> Deps:
    """The process's services: the DisClient (wired to the metrics unless given), TaskService, the Slack client,
    and readiness fed by both.

    Raises:
        ConfigError: SLACK_BOT_TOKEN is not set.
    """
    slack = slack_client(settings)
    if dis is None:
        from bot.dis.client import DisClient

        client = DisClient(settings)
        client.on_request = metrics.on_dis_request
        client.on_retry = metrics.on_dis_retry
        dis = client
    tasks = TaskService(dis, settings.cache_ttl_seconds, on_cache_event=metrics.on_cache_event)
    health = connect_health(settings.ready_max_age_seconds, dis, slack)
    return Deps(settings=settings, dis=dis, tasks=tasks, health=health, slack=slack)


def build_watcher(deps: Deps, *, store: Store | None = None, **options: Any) -> Watcher:
    """The watcher of a running bot, given what it needs, and `deps.watches` set so commands and buttons reach it.

    The store is `DATABASE_URL`'s (opened here, closed by the watcher's `stop()`) unless one is given; its write
    faults fail `/readyz` ("store"). The watcher gets its own Web API client on the same token and URL without the
    rate-limit retry handler (the outbox honours Retry-After itself, without holding a call), observed by
    `deps.health` like every other Slack call: alerts failing to reach Slack is what readiness is for.

    Args:
        options: the watcher's keyword options (`spread`, `channel_interval`, ...; tests pass small ones).

    Raises:
        ConfigError: DATABASE_URL or DIS_WATCH is invalid.
    """
    slack = AsyncWebClient(token=deps.slack.token, base_url=deps.slack.base_url, timeout=deps.slack.timeout)
    observe_slack(slack, deps.health)
    owns = store is None
    if store is None:
        # A leader frozen mid-transaction holds up a takeover for at most a lease (see SqlStore).
        lease = LeaseTiming.for_watch_interval(deps.settings.watch_interval_seconds).lease
        store = open_store(deps.settings.database_url, idle_transaction_timeout=lease)
    deps.health.add_check("store", store.faults.check)
    watcher = Watcher(deps.settings, store, deps.tasks, slack, renderer=BLOCK_KIT_ALERTS, owns_store=owns, **options)
    deps.health.on_slack_back(watcher.sender.slack_back)
    deps.watches = WatchService.of(watcher)
    return watcher


@dataclass
class Runtime:
    """Everything `serve` runs, built without starting anything (tests and the benchmark use it too)."""

    deps: Deps
    app: AsyncApp
    server: SlackHttpServer | SlackSocketModeServer
    watcher: Watcher | None = None
    #: Runs the watcher while this replica holds its lease (`leadership.lease`: a `PostgresLease` on PostgreSQL,
    #: the single instance's `LocalLease` on SQLite).
    leadership: Leadership | None = None

    @property
    def socket_mode(self) -> bool:
        return isinstance(self.server, SlackSocketModeServer)


def build_runtime(
    settings: Settings,
    *,
    deps: Deps | None = None,
    services: Sequence[ServiceFactory] = (),
    host: str = "0.0.0.0",
    socket_mode: bool | None = None,
    socket_timing: SocketModeTiming | None = None,
    watcher: Mapping[str, Any] | None = None,
) -> Runtime:
    """Build deps, the Bolt app, the server for the mode the settings choose and, if asked, the watcher.

    Args:
        settings: the process settings (`require_bot()` is checked when deps are built here).
        deps: prebuilt services (tests); built from the settings otherwise.
        services: factories of other background services started with the server, after the watcher.
        host: interface to bind.
        socket_mode: force a mode; default is Socket Mode exactly when SLACK_APP_TOKEN is set.
        socket_timing: Socket Mode's intervals and timeouts (defaults suit Slack).
        watcher: run a watcher with these `build_watcher` options (`{}` for the defaults); None runs none.
    """
    if socket_mode is None:
        socket_mode = settings.slack_app_token is not None
    if deps is None:
        deps = build_deps(settings.require_bot(socket_mode=socket_mode))
    app = create_app(settings, deps, socket_mode=socket_mode)
    server: SlackHttpServer | SlackSocketModeServer
    if socket_mode:
        if settings.slack_app_token is None:
            raise ConfigError(MISSING_APP_TOKEN)
        server = SlackSocketModeServer(
            app, deps, settings.slack_app_token.get_secret_value(), host=host, port=settings.port, timing=socket_timing
        )
    else:
        server = SlackHttpServer(app, deps, host=host, port=settings.port)
    watch = build_watcher(deps, **watcher) if watcher is not None else None
    role: Leadership | None = None
    if watch is not None:
        # Every replica serves Slack; the lease's holder alone polls and delivers (bot.watcher.leadership).
        role = Leadership(watch, shared=parse_database_url(settings.database_url).engine == POSTGRESQL)
        role.lease = lease_for(
            settings.database_url,
            settings.watch_interval_seconds,
            on_gained=role.gained,
            on_lost=role.lost,
            listen=role.listen if role.shared else None,
        )
        deps.health.add_check("leader", role.readiness)
        server.services.append(role)
    server.services.extend(factory(deps) for factory in services)
    return Runtime(deps, app, server, watch, role)


async def check_slack_token(client: AsyncWebClient) -> None:
    """Call auth.test once at start-up so a wrong bot token stops the process with a clear message.

    Raises:
        ConfigError: Slack refused the token. Network trouble only logs a warning: Bolt retries on the first request.
    """
    try:
        identity = await client.auth_test()
    except SlackApiError as exc:
        failure = read_error(exc)
        if refuses_token(failure):
            raise ConfigError(f"Slack refused SLACK_BOT_TOKEN ({failure.code})") from None
        logger.warning("server.slack_check_failed", extra={"error": failure.code})
        return
    except Exception as exc:
        logger.warning("server.slack_check_failed", extra={"error": type(exc).__name__})
        return
    logger.info("server.slack_identity", extra={"bot_user": identity.get("user_id"), "team": identity.get("team_id")})


async def check_slack_app_token(server: SlackHttpServer | SlackSocketModeServer) -> None:
    """In Socket Mode, ask Slack for a connection URL once at start-up so a wrong SLACK_APP_TOKEN stops the process
    with a clear message, as `check_slack_token` does for the bot token. (The first connection uses that URL.)

    Raises:
        ConfigError: the token is not an app-level one (`xapp-`), or Slack refused it. Trouble reaching Slack is no
            error: the client keeps trying in the background.
    """
    if not isinstance(server, SlackSocketModeServer):
        return
    if not server.client.app_token_looks_right:
        raise ConfigError("SLACK_APP_TOKEN is not an app-level token: it must start with xapp- (Basic Information)")
    try:
        await server.client.check_app_token()
    except ConnectFailed as exc:
        if exc.refused:
            raise ConfigError(refusal(exc)) from None
        # Not a WARNING: the client's first attempt follows at once and logs its own failure (one line per attempt).
        logger.info("server.slack_app_check_failed", extra={"error": exc.kind})


async def serve(
    settings: Settings,
    *,
    services: Sequence[ServiceFactory] = (),
    stop: asyncio.Event | None = None,
) -> None:
    """Run the bot and its watcher until SIGTERM/SIGINT (or until `stop` is set): `dis-bot serve`.

    On SIGTERM the watcher finishes the poll in flight and flushes its outbox for up to 8 s, then the server stops:
    the process ends within 10 s of the signal.

    Raises:
        ConfigError: a required setting is missing (named in the message), DATABASE_URL is read-only, or Slack
            refused SLACK_APP_TOKEN before any connection worked (at the start-up check or on a later attempt).
    """
    from bot.logs import configure_logging

    redact = configure_logging(settings)
    runtime = build_runtime(settings, services=services, watcher={})
    # IAM tokens are issued after start-up: teach the log filter each one as it arrives.
    runtime.deps.dis.on_secret = redact.add
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    starting = asyncio.current_task()
    interrupted = False

    def on_signal() -> None:
        # During start-up a check may wait on a Slack or DIS that does not answer: a signal cancels it.
        nonlocal starting, interrupted
        stop.set()
        if starting is not None:
            starting.cancel()
            starting, interrupted = None, True

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, on_signal)
        except (NotImplementedError, RuntimeError):  # not the main thread, or a platform without signals
            pass
    refused: list[ConfigError] = []
    if isinstance(runtime.server, SlackSocketModeServer):

        def on_refused(failure: ConnectFailed) -> None:
            # The start-up check met Slack's trouble, and a later attempt a refused token: still a token that never
            # worked, so the same exit 2 as if the check had heard it (after the watcher's flush).
            if not refused:
                refused.append(ConfigError(refusal(failure)))
                stop.set()

        runtime.server.client.on_refused = on_refused
    try:
        await check_database_writable(settings.database_url)
        await check_slack_token(runtime.deps.slack)
        await check_slack_app_token(runtime.server)
        # Rejected keys: one ERROR naming them, and /readyz says so.
        await check_dis_credentials(settings, runtime.deps.dis, runtime.deps.health)
        await runtime.server.start()
        starting = None
        logger.info("server.started", extra={"mode": "socket" if runtime.socket_mode else "http"})
        await stop.wait()
        logger.info("server.stopping", extra={"reason": "configuration error"} if refused else {})
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if not interrupted or task is None:
            raise  # cancelled from outside, not by a signal
        task.uncancel()
        logger.info("server.stopping", extra={"during": "start-up"})
    finally:
        await runtime.server.stop()
        await runtime.deps.dis.aclose()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):
                pass
    if refused:
        raise refused[0]
