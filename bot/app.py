"""The Bolt app factory: one `AsyncApp` with our listeners, middleware and error handler.

No module-level app and no environment reads: `create_app(settings, deps)` builds a fresh app, so tests can
run one per test against a fake Slack (`SLACK_API_URL`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cachetools import TTLCache
from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import MISSING_BOT_TOKEN, MISSING_SIGNING_SECRET, Settings
from bot.deps import Deps
from bot.errors import ConfigError
from bot.listeners import register_listeners
from bot.listeners.common import DEPS_KEY
from bot.logs import BOLT_LOGGER, request_context
from bot.metrics import ACK_LATENCY

logger = logging.getLogger("bot.slack")

#: How long an event_id is remembered: Slack's last retry comes about 5 minutes after the first delivery.
EVENT_DEDUP_SECONDS = 15 * 60


def request_kind(body: dict[str, Any]) -> str:
    """ "command", "action", "event" or "other", for the ack latency histogram."""
    if "command" in body:
        return "command"
    kind = body.get("type")
    if kind == "block_actions" or kind == "view_submission":
        return "action"
    if kind == "event_callback":
        return "event"
    return "other"


class DisBotApp(AsyncApp):
    """`AsyncApp` that tags each request's logs with a request id and measures the time to acknowledge it.

    (Bolt's global middleware cannot wrap the listener, so this happens around `async_dispatch`, which both the
    HTTP server and Socket Mode call. Listeners started inside inherit the request id through contextvars.)
    """

    async def async_dispatch(self, req: AsyncBoltRequest) -> BoltResponse:
        started = time.perf_counter()
        with request_context():
            resp = await super().async_dispatch(req)
        ACK_LATENCY.labels(kind=request_kind(req.body)).observe(time.perf_counter() - started)
        return resp


def _deps_middleware(deps: Deps) -> Callable[..., Awaitable[Any]]:
    async def attach_deps(context: dict[str, Any], next: Callable[[], Awaitable[None]]) -> None:
        context[DEPS_KEY] = deps
        await next()

    return attach_deps


def _dedup_middleware(seen: TTLCache[str, float]) -> Callable[..., Awaitable[Any]]:
    async def drop_redelivered_events(body: dict[str, Any], next: Callable[[], Awaitable[None]]) -> BoltResponse | None:
        """Answer an event once: Slack re-sends it (X-Slack-Retry-Num) with the same event_id when slow."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id:
            if event_id in seen:
                logger.info("slack.event_redelivered", extra={"event_id": event_id})
                return BoltResponse(status=200, body="", headers={"X-Slack-No-Retry": "1"})
            seen[event_id] = time.time()
        await next()
        return None

    return drop_redelivered_events


class _DropBoltTokenFallbackWarning(logging.Filter):
    """Drops Bolt's "As you gave `client` as well, `token` will be unused." (logged when the app is built).

    Whenever no `token` is passed, Bolt reads $SLACK_BOT_TOKEN by itself and then warns that the `client` we pass
    wins over it. That client is built from the same SLACK_BOT_TOKEN (Settings) and carries what a bare token
    cannot (SLACK_API_URL, the rate-limit retries), so passing it is right, and the warning, which reads like a
    misconfiguration, is none. Any other Bolt warning passes.
    """

    MESSAGE = warning_client_prioritized_and_token_skipped()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.MESSAGE


async def _on_error(error: Exception, body: dict[str, Any]) -> None:
    """Last resort: a listener raised. Log it (with the trace, redacted by the log filter); Slack gets nothing."""
    logger.error("slack.listener_failed", extra={"kind": request_kind(body)}, exc_info=error)


def slack_client(settings: Settings) -> AsyncWebClient:
    """The process's Web API client on SLACK_API_URL, retrying once more on rate limits (after Retry-After).

    Raises:
        ConfigError: SLACK_BOT_TOKEN is not set.
    """
    if settings.slack_bot_token is None:
        raise ConfigError(MISSING_BOT_TOKEN)
    base = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    client = AsyncWebClient(token=settings.slack_bot_token.get_secret_value(), base_url=base)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    return client


def create_app(settings: Settings, deps: Deps, *, socket_mode: bool = False) -> AsyncApp:
    """Build the Bolt app.

    Args:
        settings: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET and SLACK_API_URL are read from here.
        deps: the process's services, handed to every listener; its `slack` client is the app's.
        socket_mode: requests arrive over Socket Mode (no signing secret needed); HTTP mode requires one.

    Raises:
        ConfigError: the bot token is missing, or the signing secret in HTTP mode.
    """
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    if not secret and not socket_mode:
        raise ConfigError(MISSING_SIGNING_SECRET)
    bolt_logger = logging.getLogger(BOLT_LOGGER)
    if not any(isinstance(f, _DropBoltTokenFallbackWarning) for f in bolt_logger.filters):
        bolt_logger.addFilter(_DropBoltTokenFallbackWarning())
    app = DisBotApp(
        client=deps.slack,
        signing_secret=secret or None,
        request_verification_enabled=bool(secret),
        logger=bolt_logger,
        name="dis-bot",
    )
    app.use(_deps_middleware(deps))
    app.use(_dedup_middleware(TTLCache(maxsize=50_000, ttl=EVENT_DEDUP_SECONDS)))
    app.error(_on_error)
    register_listeners(app, deps)
    return app
