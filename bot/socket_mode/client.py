"""The Socket Mode client: keeps one live websocket to Slack (two while one is being replaced), for ever.

The loop in `SocketModeClient._run`:

1. ask `apps.connections.open` for a new URL (every attempt: a URL may be single-use or expired),
2. open the websocket and wait for Slack's `hello` (all within `connect_timeout`),
3. hold it until it must be replaced: Slack asked (`disconnect`: refresh_requested, warning, ...), it closed, or
   it stopped answering pings; then go to 1 at once. A connection Slack asked us to leave is *not* closed: it
   keeps delivering and acking envelopes until Slack closes it (or `drain_seconds` pass), so an envelope sent
   on it during the switch is not lost.

A failed attempt logs one WARNING line (`socket_mode.connect_failed`: the error kind, the attempt number, the
wait) and is retried after a capped, jittered backoff. Nothing is logged with an envelope in it or with a URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.dis.retry import RetryPolicy
from bot.socket_mode.connection import Connection
from bot.socket_mode.dispatch import Reply
from bot.socket_mode.opener import ConnectFailed, open_url, refusal

logger = logging.getLogger("bot.socket_mode")

#: Handles one envelope (`EnvelopeDispatcher`): the envelope and the function that sends its ack.
EnvelopeHandler = Callable[[dict[str, Any], Reply], Awaitable[None]]


@dataclass(frozen=True)
class SocketModeTiming:
    """How long the client waits for what. The defaults suit Slack; tests pass small values.

    Args:
        ping_interval: a ping after this many seconds without traffic; no pong within half of it closes the
            connection (so a silent link is replaced within 1.5 x this).
        connect_timeout: for `apps.connections.open`, and again for the handshake plus Slack's `hello`.
        drain_seconds: the longest an old connection is kept after Slack asked for a new one (Slack closes it
            itself about 10 s after its `disconnect`).
        down_grace: `/readyz` stays ready this long after the last connection went down.
        retry: backoff between failed attempts (`attempts` is not used: Socket Mode retries for ever).
        close_timeout: how long closing a websocket waits for Slack's close frame.
    """

    ping_interval: float = 5.0
    connect_timeout: float = 10.0
    drain_seconds: float = 15.0
    down_grace: float = 15.0
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(base_delay=1.0, max_delay=30.0))
    close_timeout: float = 2.0


class SocketModeClient:
    """Our Socket Mode client on aiohttp (why not slack_sdk's: see `bot.socket_mode`).

    Args:
        app_token: the app-level token (`xapp-...`).
        api_url: SLACK_API_URL, where `apps.connections.open` is called.
        on_envelope: runs one envelope and acks it (`EnvelopeDispatcher`).
        timing: intervals and timeouts.
        clock: monotonic seconds (the readiness check compares with the same clock as `Health`).

    Attributes:
        on_connected: hook called with True when the first live connection is up, False when the last went.
        on_reconnect: hook called with the reason each time a connection is replaced.
        on_refused: hook called with the failure each time Slack refuses the app-level token before any
            connection of this process was greeted: the token never worked, a configuration error (`serve`
            exits 2). After a connection worked, a refusal is logged at ERROR and named by `/readyz`, and the
            client keeps trying (Slack's own trouble can look like a refusal).
    """

    def __init__(
        self,
        app_token: str,
        api_url: str,
        on_envelope: EnvelopeHandler,
        *,
        timing: SocketModeTiming | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timing = timing or SocketModeTiming()
        self.on_connected: Callable[[bool], None] | None = None
        self.on_reconnect: Callable[[str], None] | None = None
        self.on_refused: Callable[[ConnectFailed], None] | None = None
        self._ever_greeted = False
        self._app_token = app_token
        self._api_url = api_url
        self._on_envelope = on_envelope
        self._clock = clock
        self._numbers = itertools.count(1)
        self._live: list[Connection] = []  # greeted and open, oldest first
        self._open: set[Connection] = set()  # every socket not yet closed (live, draining, or before hello)
        self._tasks: set[asyncio.Task[Any]] = set()  # envelope handlers (each sends one ack)
        self._drains: set[asyncio.Task[Any]] = set()  # old connections waiting for Slack to close them
        self._session: aiohttp.ClientSession | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._prefetched: tuple[str, float] | None = None
        self._up = asyncio.Event()
        #: Monotonic time since when no connection is live (None while one is).
        self.down_since: float | None = clock()
        #: The kind of the last failed attempt (shown by /readyz while down).
        self.last_error: str | None = None
        self.reconnects = 0

    # --- state ---

    @property
    def app_token_looks_right(self) -> bool:
        """App-level tokens start with `xapp-` (a bot token pasted here is the usual mistake)."""
        return self._app_token.startswith("xapp-")

    @property
    def connected(self) -> bool:
        """A connection Slack greeted is open."""
        return bool(self._live)

    async def wait_connected(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - a helper for callers and tests
        """Wait until a connection is live (raises TimeoutError)."""
        await asyncio.wait_for(self._up.wait(), timeout)

    def readiness(self, now: float) -> tuple[bool, dict[str, Any]]:
        """The "socket_mode" check of `/readyz` (`Health.add_check`): not ready once down for `down_grace` s."""
        detail: dict[str, Any] = {"connected": self.connected, "reconnects": self.reconnects}
        if self.connected or self.down_since is None:
            detail["ok"] = True
            return True, detail
        down = max(now - self.down_since, 0.0)
        ready = down <= self.timing.down_grace
        detail["ok"] = ready
        detail["down_seconds"] = round(down, 1)
        if self.last_error:
            detail["last_error"] = self.last_error
        if not ready:
            why = f": {self.last_error}" if self.last_error else ""
            detail["reason"] = f"Socket Mode websocket down for {down:.1f} s (limit {self.timing.down_grace:g} s){why}"
        return ready, detail

    # --- lifecycle ---

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # trust_env: HTTPS_PROXY and friends apply, as they do for slack_sdk's clients.
            self._session = aiohttp.ClientSession(trust_env=True)
        return self._session

    async def check_app_token(self) -> None:
        """Ask for a URL once, now, so that a refused token is known at start-up; the first connection uses it.

        Raises:
            ConnectFailed: `refused` tells a refused token from trouble reaching Slack.
        """
        url = await open_url(self._http(), self._api_url, self._app_token, self.timing.connect_timeout)
        self._prefetched = (url, self._clock())

    async def start(self) -> None:
        """Start connecting in the background and return at once: the bot runs (its watcher too) while Slack is
        unreachable, and connects as soon as it can."""
        if self._run_task is None:
            self._run_task = asyncio.create_task(self._run(), name="socket-mode")

    async def close(self) -> None:
        """Stop reconnecting, close every connection, wait briefly for acks in flight."""
        if self._run_task is not None:
            self._run_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._run_task
            self._run_task = None
        if self._tasks:  # acks on their way (Bolt acks within 3 s)
            await asyncio.wait(list(self._tasks), timeout=self.timing.close_timeout)
        for task in [*self._tasks, *self._drains]:
            task.cancel()
        await asyncio.gather(*(c.close() for c in list(self._open)), return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- the loop ---

    async def _run(self) -> None:
        failures = 0  # failed attempts in a row
        flaps = 0  # connections in a row left right after they opened
        while True:
            try:
                conn = await self._connect()
            except ConnectFailed as exc:
                failures += 1
                delay = self.timing.retry.delay(failures, exc.retry_after)
                extra = {"error": exc.kind, "attempt": failures, "retry_in_seconds": round(delay, 2)}
                if exc.refused:  # an admin must act: /readyz names the variable, and so does the log or the exit
                    self.last_error = refusal(exc)
                    if not self._ever_greeted and self.on_refused is not None:
                        self.on_refused(exc)  # its owner says so (serve: the one line of its exit 2)
                    else:
                        logger.error("socket_mode.app_token_refused", extra={"variable": "SLACK_APP_TOKEN", **extra})
                else:
                    self.last_error = exc.kind
                    logger.warning("socket_mode.connect_failed", extra=extra)
                await asyncio.sleep(delay)
                continue
            except Exception as exc:  # a bug of ours must not leave the bot deaf for good
                failures += 1
                self.last_error = f"internal error ({type(exc).__name__})"
                # No traceback: aiohttp's messages name the URL, whose ticket opens the app's connection.
                logger.error("socket_mode.connect_crashed", extra={"error": type(exc).__name__, "attempt": failures})
                await asyncio.sleep(self.timing.retry.delay(failures))
                continue
            failures = 0  # Slack greeted it: the attempts that failed before are over, and so is their backoff
            await conn.replace.wait()
            reason = conn.reason
            self.reconnects += 1
            if self.on_reconnect is not None:
                self.on_reconnect(reason)
            logger.info("socket_mode.reconnecting", extra={"connection": conn.number, "reason": reason})
            if conn.open:  # Slack asked: keep reading it until Slack closes it, or until drain_seconds
                self._spawn(self._drain(conn), self._drains)
            if asyncio.get_running_loop().time() - conn.opened_at >= self.timing.ping_interval:
                flaps = 0  # it served a while: replace it at once
            else:
                # Left right after it opened: back off as after a failed attempt, or a link that keeps dropping
                # would be reopened in a tight loop (a drained connection still serves meanwhile).
                flaps += 1
                await asyncio.sleep(self.timing.retry.delay(flaps))

    async def _connect(self) -> Connection:
        url = self._take_prefetched() or await open_url(
            self._http(), self._api_url, self._app_token, self.timing.connect_timeout
        )
        number = next(self._numbers)
        conn: Connection | None = None
        try:
            async with asyncio.timeout(self.timing.connect_timeout):
                ws = await self._http().ws_connect(
                    url,
                    heartbeat=self.timing.ping_interval,
                    timeout=aiohttp.ClientWSTimeout(ws_close=self.timing.close_timeout),
                )
                conn = Connection(number, ws, self._on_message, self._on_closed)
                self._open.add(conn)
                greeted = await conn.greeted()
        except TimeoutError:
            await self._abandon(conn)
            raise ConnectFailed(f"websocket: no handshake and hello within {self.timing.connect_timeout:g} s") from None
        except aiohttp.WSServerHandshakeError as exc:
            raise ConnectFailed(f"websocket: HTTP {exc.status}") from None
        except (aiohttp.ClientError, OSError) as exc:  # the message names the URL and its ticket: keep the type
            raise ConnectFailed(f"websocket: network ({type(exc).__name__})") from None
        if not greeted:
            await self._abandon(conn)
            raise ConnectFailed("websocket: closed before hello")
        self._live.append(conn)
        self._ever_greeted = True
        self.last_error = None
        down = 0.0
        if self.down_since is not None:  # the first live connection after none
            down = self._clock() - self.down_since
            self.down_since = None
            self._up.set()
            if self.on_connected is not None:
                self.on_connected(True)
        logger.info("socket_mode.connected", extra={"connection": conn.number, "down_seconds": round(down, 2)})
        return conn

    def _take_prefetched(self) -> str | None:
        prefetched, self._prefetched = self._prefetched, None
        # A URL is good for a short while only: one from start-up's check is used right away or not at all.
        if prefetched is not None and self._clock() - prefetched[1] < self.timing.connect_timeout:
            return prefetched[0]
        return None

    async def _abandon(self, conn: Connection | None) -> None:
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), self.timing.close_timeout)

    async def _drain(self, conn: Connection) -> None:
        try:
            await asyncio.wait_for(conn.done.wait(), self.timing.drain_seconds)
        except TimeoutError:
            logger.info("socket_mode.drained", extra={"connection": conn.number})
            await conn.close()

    # --- messages ---

    def _on_message(self, conn: Connection, message: dict[str, Any]) -> None:
        if "envelope_id" not in message:
            logger.debug("socket_mode.message_ignored", extra={"connection": conn.number, "type": message.get("type")})
            return

        async def reply(ack: dict[str, Any]) -> None:
            await self._send_ack(conn, ack)

        self._spawn(self._handle(message, reply))

    async def _handle(self, message: dict[str, Any], reply: Reply) -> None:
        try:
            await self._on_envelope(message, reply)
        except Exception as exc:
            logger.error(
                "socket_mode.dispatch_failed",
                extra={"envelope_id": message.get("envelope_id"), "type": message.get("type")},
                exc_info=exc,
            )

    async def _send_ack(self, conn: Connection, ack: dict[str, Any]) -> None:
        """On the connection the envelope came by while it is open, else on the newest live one."""
        text = json.dumps(ack)
        for candidate in [conn, *reversed(self._live)]:
            if await candidate.send(text):
                return
        logger.warning("socket_mode.ack_lost", extra={"envelope_id": ack.get("envelope_id")})

    def _on_closed(self, conn: Connection) -> None:
        self._open.discard(conn)
        if conn in self._live:
            self._live.remove(conn)
            logger.info("socket_mode.connection_closed", extra={"connection": conn.number, "reason": conn.reason})
            if not self._live:
                self.down_since = self._clock()
                self._up.clear()
                if self.on_connected is not None:
                    self.on_connected(False)

    def _spawn(self, work: Awaitable[None], into: set[asyncio.Task[Any]] | None = None) -> None:
        tasks = self._tasks if into is None else into
        task = asyncio.ensure_future(work)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
