"""A fake Slack Web API on 127.0.0.1: real HTTP, so the bot's `AsyncWebClient` and Bolt's `respond()` talk to it
exactly as they talk to Slack.

Point the client at it with `AsyncWebClient(token=..., base_url=fake.url)` (or `SLACK_API_URL=fake.url`), and give
commands/actions a `response_url` from `fake.response_url()`. Every call is recorded (method, payload, time), tests
wait for calls with a timeout instead of sleeping, and failures can be scripted:

    async with FakeSlack() as fake:
        client = AsyncWebClient(token="xoxb-test", base_url=fake.url)
        fake.fail_next("chat.postMessage", 1, status=429, retry_after=1)   # HTTP 429 + Retry-After
        fake.fail_next("chat.postMessage", 1, error="channel_not_found")   # HTTP 200, ok: false
        fake.hold("chat.postMessage")    # calls take effect, their answers wait for fake.release(...)
        fake.hold("auth.test", effect=False)   # calls do nothing and hang: a Slack that never answers
        ...
        [call] = await fake.wait_for("chat.postMessage", count=1, timeout=5)
        call.payload["channel"], call.payload["blocks"]

Methods answered like Slack: auth.test, chat.postMessage / update / postEphemeral / delete / getPermalink,
views.publish / open / update, conversations.info / join / list / members / open, users.info, and
`POST /response-url/<id>` for response_url webhooks (recorded with method "response_url"). Like Slack, a
response_url takes at most 5 posts within 30 minutes; beyond that it answers 404 `used_url` / `expired_url`
(`expire_response_url(id)` ages one at once). Any other method answers `ok: true` so new calls are visible in
`calls` rather than failing obscurely.

Socket Mode too: `apps.connections.open` (app-level `xapp-` token) hands out a websocket URL on this server;
the connection is recorded as "socket_mode.connect", `await fake.socket_send("slash_commands", payload)` delivers
an envelope, and the client's acknowledgement arrives as a "socket_mode.ack" call with the envelope id.
Like Slack's, every URL carries a ticket that works for one handshake only (a failed one included). The
websocket side can misbehave on purpose:

    fake.fail_next("socket_mode.connect", 2, status=503)    # the next handshakes fail (their tickets are spent)
    conn = fake.socket_connections[-1]                       # open connections, oldest first
    await fake.socket_disconnect("refresh_requested", conn)  # Slack's "please reconnect"; conn stays open
    await fake.socket_send("slash_commands", payload, connection=conn)
    await fake.socket_close(conn)                            # Slack closes it (abrupt=True: no close frame)
    fake.socket_mute(conn)                                   # stops answering the client's pings

A Slack that accepts connections but never answers: `fake.hold("auth.test", "apps.connections.open",
effect=False)` makes those calls hang (recorded as failed, "held") until `fake.release()` or `stop()`.

Every envelope sent is recorded as "socket_mode.sent" (`ok=False` when its connection had closed under it:
delivered nowhere, as when Slack writes to a socket the client already left).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

#: The methods whose calls carry a message (what `on_message` sees).
MESSAGE_METHODS = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral", "response_url"})

RESPONSE_URL = "response_url"

#: Slack's limits on one response_url: 5 posts within 30 minutes of the interaction that brought it.
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL_SECONDS = 30 * 60


@dataclass
class Call:
    """One request the fake received.

    Attributes:
        method: the Web API method ("chat.postMessage") or "response_url".
        payload: JSON body, or form fields plus query parameters (JSON-looking form values decoded).
        at: `time.monotonic()` when it arrived.
        wall: `time.time()` when it arrived.
        ok: whether the fake answered with success (False for scripted failures).
        error: the scripted error ("ratelimited", "channel_not_found", "http_500"), if any.
        response: the JSON the fake answered with (for successful Web API calls).
        hook_id: the `<id>` of a response_url call.
        authorized: whether an `Authorization: Bearer xoxb-/xoxp-` header came with it (the token is not kept).
    """

    method: str
    payload: dict[str, Any]
    at: float
    wall: float
    ok: bool = True
    error: str | None = None
    response: dict[str, Any] = field(default_factory=dict)
    hook_id: str | None = None
    authorized: bool = False

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))

    @property
    def blocks(self) -> list[dict[str, Any]]:
        blocks = self.payload.get("blocks") or []
        return blocks if isinstance(blocks, list) else []


@dataclass
class _Failure:
    status: int
    error: str
    retry_after: float | None


MessageCallback = Callable[[Call], Awaitable[None] | None]


@dataclass(eq=False)
class SocketConnection:
    """One Socket Mode websocket the fake accepted (see `FakeSlack.socket_connections`).

    Attributes:
        number: 1 for the first connection of this fake, then 2, 3, ...
        opened_at: `time.monotonic()` of the handshake.
        muted: when True the fake no longer answers the client's pings (a link that went silent).
    """

    number: int
    ws: web.WebSocketResponse
    opened_at: float
    transport: asyncio.BaseTransport | None = None
    muted: bool = False

    @property
    def closed(self) -> bool:
        return self.ws.closed


class FakeSlack:
    """An in-process fake of Slack's Web API and response_url webhooks (aiohttp, 127.0.0.1, port 0 by default).

    Args:
        bot_user_id: what `auth.test` says the bot's user id is (mentions are `<@bot_user_id>`).
        team_id: the workspace id `auth.test` answers.
        token: if set, calls whose bearer token differs get `invalid_auth` (like Slack); None accepts any.
        app_token: if set, the only app-level token `apps.connections.open` accepts; None accepts any `xapp-`.
        on_message: optional callback (sync or async) for every message-carrying call (the demo prints them).
        port: port to bind (0 = any free port).
        latency: seconds every Web API answer takes after the call took effect (Slack's round trip; the
            benchmarks use it, tests leave it at 0).
    """

    def __init__(
        self,
        *,
        bot_user_id: str = "UDISBOT",
        bot_id: str = "BDISBOT",
        team_id: str = "T0FAKE",
        token: str | None = None,
        app_token: str | None = None,
        on_message: MessageCallback | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
    ) -> None:
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.team_id = team_id
        self.on_message = on_message
        self.latency = latency
        self._token = token
        self._app_token = app_token
        self._sockets: list[SocketConnection] = []
        self._tickets: set[str] = set()
        self._socket_numbers = itertools.count(1)
        self._host = host
        self._port = port
        self.calls: list[Call] = []
        #: Current messages by (channel, ts), updated by chat.update / chat.delete.
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._failures: dict[str, list[_Failure]] = {}
        #: Methods whose answers are held (see `hold`): the event that releases them, and whether calls take effect.
        self._held: dict[str, tuple[asyncio.Event, bool]] = {}
        #: response_url hook id -> (issued at, monotonic; posts accepted so far).
        self._hooks: dict[str, tuple[float, int]] = {}
        self._changed: asyncio.Condition | None = None
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # --- lifecycle ---

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._handle_api)
        app.router.add_get("/api/{method}", self._handle_api)
        app.router.add_post("/response-url/{hook_id}", self._handle_response_url)
        app.router.add_get("/socket-mode", self._handle_socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, backlog=1024)  # bursts: see bench/commands.py
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._changed = asyncio.Condition()
        return self

    async def stop(self) -> None:
        self.release()  # a held handler would hold the server's shutdown for a minute
        for conn in list(self._sockets):
            await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- addresses ---

    @property
    def base(self) -> str:
        if self.port is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://{self._host}:{self.port}"

    @property
    def url(self) -> str:
        """The Web API base URL (`SLACK_API_URL`), with the trailing slash the SDK expects."""
        return f"{self.base}/api/"

    def response_url(self, hook_id: str | None = None) -> str:
        """A response_url that records what is posted to it (5 posts within 30 minutes, like Slack's)."""
        hook_id = hook_id or uuid.uuid4().hex[:12]
        self._hooks.setdefault(hook_id, (time.monotonic(), 0))
        return f"{self.base}/response-url/{hook_id}"

    def expire_response_url(self, hook_id: str) -> None:
        """Age a response_url past Slack's 30 minutes: further posts get 404 `expired_url`."""
        _, uses = self._hooks.get(hook_id, (0.0, 0))
        self._hooks[hook_id] = (time.monotonic() - RESPONSE_URL_TTL_SECONDS - 1, uses)

    # --- scripting ---

    def fail_next(
        self,
        method: str,
        n: int = 1,
        *,
        status: int | None = None,
        retry_after: float | None = 1,
        error: str | None = None,
    ) -> None:
        """Make the next `n` calls of `method` fail.

        `status=429` answers HTTP 429 `ratelimited` with `Retry-After`; `error="..."` answers HTTP 200
        `{"ok": false, "error": ...}` like Slack's method errors; another `status` (500, 503) answers that status.
        """
        if status is None and error is None:
            status = 429
        if status is None:
            failure = _Failure(200, error or "unknown_error", None)
        elif status == 429:
            failure = _Failure(429, error or "ratelimited", retry_after)
        else:
            failure = _Failure(status, error or f"http_{status}", None)
        self._failures.setdefault(method, []).extend([failure] * n)

    def hold(self, *methods: str, effect: bool = True) -> None:
        """Hold the answers to these methods until `release()`: each call is recorded at once, its caller hears
        nothing meanwhile.

        Args:
            effect: True: the call takes effect (Slack accepted the message and the answer is on its way, e.g. to
                kill the bot in that window); released, it gets its real answer. False: the call does nothing
                (recorded as failed, "held": a Slack that accepts connections and never answers); released, it
                gets `ok: false`.
        """
        for method in methods:
            self._held.setdefault(method, (asyncio.Event(), effect))

    def release(self, *methods: str) -> None:
        """Answer the held calls of these methods (all held methods if none is named), and later calls at once."""
        for method in methods or list(self._held):
            gate, _ = self._held.pop(method, (None, True))
            if gate is not None:
                gate.set()

    # --- inspection ---

    def calls_to(self, method: str, *, ok: bool | None = None) -> list[Call]:
        """Calls of one method, in order (only successful ones with `ok=True`)."""
        return [c for c in self.calls if c.method == method and (ok is None or c.ok == ok)]

    def count(self, method: str | None = None) -> int:
        return len(self.calls) if method is None else len(self.calls_to(method))

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - a test helper's contract: wait_for(method, count, timeout)
        *,
        where: Callable[[Call], bool] | None = None,
        ok: bool | None = True,
    ) -> list[Call]:
        """Wait until at least `count` matching calls arrived; return them all. Raises AssertionError on timeout.

        Args:
            method: Web API method, or "response_url".
            count: how many matching calls to wait for.
            timeout: seconds before giving up.
            where: extra predicate on a call (e.g. `lambda c: c.payload["channel"] == "C1"`).
            ok: True (default) counts only successful calls, False only scripted failures, None both.
        """

        def matching() -> list[Call]:
            return [c for c in self.calls_to(method, ok=ok) if where is None or where(c)]

        cond = self._condition()
        try:
            async with cond:
                await asyncio.wait_for(cond.wait_for(lambda: len(matching()) >= count), timeout)
        except TimeoutError:
            seen = ", ".join(f"{c.method}{'' if c.ok else '(failed)'}" for c in self.calls) or "nothing"
            raise AssertionError(
                f"timed out after {timeout} s waiting for {count} x {method}; got {len(matching())}. Calls: {seen}"
            ) from None
        return matching()

    async def wait_quiet(self, period: float = 0.2, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until no call has arrived for `period` seconds (to assert that nothing more happens)."""
        deadline = time.monotonic() + timeout
        cond = self._condition()
        while time.monotonic() < deadline:
            before = len(self.calls)
            try:
                async with cond:
                    await asyncio.wait_for(cond.wait_for(functools.partial(self._more_than, before)), period)
            except TimeoutError:
                return
        raise AssertionError(f"Slack calls kept arriving for {timeout} s")

    def reset(self) -> None:
        """Forget recorded calls, messages and scripted failures."""
        self.calls.clear()
        self.messages.clear()
        self._failures.clear()
        self._hooks.clear()

    # --- handlers ---

    def _more_than(self, count: int) -> bool:
        return len(self.calls) > count

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _record(self, call: Call) -> None:
        self.calls.append(call)
        cond = self._condition()
        async with cond:
            cond.notify_all()
        if call.ok and call.method in MESSAGE_METHODS and self.on_message is not None:
            result = self.on_message(call)
            if inspect.isawaitable(result):
                await result

    def _next_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        return queue.pop(0) if queue else None

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    @staticmethod
    async def _payload(request: web.Request) -> dict[str, Any]:
        payload: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    payload.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, str) and value[:1] in "[{":
                        try:
                            payload[key] = json.loads(value)
                            continue
                        except ValueError:
                            pass
                    payload[key] = value if isinstance(value, str) else str(value)
        return payload

    @staticmethod
    def _failure_response(failure: _Failure) -> web.Response:
        if failure.status == 200:
            return web.json_response({"ok": False, "error": failure.error})
        headers = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = str(int(failure.retry_after) if failure.retry_after >= 1 else failure.retry_after)
        if failure.status == 429:
            return web.json_response({"ok": False, "error": failure.error}, status=429, headers=headers)
        return web.Response(status=failure.status, text=failure.error, headers=headers)

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        payload = await self._payload(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else payload.pop("token", "")
        call = Call(method, payload, time.monotonic(), time.time(), authorized=bool(token))
        gate, effect = self._held.get(method, (None, True))
        if gate is not None and not effect:
            call.ok, call.error = False, "held"
            await self._record(call)
            await gate.wait()
            return web.json_response({"ok": False, "error": "held"})
        failure = self._next_failure(method)
        if failure is not None:
            call.ok, call.error = False, failure.error
            await self._record(call)
            return self._failure_response(failure)
        if not token:
            answer: dict[str, Any] = {"ok": False, "error": "not_authed"}
        elif method == "apps.connections.open":
            answer = self._open_connection(token)
        elif token.startswith("xapp-"):
            answer = {"ok": False, "error": "not_allowed_token_type"}
        elif self._token is not None and token != self._token:
            answer = {"ok": False, "error": "invalid_auth"}
        else:
            answer = self._answer(method, payload)
        call.ok = bool(answer.get("ok"))
        call.error = answer.get("error")
        call.response = answer
        await self._record(call)
        await self._answer_delay(method)
        return web.json_response(answer)

    async def _answer_delay(self, method: str) -> None:
        """The round trip back to the caller: `latency`, and a hold on the method if a test set one."""
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        gate, _ = self._held.get(method, (None, True))
        if gate is not None:
            await gate.wait()

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        hook_id = request.match_info["hook_id"]
        try:
            payload = await request.json()
        except ValueError:
            payload = {"raw": await request.text()}
        call = Call(RESPONSE_URL, payload, time.monotonic(), time.time(), hook_id=hook_id)
        issued, uses = self._hooks.setdefault(hook_id, (call.at, 0))
        failure = self._next_failure(RESPONSE_URL)
        if failure is None and call.at - issued > RESPONSE_URL_TTL_SECONDS:
            failure = _Failure(404, "expired_url", None)
        elif failure is None and uses >= RESPONSE_URL_MAX_USES:
            failure = _Failure(404, "used_url", None)
        if failure is not None:
            call.ok, call.error = False, failure.error
            await self._record(call)
            return self._failure_response(failure)
        self._hooks[hook_id] = (issued, uses + 1)
        await self._record(call)
        return web.Response(text="ok")

    def _open_connection(self, token: str) -> dict[str, Any]:
        if not token.startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        if self._app_token is not None and token != self._app_token:
            return {"ok": False, "error": "invalid_auth"}
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return {"ok": True, "url": f"ws://{self._host}:{self.port}/socket-mode?ticket={ticket}&app_id=A0DISBOT"}

    # --- Socket Mode ---

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        fresh = ticket in self._tickets
        self._tickets.discard(ticket)  # one handshake per ticket, successful or not, like Slack's URLs
        call = Call("socket_mode.connect", {}, time.monotonic(), time.time())
        failure = self._next_failure("socket_mode.connect")
        if failure is None and not fresh:
            failure = _Failure(401, "invalid_ticket", None)
        if failure is not None:
            call.ok, call.error = False, failure.error
            await self._record(call)
            status = failure.status if failure.status != 200 else 400
            return web.Response(status=status, text=failure.error)
        # autoping off: the fake answers pings itself, so that a muted connection can stop answering them.
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        conn = SocketConnection(next(self._socket_numbers), ws, time.monotonic(), request.transport)
        self._sockets.append(conn)
        await ws.send_json(
            {"type": "hello", "num_connections": len(self._sockets), "connection_info": {"app_id": "A0DISBOT"}}
        )
        call.payload = {"connection": conn.number}
        await self._record(call)
        try:
            async for msg in ws:
                if msg.type == web.WSMsgType.PING:
                    if not conn.muted:
                        await ws.pong(msg.data)
                elif msg.type == web.WSMsgType.TEXT:
                    try:
                        payload = json.loads(msg.data)
                    except ValueError:
                        payload = {"raw": msg.data}
                    if isinstance(payload, dict):
                        payload.setdefault("connection", conn.number)
                    await self._record(Call("socket_mode.ack", payload, time.monotonic(), time.time()))
        finally:
            self._sockets.remove(conn)
        return ws

    @property
    def socket_connections(self) -> list[SocketConnection]:
        """The Socket Mode connections open now, oldest first."""
        return list(self._sockets)

    def _socket(self, connection: SocketConnection | None) -> SocketConnection:
        if connection is not None:
            return connection
        if not self._sockets:
            raise AssertionError("no Socket Mode connection is open")
        return self._sockets[-1]

    async def socket_send(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        accepts_response_payload: bool = True,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
        connection: SocketConnection | None = None,
    ) -> str:
        """Deliver a Socket Mode envelope ("slash_commands", "events_api", "interactive") to `connection`
        (default: the newest open one).

        Returns the envelope id; the client's ack comes back as a "socket_mode.ack" call carrying it. The send is
        recorded as "socket_mode.sent", failed when the connection had already closed.
        """
        conn = self._socket(connection)
        eid = envelope_id or uuid.uuid4().hex
        envelope: dict[str, Any] = {
            "envelope_id": eid,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if retry_attempt is not None:
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason or "timeout"
        call = Call("socket_mode.sent", {"envelope_id": eid, "connection": conn.number}, time.monotonic(), time.time())
        try:
            await conn.ws.send_json(envelope)
        except (ConnectionError, RuntimeError):
            call.ok, call.error = False, "connection_closed"
        await self._record(call)
        return eid

    async def socket_disconnect(
        self, reason: str = "refresh_requested", connection: SocketConnection | None = None
    ) -> None:
        """Send Slack's `{"type": "disconnect", "reason": ...}` on a connection (default: the newest); it stays open."""
        conn = self._socket(connection)
        await conn.ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-slack"}})

    async def socket_close(
        self, connection: SocketConnection | None = None, code: int = 1001, *, abrupt: bool = False
    ) -> float:
        """Close a connection from Slack's side (default: the newest); returns `time.monotonic()` of the close.

        `abrupt=True` drops the TCP connection without a close frame, as a load balancer or a network cut does.
        """
        conn = self._socket(connection)
        closed_at = time.monotonic()
        if abrupt and conn.transport is not None:
            conn.transport.close()
        else:
            await conn.ws.close(code=code)
        return closed_at

    def socket_mute(self, connection: SocketConnection | None = None) -> SocketConnection:
        """Stop answering the client's pings on a connection (default: the newest), as a link that went silent."""
        conn = self._socket(connection)
        conn.muted = True
        return conn

    def _answer(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        """What Slack would answer for a successful call (only the fields bots use)."""
        channel = str(p.get("channel", ""))
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://fake.slack.test/",
                "team": "Fake Workspace",
                "user": "dis-bot",
                "team_id": self.team_id,
                "user_id": self.bot_user_id,
                "bot_id": self.bot_id,
                "is_enterprise_install": False,
            }
        if method == "chat.postMessage":
            if not channel:
                return {"ok": False, "error": "channel_not_found"}
            if not p.get("text") and not p.get("blocks") and not p.get("attachments"):
                return {"ok": False, "error": "no_text"}
            ts = self._next_ts()
            message = {
                "type": "message",
                "user": self.bot_user_id,
                "bot_id": self.bot_id,
                "text": p.get("text", ""),
                "blocks": p.get("blocks", []),
                "ts": ts,
            }
            if p.get("thread_ts"):
                message["thread_ts"] = p["thread_ts"]
            if p.get("metadata"):
                message["metadata"] = p["metadata"]
            self.messages[(channel, ts)] = message
            return {"ok": True, "channel": channel, "ts": ts, "message": message}
        if method == "chat.update":
            ts = str(p.get("ts", ""))
            if (channel, ts) not in self.messages:
                return {"ok": False, "error": "message_not_found"}
            message = self.messages[(channel, ts)]
            message.update({k: p[k] for k in ("text", "blocks") if k in p})
            return {"ok": True, "channel": channel, "ts": ts, "text": message["text"], "message": message}
        if method == "chat.delete":
            ts = str(p.get("ts", ""))
            if self.messages.pop((channel, ts), None) is None:
                return {"ok": False, "error": "message_not_found"}
            return {"ok": True, "channel": channel, "ts": ts}
        if method == "chat.postEphemeral":
            if not p.get("user"):
                return {"ok": False, "error": "user_not_in_channel"}
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "chat.getPermalink":
            ts = str(p.get("message_ts", ""))
            return {"ok": True, "channel": channel, "permalink": f"https://fake.slack.test/archives/{channel}/p{ts}"}
        if method in ("views.publish", "views.open", "views.update"):
            view = p.get("view") or {}
            return {"ok": True, "view": {"id": "V" + uuid.uuid4().hex[:10].upper(), **view}}
        if method in ("conversations.info", "conversations.join", "conversations.open"):
            cid = channel or "D" + str(p.get("users", "U0")).split(",")[0][1:]
            return {"ok": True, "channel": {"id": cid, "name": cid.lower(), "is_member": True, "is_channel": True}}
        if method == "conversations.list":
            return {"ok": True, "channels": [], "response_metadata": {"next_cursor": ""}}
        if method == "conversations.members":
            return {"ok": True, "members": [self.bot_user_id], "response_metadata": {"next_cursor": ""}}
        if method == "users.info":
            uid = str(p.get("user", ""))
            return {"ok": True, "user": {"id": uid, "name": uid.lower(), "tz": "UTC", "is_bot": False}}
        return {"ok": True}
