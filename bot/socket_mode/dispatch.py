"""From a Socket Mode envelope to Bolt and back: each envelope is acked on every delivery and run once.

Bolt's own helpers do the translation (`slack_bolt.adapter.socket_mode.async_internals`): `run_async_bolt_app`
builds the `AsyncBoltRequest` (with the retry headers) and dispatches it, `send_async_response` turns Bolt's
answer into the ack. What is ours is the bookkeeping around them: Slack delivers an envelope again when it did
not see the ack (a connection replaced at the wrong moment) and then the user must not get two answers, so an
`envelope_id` seen before is acked again, with the same payload as the first time, and not dispatched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cachetools import TTLCache
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

logger = logging.getLogger("bot.socket_mode")

#: Sends one ack (`{"envelope_id": ..., "payload": ...?}`) back to Slack.
Reply = Callable[[dict[str, Any]], Awaitable[None]]

#: How long an envelope_id is remembered: well past Slack's last redelivery (about 5 minutes for events).
REMEMBER_SECONDS = 15 * 60
#: How long a redelivery waits for the first delivery's ack, to repeat it (Slack's own ack deadline is 3 s).
REDELIVERY_WAIT_SECONDS = 3.0


class _Acker:
    """What Bolt's `send_async_response` needs from a client (`logger`, `send_socket_mode_response`), for one
    envelope: it sends the ack and remembers it for redeliveries."""

    def __init__(self, reply: Reply, first: asyncio.Future[dict[str, Any] | None]) -> None:
        self.logger = logger
        self._reply = reply
        self._first = first

    async def send_socket_mode_response(self, response: SocketModeResponse | dict[str, Any]) -> None:
        ack = response.to_dict() if isinstance(response, SocketModeResponse) else response
        if not self._first.done():
            self._first.set_result(ack)
        await self._reply(ack)


class EnvelopeDispatcher:
    """Runs envelopes through the Bolt app; one instance per process (it remembers the envelope ids seen).

    Args:
        app: the Bolt app (`create_app`).
        remember_seconds: how long an envelope_id counts as seen.
    """

    def __init__(self, app: AsyncApp, *, remember_seconds: float = REMEMBER_SECONDS) -> None:
        self.app = app
        self._seen: TTLCache[str, asyncio.Future[dict[str, Any] | None]] = TTLCache(
            maxsize=50_000, ttl=remember_seconds
        )

    async def __call__(self, envelope: dict[str, Any], reply: Reply) -> None:
        """Ack and dispatch one envelope that arrived on a connection; `reply` sends the ack back."""
        request = SocketModeRequest.from_dict(envelope)
        if request is None:  # an envelope_id without type or payload: nothing Bolt could run
            logger.warning("socket_mode.envelope_incomplete", extra={"fields": ",".join(sorted(envelope))[:200]})
            return
        extra = {"envelope_id": request.envelope_id, "type": request.type, "retry_attempt": request.retry_attempt}
        first = self._seen.get(request.envelope_id)
        if first is not None:
            logger.info("socket_mode.envelope_redelivered", extra=extra)
            try:
                ack = await asyncio.wait_for(asyncio.shield(first), REDELIVERY_WAIT_SECONDS)
            except TimeoutError:
                ack = {"envelope_id": request.envelope_id}
            if ack is not None:  # the first delivery was acked: so is this one, the same way
                await reply(ack)
            return
        first = asyncio.get_running_loop().create_future()
        self._seen[request.envelope_id] = first
        logger.debug("socket_mode.envelope", extra=extra)
        try:
            bolt_response = await run_async_bolt_app(self.app, request)
            await send_async_response(_Acker(reply, first), request, bolt_response, time.time())  # type: ignore[arg-type]
        finally:
            if not first.done():  # Bolt did not ack (no listener, or it failed): redeliveries are not acked either
                first.set_result(None)
