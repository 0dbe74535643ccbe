"""`DisSimulator`: a real aiohttp server that answers like DIS, its API gateway and IAM, traps included.

What it reproduces (reference dis-api.md):
- not found is HTTP 400 with `{"errorCode": "DIS.4301"|"DIS.4354", "message": "... [name][request id]"}`;
- gateway errors are `{"error_code", "error_msg", "request_id"}` (401 APIG.0301/0307, 429 APIG.0308, 404 APIG.0101);
- IAM errors are `{"error": {"code", "message", "title"}}`; the token comes in the `X-Subject-Token` header;
- AK/SK signatures are verified for real (`aksk.py`), and an AK is locked after 5 consecutive failures;
- show-task partitions use `partitionId`; the DWS block is spelt `dws_destination_descripton`;
- `task_id` is only in the bodies, and start/stop take it, not the task name;
- stream descriptions page their partitions (`start_partitionId`, `limit_partitions`, `has_more_partitions`)
  and give `sequence_number_range` as the string `"[0 : 200]"`.

Data moves when a test says so (`produce`, `flow`, `stall`, `fail_partition`, `discard`; `flowing()` steps in
the background), or by the clock for `live` tasks and streams with a `rate` (the sample data).

Scripting methods may be called from any thread: state is guarded by one `threading.Lock`, held only
for short, await-free sections. `churn()` must be called on the server's loop (it creates a task).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from aiohttp import web

from bot.dis.simulator import aksk
from bot.dis.simulator.world import SimPartition, SimStream, SimTask, World

logger = logging.getLogger(__name__)

TASK_QUOTA = 5
_JSON = "application/json"
_REQUEST_ID = web.RequestKey("request_id", str)
_BAD_TOKEN = "Incorrect IAM authentication information: decrypt token fail"


class _Reject(Exception):
    """Abort a handler with this HTTP answer (caught by the middleware)."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _gateway(code: str, message: str, request_id: str) -> dict[str, str]:
    return {"error_code": code, "error_msg": message, "request_id": request_id}


def _dis(code: str, message: str) -> dict[str, str]:
    return {"errorCode": code, "message": message}


def _iam_error(status: int, message: str, title: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "title": title}}


def _hex_id(*parts: str) -> str:
    """A 32-hex id like IAM's user/domain ids, stable for the same parts."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


@dataclass
class _Failure:
    remaining: int
    status: int
    body: Any
    path: str | None
    headers: dict[str, str] | None
    exact: bool = False

    def matches(self, path: str) -> bool:
        if self.path is None:
            return True
        return path == self.path if self.exact else self.path in path


@dataclass
class _IssuedToken:
    project_id: str
    expires_at: float
    revoked: bool = False


@dataclass
class _AkState:
    failures: int = 0
    locked_until: float = 0.0


class DisSimulator:
    """A DIS + IAM endpoint on 127.0.0.1 for tests, benchmarks and the offline demo.

    Args:
        project_id: the only project ID the paths accept (others get 400 DIS.4117).
        token: a static `X-Auth-Token` that is always accepted (None: only IAM-issued tokens).
        ak, sk: the one AK/SK pair accepted for `SDK-HMAC-SHA256` signatures.
        security_token: when set, AK/SK requests must carry it as `X-Security-Token`.
        iam_users: `{(domain_name, user_name): password}` accepted by `POST /v3/auth/tokens`.
        iam_token_ttl: lifetime of issued tokens in seconds (real IAM: 24 h).
        project_name: the project's name (real IAM: the region id), accepted in the token scope.
    """

    def __init__(
        self,
        project_id: str = "0123456789abcdef0123456789abcdef",
        token: str | None = "sim-token",
        ak: str | None = "SIMAKEXAMPLE",
        sk: str | None = "sim-secret-key",
        *,
        security_token: str | None = None,
        iam_users: dict[tuple[str, str], str] | None = None,
        iam_token_ttl: float = 86400.0,
        project_name: str = "cn-north-4",
    ) -> None:
        self.project_id = project_id
        self.project_name = project_name
        self.token = token
        self.ak = ak
        self.sk = sk
        self.security_token = security_token
        self.iam_users = dict(iam_users or {})
        self.iam_token_ttl = iam_token_ttl
        #: Seconds added to every response (an `asyncio.sleep`, so requests overlap).
        self.latency = 0.0
        #: When > 0, `start` goes through STARTING for this many seconds before RUNNING.
        self.start_delay = 0.0
        self.ak_max_failures = 5
        self.ak_lock_seconds = 300.0
        #: The gateway's clock for token expiry, X-Sdk-Date skew and AK locks; tests may replace it.
        self.clock: Callable[[], float] = time.time
        #: "Now" for the data (transfer times, live progress); separate from `clock` so that a test can move the
        #: data's time without tripping the gateway's X-Sdk-Date skew check.
        self.data_clock: Callable[[], float] = time.time
        #: When set, a stream description holds at most this many partitions per page, whatever was asked.
        self.partition_page_cap: int | None = None
        self.counts: Counter[str] = Counter()
        self.url = ""
        self._lock = threading.Lock()
        self._world = World(project_id)
        self._world.clock = lambda: self.data_clock()
        self._failures: list[_Failure] = []
        self._rewrites: list[tuple[str, bool, Callable[[Any], Any]]] = []
        self._delays: list[_Failure] = []
        #: Requests being answered now, and the most at once since the last `reset_counts()`.
        self.in_flight = 0
        self.max_in_flight = 0
        self._tokens: dict[str, _IssuedToken] = {}
        self._tokens_issued = 0
        self._ak_state: dict[str, _AkState] = {}
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._background: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ scripting: data

    def add_stream(
        self,
        name: str,
        tasks: list[SimTask] | tuple[SimTask, ...] = (),
        *,
        partitions: int = 1,
        create_time: int | None = None,
        status: str = "RUNNING",
        stream_type: str = "COMMON",
        data_type: str = "BLOB",
        retention_period: int = 24,
        rate: float = 0.0,
    ) -> None:
        """Add a stream (1+ partitions) with its dump tasks; each task gets a 19-char `task_id`.

        Args:
            retention_period: hours DIS keeps a record (24 by default).
            rate: records per second arriving in each partition by the clock (0: only `produce`).
        """
        with self._lock:
            stream = self._world.add_stream(
                name,
                list(tasks),
                partitions=partitions,
                create_time=create_time,
                status=status,
                stream_type=stream_type,
                data_type=data_type,
                retention_period=retention_period,
            )
            if rate:
                stream.set_rate(rate, self.data_clock())

    def remove_stream(self, name: str) -> None:
        with self._lock:
            self._world.remove_stream(name)

    def add_task(self, stream: str, task: SimTask) -> SimTask:
        with self._lock:
            return self._world.add_task(stream, task)

    def remove_task(self, stream: str, task_name: str) -> None:
        with self._lock:
            self._world.remove_task(stream, task_name)

    def set_state(self, stream: str, task_name: str, state: str) -> None:
        """Set a task's state; any string is allowed (unknown states like "FROZEN" included)."""
        with self._lock:
            self._world.task(stream, task_name).change_state(state, self.data_clock())

    def set_partition(self, stream: str, task_name: str, index: int, **fields: Any) -> None:
        """Change one partition of a task (`state`, `discard`, `last_transfer_offset`, `last_transfer_timestamp`)."""
        with self._lock:
            partition = self._world.task(stream, task_name).partitions[index]
            for key, value in fields.items():
                if not hasattr(partition, key):
                    raise AttributeError(f"SimPartition has no field {key!r}")
                setattr(partition, key, value)

    # ------------------------------------------------------------------ scripting: moving data

    def produce(self, stream: str, records: int, partition: int | None = None) -> None:
        """`records` arrive in partition `partition`, or spread over every partition (None)."""
        with self._lock:
            self._world.stream(stream).produce(records, partition)

    def set_rate(self, stream: str, records_per_second: float) -> None:
        """Records arrive in each partition of `stream` by the clock from now on (0 stops them)."""
        with self._lock:
            self._world.stream(stream).set_rate(records_per_second, self.data_clock())

    def flow(self, at: float | None = None) -> int:
        """One transfer step for every task: each healthy partition of a RUNNING, not stalled task sends what its
        stream partition holds, stamped `at` (epoch seconds; default: now). Returns how many tasks moved data."""
        now = self.data_clock() if at is None else at
        with self._lock:
            return sum(
                task.flow(stream, now) for stream in self._world.streams.values() for task in stream.tasks.values()
            )

    def flowing(self, interval: float = 1.0) -> asyncio.Task[None]:
        """`flow()` every `interval` seconds in the background; call on the server's loop (`stop()` ends it)."""
        return self._background_task(self._flow_loop(interval))

    async def _flow_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.flow()

    def stall(self, stream: str, task_name: str, on: bool = True, *, ago: float | None = None) -> None:
        """The task stays RUNNING but moves nothing (`on=False`: it moves again from the next step).

        Args:
            ago: also say its last transfer was this many seconds ago ("stalled for 47 minutes": `ago=47 * 60`).
        """
        now = self.data_clock()
        with self._lock:
            task = self._world.task(stream, task_name)
            task.freeze(now)
            task.stalled = on
            task.resume(now)
            if ago is not None:
                task.set_last_transfer(int((now - ago) * 1000))

    def set_last_transfer(self, stream: str, task_name: str, ago: float) -> None:
        """Say the task and each partition last sent `ago` seconds ago (an idle task, or a stall's start)."""
        now = self.data_clock()
        with self._lock:
            task = self._world.task(stream, task_name)
            task.freeze(now)
            task.set_last_transfer(int((now - ago) * 1000))
            task.resume(now)

    def fail_partition(self, stream: str, task_name: str, index: int, state: str | None = "ERROR") -> None:
        """Partition `index` of the task goes to `state` and stops transferring while the task stays as it is;
        `state=None` heals it (it follows the task again and catches up)."""
        now = self.data_clock()
        with self._lock:
            task = self._world.task(stream, task_name)
            partition = task.partitions[index]
            task.freeze_partition(partition, now)
            partition.state = state

    def discard(self, stream: str, task_name: str, records: int, partition: int | None = None) -> None:
        """The task drops `records` (DIS's running `discard` count grows), on one partition or spread over all."""
        with self._lock:
            parts = self._world.task(stream, task_name).partitions
            if partition is not None:
                parts[partition].discard += records
                return
            share, rest = divmod(records, len(parts))
            for i, p in enumerate(parts):
                p.discard += share + (1 if i < rest else 0)

    def task(self, stream: str, task_name: str) -> SimTask:
        """The live task object (read its `task_id`, `state`; change it through the methods above)."""
        with self._lock:
            return self._world.task(stream, task_name)

    def stream(self, name: str) -> SimStream:
        """The live stream object (read its `ends`, `rate`, `end(index, now)`; change it through the methods)."""
        with self._lock:
            return self._world.stream(name)

    def tasks(self, stream: str) -> list[SimTask]:
        """The live task objects of a stream, in creation order."""
        with self._lock:
            return list(self._world.stream(stream).tasks.values())

    def stream_names(self) -> list[str]:
        with self._lock:
            return list(self._world.names)

    # ------------------------------------------------------------------ scripting: behaviour

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        body: Any = None,
        path: str | None = None,
        headers: dict[str, str] | None = None,
        *,
        exact: bool = False,
    ) -> None:
        """Make the next `n` requests (whose path contains `path`, if given) fail with `status`.

        `body=None` picks the real shape for the status (429: APIG.0308 plus `Retry-After`; 500/503:
        DIS.5000; 502/504: gateway APIG.0201). A `str`/`bytes` body is sent as-is (garbled JSON). A 200 with a
        body answers as if it were DIS (`status=200, body={"tasks": None}`: a "success" with no task list).
        `exact=True` matches only that very path (`/v2/{project}/streams`, the streams list, is contained in
        every task path).
        """
        with self._lock:
            self._failures.append(_Failure(n, status, body, path, headers, exact))

    def clear_scripted(self) -> None:
        """Forget every `fail_next`, `delay_next` and `rewrite` not used up yet."""
        with self._lock:
            self._failures.clear()
            self._delays.clear()
            self._rewrites.clear()

    def delay_next(self, n: int, seconds: float, path: str | None = None, *, exact: bool = False) -> None:
        """Answer the next `n` requests (whose path contains `path`, if given) as usual, `seconds` late: a read
        that times out on the client's side for some paths only (`latency` slows every request)."""
        with self._lock:
            self._delays.append(_Failure(n, 0, seconds, path, None, exact))

    def rewrite(self, path: str, edit: Callable[[Any], Any] | None, *, exact: bool = False) -> None:
        """Pass every good JSON answer for `path` (contained in the request path, or equal with `exact`) through
        `edit` (the parsed body in, the body to send out): a real answer with one quirk. `None` removes it."""
        with self._lock:
            self._rewrites = [r for r in self._rewrites if (r[0], r[1]) != (path, exact)]
            if edit is not None:
                self._rewrites.append((path, exact, edit))

    def expire_tokens(self) -> None:
        """Every token issued so far becomes stale (DIS answers 401 APIG.0307); later ones are fine."""
        with self._lock:
            for issued in self._tokens.values():
                issued.revoked = True

    @property
    def tokens_issued(self) -> int:
        """How many IAM tokens `POST /v3/auth/tokens` has issued."""
        with self._lock:
            return self._tokens_issued

    def count(self, path: str | None = None, method: str | None = None) -> int:
        """Requests seen (failed ones included), optionally only those whose path contains `path`."""
        with self._lock:
            total = 0
            for key, n in self.counts.items():
                m, _, p = key.partition(" ")
                if (method is None or m == method.upper()) and (path is None or path in p):
                    total += n
            return total

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.max_in_flight = self.in_flight

    def churn(self, interval: float = 10.0, rng: random.Random | None = None) -> asyncio.Task[None]:
        """Demo mode: every ~`interval` s a random RUNNING task fails (ERROR/ABNORMAL) or a failed one recovers.

        Call on the server's loop; the task is cancelled by `stop()`.
        """
        return self._background_task(self._churn_loop(interval, rng or random.Random()))

    def _background_task(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _churn_loop(self, interval: float, rng: random.Random) -> None:
        broken: list[tuple[str, str]] = []
        while True:
            await asyncio.sleep(interval * (0.5 + rng.random()))
            with self._lock:
                now = self.data_clock()
                broken = [
                    (s, t)
                    for s, t in broken
                    if s in self._world.streams and t in self._world.streams[s].tasks
                    if self._world.task(s, t).state in ("ERROR", "ABNORMAL")
                ]
                running = [
                    (s.name, t.task_name)
                    for s in self._world.streams.values()
                    for t in s.tasks.values()
                    if t.state == "RUNNING"
                ]
                if broken and (not running or rng.random() < 0.5):
                    stream, name = broken.pop(rng.randrange(len(broken)))
                    self._world.task(stream, name).change_state("RUNNING", now)
                    event = "RUNNING"
                elif running:
                    stream, name = running[rng.randrange(len(running))]
                    event = "ERROR" if rng.random() < 0.7 else "ABNORMAL"
                    task = self._world.task(stream, name)
                    task.change_state(event, now)
                    for p in task.partitions:
                        p.discard += rng.randrange(0, 500)
                    broken.append((stream, name))
                else:
                    continue
            logger.info("simulator.churn", extra={"stream": stream, "task": name, "state": event})

    # ------------------------------------------------------------------ lifecycle

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=12 * 1024 * 1024)
        base = "/v2/{project_id}/streams"
        app.router.add_get(base, self._list_streams)
        app.router.add_get(base + "/{stream_name}", self._describe_stream)
        app.router.add_get(base + "/{stream_name}/transfer-tasks", self._list_tasks)
        app.router.add_post(base + "/{stream_name}/transfer-tasks/action", self._action)
        app.router.add_get(base + "/{stream_name}/transfer-tasks/{task_name}", self._show_task)
        app.router.add_post("/v3/auth/tokens", self._issue_token)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on `host:port` (0: a free port) and return the base URL (also in `self.url`)."""
        self._loop = asyncio.get_running_loop()
        runner = web.AppRunner(self._app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound = runner.addresses[0]
        self.url = f"http://{bound[0]}:{bound[1]}"
        logger.info("simulator.started", extra={"url": self.url})
        return self.url

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DisSimulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @contextlib.contextmanager
    def running_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve from a background thread with its own loop (sync and subprocess tests); yields the URL."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start(host, port))
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop())
                loop.close()

        thread = threading.Thread(target=run, name="dis-simulator", daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError("DIS simulator did not start within 10 s")
        if errors:
            raise errors[0]
        try:
            yield self.url
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    # ------------------------------------------------------------------ plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        request_id = uuid.uuid4().hex
        request[_REQUEST_ID] = request_id
        with self._lock:
            self.counts[f"{request.method} {request.path}"] += 1
            failure = self._take_failure(request.path)
            delay = self._take(self._delays, request.path)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            response = await self._answer(request, handler, failure, delay, request_id)
        finally:
            with self._lock:
                self.in_flight -= 1
        response.headers["X-Request-Id"] = request_id
        return response

    async def _answer(
        self,
        request: web.Request,
        handler: Any,
        failure: _Failure | None,
        delay: _Failure | None,
        request_id: str,
    ) -> web.StreamResponse:
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if delay is not None:
            await asyncio.sleep(float(delay.body))
        if failure is not None:
            response: web.StreamResponse = self._failure_response(failure, request_id)
        else:
            try:
                response = self._rewritten(request.path, await handler(request))
            except _Reject as reject:
                response = self._json(reject.status, reject.body, reject.headers)
            except web.HTTPException as exc:
                if exc.status in (404, 405):
                    body = _gateway(
                        "APIG.0101",
                        "The API does not exist or has not been published in the environment",
                        request_id,
                    )
                    response = self._json(404, body)
                else:
                    response = self._json(exc.status, _gateway("APIG.0201", exc.reason, request_id))
        return response

    def _rewritten(self, path: str, response: web.StreamResponse) -> web.StreamResponse:
        with self._lock:
            edits = [edit for p, exact, edit in self._rewrites if (path == p if exact else p in path)]
        if not edits or not isinstance(response, web.Response) or response.status != 200 or not response.body:
            return response
        assert isinstance(response.body, bytes)
        body = json.loads(response.body)
        for edit in edits:
            body = edit(body)
        return self._json(
            response.status,
            body,
            {k: v for k, v in response.headers.items() if k.lower() not in ("content-type", "content-length")},
        )

    def _take_failure(self, path: str) -> _Failure | None:
        return self._take(self._failures, path)

    @staticmethod
    def _take(scripted: list[_Failure], path: str) -> _Failure | None:
        for failure in scripted:
            if failure.matches(path):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    scripted.remove(failure)
                return failure
        return None

    def _failure_response(self, failure: _Failure, request_id: str) -> web.Response:
        status, body = failure.status, failure.body
        headers = {}
        if body is None:
            if status == 429:
                body = _gateway(
                    "APIG.0308",
                    "The throttling threshold has been reached: policy user over ratelimit,limit:200,time:1 second",
                    request_id,
                )
                headers["Retry-After"] = "1"
            elif status == 401:
                body = _gateway("APIG.0301", _BAD_TOKEN, request_id)
            elif status == 403:
                body = _dis("DIS.4116", f"Invalid RBAC. [{request_id}]")
            elif status == 404:
                body = _gateway("APIG.0101", "The API does not exist or has not been published", request_id)
            elif status in (502, 504):
                reason = "Backend unavailable" if status == 502 else "Backend timeout"
                body = _gateway("APIG.0201", reason, request_id)
            elif status >= 500:
                body = _dis("DIS.5000", f"System error. [{request_id}]")
            elif status >= 400:
                body = _dis("DIS.4200", f"Invalid request. [{request_id}]")
            else:
                body = {}
        headers.update(failure.headers or {})
        return self._json(status, body, headers)

    @staticmethod
    def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
        if isinstance(body, bytes):
            raw = body
        elif isinstance(body, str):
            raw = body.encode()
        else:
            raw = json.dumps(body, separators=(",", ":")).encode()
        return web.Response(status=status, body=raw, content_type=_JSON, charset="utf-8", headers=headers)

    # ------------------------------------------------------------------ auth

    async def _authorize(self, request: web.Request) -> None:
        """Gateway auth (token or AK/SK), then DIS's project check. Raises `_Reject`."""
        rid = request[_REQUEST_ID]
        token = request.headers.get("X-Auth-Token")
        if token is not None:
            self._check_token(token, rid)
        elif "Authorization" in request.headers:
            await self._check_aksk(request, rid)
        else:
            raise _Reject(
                401, _gateway("APIG.0301", "Incorrect IAM authentication information: x-auth-token not found", rid)
            )
        if request.match_info["project_id"] != self.project_id:
            raise _Reject(400, _dis("DIS.4117", f"Invalid project id. [{rid}]"))

    def _check_token(self, token: str, rid: str) -> None:
        if self.token is not None and hmac.compare_digest(token.encode(), self.token.encode()):
            return
        with self._lock:
            issued = self._tokens.get(token)
        if issued is None:
            raise _Reject(401, _gateway("APIG.0301", _BAD_TOKEN, rid))
        if issued.revoked:
            raise _Reject(401, _gateway("APIG.0307", "The token must be updated.", rid))
        if self.clock() >= issued.expires_at:
            message = f"Incorrect IAM authentication information: token expires, expires_at: {_iso(issued.expires_at)}"
            raise _Reject(401, _gateway("APIG.0301", message, rid))
        if issued.project_id != self.project_id:
            raise _Reject(400, _dis("DIS.4117", f"Invalid project id. [{rid}]"))

    async def _check_aksk(self, request: web.Request, rid: str) -> None:
        def reject(message: str) -> _Reject:
            return _Reject(401, _gateway("APIG.0301", f"Incorrect IAM authentication information: {message}", rid))

        parsed = aksk.parse_authorization(request.headers["Authorization"])
        if parsed is None:
            raise reject("verify aksk signature fail")
        if self.ak is None or self.sk is None or parsed.access_key != self.ak:
            raise reject("Get secretKey failed,ak:******,err:ak not exist")
        now = self.clock()
        with self._lock:
            state = self._ak_state.setdefault(parsed.access_key, _AkState())
            if state.locked_until > now:
                raise reject("AK access failed to reach the limit,forbidden.")
        body = await request.read()
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            headers.setdefault(name.lower(), value)
        raw_path, _, raw_query = request.raw_path.partition("?")
        try:
            aksk.verify(
                secret_key=self.sk,
                auth=parsed,
                method=request.method,
                raw_path=raw_path,
                raw_query=raw_query,
                headers=headers,
                body=body,
                now=now,
            )
        except aksk.SignatureMismatch as exc:
            with self._lock:
                state.failures += 1
                if state.failures >= self.ak_max_failures:
                    state.failures = 0
                    state.locked_until = now + self.ak_lock_seconds
            logger.info("simulator.aksk_rejected", extra={"reason": str(exc), "request_id": rid})
            raise reject("verify aksk signature fail") from None
        with self._lock:
            state.failures = 0
        if self.security_token is not None:
            sent = request.headers.get("X-Security-Token", "")
            if not hmac.compare_digest(sent.encode(), self.security_token.encode()):
                raise reject("verify security token fail")

    # ------------------------------------------------------------------ DIS handlers

    def _stream_or_reject(self, name: str, rid: str) -> SimStream:
        stream = self._world.streams.get(name)
        if stream is None:
            raise _Reject(400, _dis("DIS.4301", f"Stream does not exist. [{name}][{rid}]"))
        return stream

    async def _list_streams(self, request: web.Request) -> web.Response:
        await self._authorize(request)
        rid = request[_REQUEST_ID]
        raw_limit = request.query.get("limit", "10")
        try:
            limit = int(raw_limit)
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            raise _Reject(400, _dis("DIS.4200", f"Invalid request. limit must be 1-100. [{rid}]"))
        start = request.query.get("start_stream_name") or None
        with self._lock:
            streams, more = self._world.page(start, limit)
            body = {
                "total_number": len(self._world.names),
                "stream_names": [s.name for s in streams],
                "has_more_streams": more,
                "stream_info_list": [s.info() for s in streams],
            }
        return self._json(200, body)

    async def _describe_stream(self, request: web.Request) -> web.Response:
        await self._authorize(request)
        rid = request[_REQUEST_ID]
        try:
            limit = int(request.query.get("limit_partitions", "100"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            raise _Reject(400, _dis("DIS.4200", f"Invalid request. limit_partitions must be 1-1000. [{rid}]"))
        if self.partition_page_cap is not None:
            limit = min(limit, self.partition_page_cap)
        start = request.query.get("start_partitionId") or None
        with self._lock:
            stream = self._stream_or_reject(request.match_info["stream_name"], rid)
            body = stream.description(self.data_clock(), start, limit)
        return self._json(200, body)

    async def _list_tasks(self, request: web.Request) -> web.Response:
        await self._authorize(request)
        now = self.data_clock()
        with self._lock:
            stream = self._stream_or_reject(request.match_info["stream_name"], request[_REQUEST_ID])
            tasks = [t.summary(now) for t in stream.tasks.values()]
        return self._json(200, {"total_number": len(tasks), "quota": TASK_QUOTA, "tasks": tasks})

    async def _show_task(self, request: web.Request) -> web.Response:
        await self._authorize(request)
        rid = request[_REQUEST_ID]
        name = request.match_info["task_name"]
        with self._lock:
            stream = self._stream_or_reject(request.match_info["stream_name"], rid)
            task = stream.tasks.get(name)
            if task is None:
                raise _Reject(400, _dis("DIS.4354", f"The transfer task does not exist. [{name}][{rid}]"))
            body = task.detail(stream, self.data_clock())
        return self._json(200, body)

    async def _action(self, request: web.Request) -> web.Response:
        await self._authorize(request)
        rid = request[_REQUEST_ID]
        stream_name = request.match_info["stream_name"]
        with self._lock:
            self._stream_or_reject(stream_name, rid)
        raw = await request.read()
        if not raw.strip():
            raise _Reject(400, _dis("DIS.4202", f"Empty request. [{rid}]"))
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise _Reject(400, _dis("DIS.4300", f"Request body error. [{rid}]")) from None
        action = payload.get("action") if isinstance(payload, dict) else None
        items = payload.get("tasks") if isinstance(payload, dict) else None
        if action not in ("start", "stop") or not isinstance(items, list) or not items:
            raise _Reject(400, _dis("DIS.4200", f"Invalid request. [{rid}]"))
        ids = [
            item["id"] for item in items if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]
        ]
        if len(ids) != len(items):
            raise _Reject(400, _dis("DIS.4200", f"Invalid request. [{rid}]"))
        now = self.data_clock()
        with self._lock:
            stream = self._stream_or_reject(stream_name, rid)
            for task_id in ids:
                if task_id not in stream.by_id:
                    raise _Reject(400, _dis("DIS.4354", f"The transfer task does not exist. [{task_id}][{rid}]"))
            for task_id in ids:
                task = stream.by_id[task_id]
                if action == "stop":
                    task.change_state("PAUSED", now)
                elif self.start_delay > 0:
                    task.change_state("STARTING", now)
                    asyncio.get_running_loop().call_later(self.start_delay, self._finish_start, stream_name, task_id)
                else:
                    task.change_state("RUNNING", now)
        logger.info("simulator.action", extra={"stream": stream_name, "action": action, "tasks": len(ids)})
        return web.Response(status=200)

    def _finish_start(self, stream_name: str, task_id: str) -> None:
        with self._lock:
            stream = self._world.streams.get(stream_name)
            task = stream.by_id.get(task_id) if stream else None
            if task is not None and task.state == "STARTING":
                task.change_state("RUNNING", self.data_clock())

    # ------------------------------------------------------------------ IAM

    async def _issue_token(self, request: web.Request) -> web.Response:
        try:
            payload = json.loads(await request.read())
            auth = payload["auth"]
            user = auth["identity"]["password"]["user"]
            methods = auth["identity"]["methods"]
            domain, name, password = user["domain"]["name"], user["name"], user["password"]
            project = auth["scope"]["project"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise _Reject(400, _iam_error(400, "The request body is invalid.", "Bad Request")) from None
        if "password" not in methods or not isinstance(project, dict):
            raise _Reject(400, _iam_error(400, "The request body is invalid.", "Bad Request"))
        expected = self.iam_users.get((domain, name))
        if expected is None or not hmac.compare_digest(str(password).encode(), expected.encode()):
            raise _Reject(401, _iam_error(401, "The username or password is wrong.", "Unauthorized"))
        if project.get("id") not in (None, self.project_id) or project.get("name") not in (None, self.project_name):
            raise _Reject(400, _iam_error(400, "The project does not exist.", "Bad Request"))
        if project.get("id") is None and project.get("name") is None:
            raise _Reject(400, _iam_error(400, "The request body is invalid.", "Bad Request"))
        now = time.time()
        token = "MIIT" + secrets.token_urlsafe(256)
        expires = now + self.iam_token_ttl
        with self._lock:
            self._tokens[token] = _IssuedToken(self.project_id, expires)
            self._tokens_issued += 1
        domain_id = _hex_id("domain", domain)
        body = {
            "token": {
                "expires_at": _iso(expires),
                "issued_at": _iso(now),
                "methods": ["password"],
                "project": {
                    "id": self.project_id,
                    "name": self.project_name,
                    "domain": {"id": domain_id, "name": domain},
                },
                "roles": [{"id": "0", "name": "te_admin"}],
                "user": {
                    "id": _hex_id("user", domain, name),
                    "name": name,
                    "domain": {"id": domain_id, "name": domain},
                    "password_expires_at": "",
                },
                "catalog": [],
            }
        }
        logger.info("simulator.token_issued", extra={"user": name})
        return self._json(201, body, {"X-Subject-Token": token})


__all__ = ["DisSimulator", "SimPartition", "SimTask"]
