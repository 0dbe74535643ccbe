"""One Socket Mode websocket, from handshake to close.

A `Connection` reads its socket until it closes and hands every envelope to the client, whatever else happens:
when Slack asks for a new connection (`{"type": "disconnect", ...}`) the old one keeps being read, and acks for
the envelopes it brought keep going out on it, until Slack closes it. Liveness is aiohttp's heartbeat: a ping
after `ping_interval` seconds without traffic, and a connection whose pong does not come within half that is
closed (`close_reason` "ping_timeout").
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import WSMsgType

logger = logging.getLogger("bot.socket_mode")

#: Why a connection was left: Slack's own disconnect reasons, or one of these.
CLOSED = "closed"
PING_TIMEOUT = "ping_timeout"

MessageHandler = Callable[["Connection", dict[str, Any]], None]
ClosedHandler = Callable[["Connection"], None]


class Connection:
    """A websocket to Slack and the task reading it.

    Attributes:
        number: 1 for the process's first connection, then 2, 3, ... (for logs; never the URL).
        hello: set when Slack greeted the connection (only then are envelopes expected on it).
        replace: set when the connection should be replaced: Slack asked (`replace_reason` is its reason) or
            the connection closed (`close_reason`).
        done: set when the socket has closed and every message on it has been handed over.
    """

    def __init__(
        self, number: int, ws: aiohttp.ClientWebSocketResponse, on_message: MessageHandler, on_closed: ClosedHandler
    ) -> None:
        self.number = number
        self.ws = ws
        self.hello = asyncio.Event()
        self.replace = asyncio.Event()
        self.done = asyncio.Event()
        self.replace_reason: str | None = None
        self.close_reason: str | None = None
        self.opened_at = asyncio.get_running_loop().time()
        self._on_message = on_message
        self._on_closed = on_closed
        self.reader = asyncio.create_task(self._read(), name=f"socket-mode-read-{number}")

    async def greeted(self) -> bool:
        """Wait until Slack said hello (True) or the socket closed first (False)."""
        waits = [asyncio.ensure_future(self.hello.wait()), asyncio.ensure_future(self.done.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        return self.hello.is_set()

    @property
    def open(self) -> bool:
        return not self.ws.closed and not self.done.is_set()

    @property
    def reason(self) -> str:
        """Why this connection is being replaced (Slack's disconnect reason first, else how it closed)."""
        return self.replace_reason or self.close_reason or CLOSED

    async def _read(self) -> None:
        try:
            async for msg in self.ws:  # ends on CLOSE / CLOSING / CLOSED
                if msg.type is WSMsgType.TEXT:
                    self._on_text(msg.data)
                elif msg.type is WSMsgType.ERROR:
                    break
        except Exception as exc:  # a broken socket, not a bug of ours: the client opens another one
            logger.info("socket_mode.read_failed", extra={"connection": self.number, "error": type(exc).__name__})
        finally:
            self.close_reason = PING_TIMEOUT if isinstance(self.ws.exception(), aiohttp.ServerTimeoutError) else CLOSED
            if not self.ws.closed:
                await self.ws.close()
            self.done.set()
            self.replace.set()
            self._on_closed(self)

    def _on_text(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            # Never log the data itself: an envelope carries a response_url anyone could post to.
            logger.warning("socket_mode.unreadable_message", extra={"connection": self.number, "length": len(data)})
            return
        kind = message.get("type")
        if kind == "hello":
            self.hello.set()
        elif kind == "disconnect":
            self.replace_reason = str(message.get("reason") or "unknown")[:40]
            logger.info(
                "socket_mode.disconnect_requested", extra={"connection": self.number, "reason": self.replace_reason}
            )
            self.replace.set()
        else:
            self._on_message(self, message)

    async def send(self, text: str) -> bool:
        """Send one text frame; False when the socket has closed (the caller tries another connection)."""
        if self.ws.closed:
            return False
        try:
            await self.ws.send_str(text)
        except (ConnectionError, aiohttp.ClientError, RuntimeError):
            return False
        return True

    async def close(self) -> None:
        """Close the socket (a close frame, then aiohttp's short wait for Slack's) and wait for the reader."""
        if not self.ws.closed:
            await self.ws.close()
        await self.reader
