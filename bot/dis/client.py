"""The asyncio DIS client: dump-task and stream APIs over one pooled httpx client, with real auth.

What it guarantees callers:
- Names are checked before any request (`InvalidName`, nothing sent); path segments are percent-encoded.
- Every failure is one of `bot.errors` with a short human message that never contains a secret.
- A 2xx whose body is not JSON or holds no usable task/stream list is `Garbled`, never an empty result.
- Reads (GET) are retried on `Throttled`/`Unavailable` (`Garbled` included) with capped exponential backoff
  and full jitter, waiting at least the server's Retry-After. Start/stop (POST) are retried only when the
  connection failed before anything was sent. Auth failures are never retried, except one renewal of an IAM
  password token.

Hooks for metrics (set by the caller, default None):
    on_request(endpoint, status, seconds)   once per HTTP attempt; status is the HTTP status or
                                            "timeout" / "connect_error" / "transport_error" / "auth_error"
    on_retry(endpoint, reason)              before each retry; reason is the error kind or "auth_renewed"
    on_secret(value)                        each IAM token obtained, for the log redaction filter
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx
from httpx_aiohttp import HttpxAiohttpClient
from pydantic import ValidationError

from bot.config import Settings
from bot.dis.auth import DisAuth, IamPasswordAuth, build_auth
from bot.dis.lag import partition_key
from bot.dis.models import StreamDetail, StreamInfo, StreamPartition, TaskDetail, TaskList
from bot.dis.names import validate_name
from bot.dis.responses import (
    NOT_SENT,
    ErrorBody,
    TransportKind,
    clean,
    parse_error_body,
    redact,
    transport_kind,
    transport_reason,
    transport_status,
)
from bot.dis.retry import RetryPolicy, parse_retry_after
from bot.errors import (
    AuthError,
    DisError,
    Garbled,
    InvalidName,
    NotFound,
    RequestRejected,
    Throttled,
    Unavailable,
)

__all__ = ["DisClient", "RetryPolicy"]

logger = logging.getLogger("bot.dis")

T = TypeVar("T")

#: Page size of list_streams (DIS allows 1-100).
STREAM_PAGE = 100
#: Safety stop for a server that keeps saying has_more_streams.
MAX_STREAM_PAGES = 1000
#: Partitions asked for per page of describe_stream (DIS allows 1-1000, default 100): one call for nearly every
#: stream. A server may still answer fewer; `has_more_partitions` is what we follow.
PARTITION_PAGE = 1000
#: Safety stop for a server that keeps saying has_more_partitions.
MAX_PARTITION_PAGES = 100
_TASK_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")


@dataclass
class _Call:
    """One logical API call (possibly several HTTP attempts)."""

    endpoint: str
    method: str
    url: httpx.URL
    body: bytes
    idempotent: bool
    stream: str | None = None
    task: str | None = None


@dataclass
class _Outcome:
    value: Any = None
    error: DisError | None = None
    sent: bool = True
    token_rejected: bool = False
    request: httpx.Request | None = None


class DisClient:
    """Async client for the DIS dump-task APIs of one project.

    Args:
        settings: validated with `require_dis()` here (raises `ConfigError`).
        http: a shared `httpx.AsyncClient`; one is created (and closed by `aclose`) when omitted.
        retry: retry policy for reads; `RetryPolicy()` when omitted.
        auth: an authentication strategy from `bot.dis.auth`; chosen from the settings when omitted.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        auth: DisAuth | None = None,
    ) -> None:
        settings.require_dis()
        assert settings.dis_project_id is not None and settings.dis_region is not None
        self.settings = settings
        self.project_id: str = settings.dis_project_id
        self.region: str = settings.dis_region
        self.endpoint_url: str = settings.endpoint
        self._owns_http = http is None
        # httpx's API on aiohttp's connection pool: httpcore's pool rescans every connection per request,
        # which made 1000 reads at concurrency 50 take 10 s instead of ~1 s (see pyproject.toml).
        self._http = http or HttpxAiohttpClient(
            timeout=httpx.Timeout(settings.dis_timeout_seconds),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
        )
        self.retry = retry or RetryPolicy()
        self.auth: DisAuth = auth or build_auth(settings, self._http)
        if isinstance(self.auth, IamPasswordAuth):
            self.auth.on_request = self._emit_request
            self.auth.on_token = self._emit_secret
        self.on_request: Callable[[str, int | str, float], None] | None = None
        self.on_retry: Callable[[str, str], None] | None = None
        #: Called with each secret learned at run time (IAM tokens), e.g. `RedactSecrets.add`.
        self.on_secret: Callable[[str], None] | None = None

    # --- lifecycle ---

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> DisClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- API ---

    async def list_transfer_tasks(self, stream: str) -> TaskList:
        """All dump tasks of `stream` (at most 5 per stream, so no paging)."""
        validate_name(stream, "stream")
        call = self._call("list_transfer_tasks", "GET", ["streams", stream, "transfer-tasks"], stream=stream)
        return await self._run(call, lambda body: _task_list(stream, body))

    async def show_transfer_task(self, stream: str, task: str) -> TaskDetail:
        """One dump task with its partitions and destination."""
        validate_name(stream, "stream")
        validate_name(task, "task")
        call = self._call(
            "show_transfer_task", "GET", ["streams", stream, "transfer-tasks", task], stream=stream, task=task
        )
        return await self._run(call, lambda body: TaskDetail.model_validate(_expect_dict(body)))

    async def list_streams(self) -> list[StreamInfo]:
        """Every stream of the project, following `has_more_streams` to the end."""
        streams: list[StreamInfo] = []
        start: str | None = None
        for _ in range(MAX_STREAM_PAGES):
            query = {"limit": str(STREAM_PAGE)}
            if start is not None:
                query["start_stream_name"] = start
            call = self._call("list_streams", "GET", ["streams"], query=query)
            page, more = await self._run(call, functools.partial(_stream_page, first=start is None))
            streams.extend(page)
            if not more or not page or page[-1].stream_name == start:
                break
            start = page[-1].stream_name
        return streams

    async def describe_stream(self, stream: str) -> StreamDetail:
        """A stream with every partition's sequence range and its retention, following `has_more_partitions`.

        Each next page starts after the last partition id seen (`start_partitionId` is exclusive); a page that
        repeats that id ends the walk, so a server ignoring the parameter cannot loop us.
        """
        validate_name(stream, "stream")
        first: StreamDetail | None = None
        partitions: dict[str, StreamPartition] = {}
        start: str | None = None
        for _ in range(MAX_PARTITION_PAGES):
            query = {"limit_partitions": str(PARTITION_PAGE)}
            if start is not None:
                query["start_partitionId"] = start
            call = self._call("describe_stream", "GET", ["streams", stream], query=query, stream=stream)
            page = await self._run(call, functools.partial(_stream_detail_page, stream, first=start is None))
            first = first or page
            for partition in page.partitions:
                partitions.setdefault(partition_key(partition.partition_id), partition)
            last = page.partitions[-1].partition_id if page.partitions else None
            if not page.has_more_partitions or last is None or last == start:
                break
            start = last
        assert first is not None
        return first.model_copy(update={"partitions": list(partitions.values()), "has_more_partitions": False})

    async def start_transfer_tasks(self, stream: str, task_ids: Sequence[str]) -> None:
        """Start dump tasks by task ID (`task_id`, not the name)."""
        await self._action("start", stream, task_ids)

    async def stop_transfer_tasks(self, stream: str, task_ids: Sequence[str]) -> None:
        """Stop (pause) dump tasks by task ID (`task_id`, not the name)."""
        await self._action("stop", stream, task_ids)

    # --- internals ---

    async def _action(self, action: str, stream: str, task_ids: Sequence[str]) -> None:
        validate_name(stream, "stream")
        ids = _validate_task_ids(task_ids)
        payload = {"action": action, "tasks": [{"id": task_id} for task_id in ids]}
        call = self._call(
            f"{action}_transfer_tasks",
            "POST",
            ["streams", stream, "transfer-tasks", "action"],
            stream=stream,
            task=", ".join(ids),
            payload=payload,
        )
        await self._run(call, lambda body: None)

    def _call(
        self,
        endpoint: str,
        method: str,
        segments: list[str],
        *,
        query: dict[str, str] | None = None,
        payload: Any = None,
        stream: str | None = None,
        task: str | None = None,
    ) -> _Call:
        return _Call(
            endpoint=endpoint,
            method=method,
            url=_parsed_url(self.url(segments, query)),
            # Serialised once: these exact bytes are hashed for the signature and sent.
            body=b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode(),
            idempotent=method == "GET",
            stream=stream,
            task=task,
        )

    def url(self, segments: Sequence[str], query: dict[str, str] | None = None) -> str:
        """`{endpoint}/v2/{project_id}/...` with every segment percent-encoded (httpx leaves '/' alone)."""
        path = "/".join(quote(seg, safe="") for seg in ["v2", self.project_id, *segments])
        url = f"{self.endpoint_url}/{path}"
        if query:
            url += "?" + urlencode(sorted(query.items()), quote_via=quote)
        return url

    async def _run(self, call: _Call, parse: Callable[[Any], T]) -> T:
        """Attempt `call` until it succeeds or the retry rules say stop."""
        attempt = 0
        renewed = False
        while True:
            attempt += 1
            outcome = await self._attempt(call, parse, attempt)
            error = outcome.error
            if error is None:
                return outcome.value  # type: ignore[no-any-return]
            if outcome.token_rejected and not renewed and outcome.request is not None:
                renewed = True
                if self.auth.invalidate(outcome.request):
                    self._retrying(call, attempt, "auth_renewed", 0.0, error)
                    continue
            retryable = isinstance(error, Throttled | Unavailable) and (call.idempotent or not outcome.sent)
            if not retryable or attempt >= self.retry.attempts:
                raise _finish(error, attempt)
            retry_after = error.retry_after if isinstance(error, Throttled) else None
            delay = self.retry.delay(attempt, retry_after)
            self._retrying(call, attempt, error.kind, delay, error)
            await self.retry.sleep(delay)

    async def _attempt(self, call: _Call, parse: Callable[[Any], Any], attempt: int) -> _Outcome:
        request = self._http.build_request(
            call.method,
            call.url,
            content=call.body or None,
            headers={"Content-Type": "application/json"},
        )
        try:
            await self.auth.apply(request)
        except DisError as error:  # IAM login failed: nothing was sent to DIS
            return _Outcome(error=error, sent=False)

        started = time.perf_counter()
        try:
            response = await self._http.send(request)
        except httpx.TransportError as exc:
            seconds = time.perf_counter() - started
            kind = transport_kind(exc)
            self._log_request(call, transport_status(kind), seconds, None, attempt)
            return _Outcome(error=self._transport_error(exc, kind), sent=kind not in NOT_SENT)
        seconds = time.perf_counter() - started
        status_code = response.status_code
        request_id = response.headers.get("X-Request-Id")

        if 200 <= status_code < 300:
            try:
                # Start/stop answers carry no body worth reading; only reads are decoded.
                value = parse(json.loads(response.content) if call.method == "GET" else None)
            except (ValueError, ValidationError, TypeError) as exc:
                self._log_request(call, status_code, seconds, request_id, attempt)
                why = _unusable_reason(exc)
                return _Outcome(
                    error=Garbled(
                        f"DIS answered {call.endpoint} with a body that is not the JSON we expect "
                        f"(HTTP {status_code}{'; ' + why if why else ''}).",
                        status=status_code,
                        request_id=request_id,
                    )
                )
            self._log_request(call, status_code, seconds, request_id, attempt)
            return _Outcome(value=value)

        body = clean(parse_error_body(response.content, response.headers), self.auth.secrets())
        self._log_request(call, status_code, seconds, body.request_id, attempt, code=body.code)
        error = self._http_error(call, response, body)
        token_rejected = status_code == 401 or (status_code == 441 and body.code in ("DIS.4113", "DIS.4114"))
        return _Outcome(error=error, token_rejected=token_rejected, request=request)

    # --- error mapping ---

    def _http_error(self, call: _Call, response: httpx.Response, body: ErrorBody) -> DisError:
        status = response.status_code
        code = body.code or ""
        detail = body.detail(status)
        common: dict[str, Any] = {"code": body.code, "status": status, "request_id": body.request_id}
        where = f"project {self.project_id}, region {self.region}"

        if code == "DIS.4301" and call.stream:
            return NotFound(f"Stream '{call.stream}' does not exist in {where}.", stream=call.stream, **common)
        if code == "DIS.4354" and call.stream:
            what = f"Dump task '{call.task}'" if call.task else "The dump task"
            return NotFound(
                f"{what} does not exist on stream '{call.stream}' ({where}).",
                stream=call.stream,
                task=call.task,
                **common,
            )
        if code == "DIS.4309":
            return AuthError(
                f"DIS has blacklisted this IP after too many failed requests ({detail}). "
                "Fix the credentials and wait before trying again.",
                **common,
            )
        if status in (401, 441):
            return AuthError(
                f"DIS rejected {self.auth.describe()} ({detail}). {self.auth.hint()}",
                **common,
            )
        if status == 403:
            return AuthError(
                f"DIS refused {call.endpoint}: not allowed ({detail}). The IAM user needs DIS permissions in "
                f"{where}, and the account must not be in arrears.",
                **common,
            )
        if status == 429 or code in ("APIG.0308", "DIS.4305"):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            wait = f" Retry after {retry_after:g}s." if retry_after else ""  # "after 0s" tells nobody anything
            return Throttled(f"DIS is throttling requests ({detail}).{wait}", retry_after=retry_after, **common)
        if status >= 500 or code.startswith("DIS.5"):
            return Unavailable(f"DIS at {self.endpoint_url} failed: HTTP {status} ({detail}).", **common)
        if code == "DIS.4117":
            return RequestRejected(
                f"DIS says project ID {self.project_id} is invalid ({detail}). Check DIS_PROJECT_ID.", **common
            )
        if code == "APIG.0101" or (status == 404 and not code):
            return RequestRejected(
                f"{self.endpoint_url} has no such DIS API ({detail}). Check DIS_ENDPOINT and DIS_REGION.",
                **common,
            )
        if 400 <= status < 500:
            return RequestRejected(f"DIS refused {call.endpoint}: HTTP {status} ({detail}).", **common)
        return Unavailable(f"DIS answered {call.endpoint} with unexpected HTTP {status}.", **common)

    def _transport_error(self, exc: httpx.TransportError, kind: TransportKind) -> Unavailable:
        timeout = self.settings.dis_timeout_seconds
        if kind == "read_timeout":
            return Unavailable(f"DIS did not answer within {timeout:g}s at {self.endpoint_url}.")
        reasons = {
            "connect_timeout": f"no connection within {timeout:g}s",
            "pool_timeout": f"no free connection within {timeout:g}s (too many requests in flight)",
            "disconnected": "the connection closed without an answer",
        }
        reason = reasons.get(kind) or transport_reason(exc)
        return Unavailable(f"DIS is unreachable at {self.endpoint_url}: {redact(reason, self.auth.secrets())}.")

    # --- observability ---

    def _emit_secret(self, secret: str) -> None:
        if self.on_secret is not None:
            self.on_secret(secret)

    def _emit_request(self, endpoint: str, status: int | str, seconds: float) -> None:
        if self.on_request is not None:
            try:
                self.on_request(endpoint, status, seconds)
            except Exception:
                logger.exception("dis.hook_failed", extra={"hook": "on_request"})

    def _log_request(
        self,
        call: _Call,
        status: int | str,
        seconds: float,
        request_id: str | None,
        attempt: int,
        code: str | None = None,
    ) -> None:
        logger.debug(
            "dis.request",
            extra={
                "endpoint": call.endpoint,
                "method": call.method,
                "status": status,
                "code": code,
                "duration_ms": round(seconds * 1000, 1),
                "dis_request_id": request_id,
                "attempt": attempt,
                "stream": call.stream,
            },
        )
        self._emit_request(call.endpoint, status, seconds)

    def _retrying(self, call: _Call, attempt: int, reason: str, delay: float, error: DisError) -> None:
        logger.info(
            "dis.retry",
            extra={
                "endpoint": call.endpoint,
                "attempt": attempt,
                "reason": reason,
                "delay_s": round(delay, 3),
                "status": error.status,
                "code": error.code,
                "dis_request_id": error.request_id,
                "stream": call.stream,
            },
        )
        if self.on_retry is not None:
            try:
                self.on_retry(call.endpoint, reason)
            except Exception:
                logger.exception("dis.hook_failed", extra={"hook": "on_retry"})


# --- helpers ---


@lru_cache(maxsize=4096)
def _parsed_url(url: str) -> httpx.URL:
    """httpx parses a URL string char by char on every request; a poller asks for the same few URLs again."""
    return httpx.URL(url)


def _finish(error: DisError, attempts: int) -> DisError:
    """Record how many attempts were made, and say so in the message when there was more than one."""
    error.attempts = attempts
    if attempts > 1:
        error.message = f"{error.message.rstrip('.')} (tried {attempts} times)."
        error.args = (error.message,)
    if attempts > 1 and isinstance(error, Throttled | Unavailable):
        logger.warning(
            "dis.gave_up", extra={"kind": error.kind, "attempts": attempts, "status": error.status, "code": error.code}
        )
    return error


class _Unusable(ValueError):
    """A 2xx body that parses but is not what the API promises; `reason` is our own words, never the body's."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _unusable_reason(exc: BaseException) -> str | None:
    """Why a 2xx body was refused, in our own words: pydantic's and json's messages would quote the body."""
    if isinstance(exc, _Unusable):
        return exc.reason
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return "not JSON"
    if isinstance(exc, ValidationError):
        return "a field of the wrong type"
    return None


def _expect_dict(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _Unusable(f"a JSON {type(body).__name__}, not an object")
    return body


def _count(value: Any) -> int | None:
    """A count as DIS sends it (an int, or digits in a string); None for anything else (`true` included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _named(item: Any, key: str) -> bool:
    """An object carrying a non-empty string `key` (a task or stream we can follow by name)."""
    return isinstance(item, dict) and isinstance(item.get(key), str) and bool(item[key].strip())


def _task_list(stream: str, body: Any) -> TaskList:
    """Parse a task list, refusing any body that would read as fewer tasks than DIS has.

    `{"tasks": null}`, `{"data": ...}`, `{"tasks": [1, 2]}` or tasks without names must not become "no tasks":
    the watcher would end every open problem of the stream as deleted, then alert it again on the next good read.
    """
    data = _expect_dict(body)
    raw = data.get("tasks")
    if raw is None:
        raw = data.get("details")  # the legacy shape
    total = data.get("total_number")
    if raw is None and "tasks" not in data and "details" not in data and _count(total) == 0:
        raw = []  # an empty stream answered without the empty list: it says what it means
    if not isinstance(raw, list):
        raise _Unusable("no task list" if raw is None else "the task list is not a list")
    if not all(_named(item, "task_name") for item in raw):
        raise _Unusable("a task without a name")
    claimed = _count(total)
    if claimed is not None and claimed > len(raw):
        raise _Unusable(f"{len(raw)} of {claimed} tasks listed")
    return TaskList.from_api(stream, data, fetched_at=time.time())


def _stream_page(body: Any, *, first: bool = True) -> tuple[list[StreamInfo], bool]:
    """One page of the streams list; a page without a real list is unusable (for `*` watches it is not "none").

    The first page is also held to its own `total_number` (every stream of the tenant): a page that lists fewer
    and says there are no more, or lists none and says there are more, would make `*` watches drop streams
    that still exist (their open alerts ended as deleted, alerted again on the next good read).
    """
    data = _expect_dict(body)
    infos = data.get("stream_info_list")
    names = data.get("stream_names")
    if infos is None and names is None:
        raise _Unusable("no stream list")
    if any(value is not None and not isinstance(value, list) for value in (infos, names)):
        raise _Unusable("the stream list is not a list")
    if infos:
        if not all(_named(item, "stream_name") for item in infos):
            raise _Unusable("a stream without a name")
        streams = [StreamInfo.model_validate(item) for item in infos]
    elif names:
        if not all(isinstance(name, str) and name.strip() for name in names):
            raise _Unusable("a stream without a name")
        streams = [StreamInfo(stream_name=name) for name in names]
    else:
        streams = []
    more = data.get("has_more_streams") is True
    claimed = _count(data.get("total_number"))
    if first and more and not streams:
        raise _Unusable("an empty page of streams that says there are more")
    if first and not more and claimed is not None and claimed > len(streams):
        raise _Unusable(f"{len(streams)} of {claimed} streams listed")
    return streams, more


def _stream_detail_page(stream: str, body: Any, *, first: bool = True) -> StreamDetail:
    """One page of a stream's description. Partition fields may be missing (a range unknown is a backlog unknown),
    but a page without a partition list, or with a partition we cannot name, is unusable: read as "no partitions"
    it would make every task's backlog unknown without saying why."""
    data = _expect_dict(body)
    raw = data.get("partitions")
    if raw is None:
        raise _Unusable("no partition list")
    if not isinstance(raw, list):
        raise _Unusable("the partition list is not a list")
    if not all(isinstance(item, dict) and _partition_id(item) is not None for item in raw):
        raise _Unusable("a partition without an id")
    more = data.get("has_more_partitions") is True
    if first and not raw:
        raise _Unusable("a stream without partitions")
    partitions = [StreamPartition.model_validate({**item, "partition_id": _partition_id(item)}) for item in raw]
    name = data.get("stream_name")
    return StreamDetail.model_validate(
        {
            **data,
            "stream_name": name if isinstance(name, str) and name.strip() else stream,
            "partitions": partitions,
            "has_more_partitions": more,
        }
    )


def _partition_id(item: dict[str, Any]) -> str | None:
    """A partition's id as a string: `shardId-0000000000`, or a bare number some answers carry."""
    value = item.get("partition_id", item.get("partitionId"))
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return str(value)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _validate_task_ids(task_ids: Sequence[str]) -> list[str]:
    if isinstance(task_ids, str):
        task_ids = [task_ids]
    ids = list(dict.fromkeys(task_ids))
    if not ids:
        raise InvalidName("At least one dump task ID is required.")
    for task_id in ids:
        if not isinstance(task_id, str) or not _TASK_ID.fullmatch(task_id):
            shown = task_id[:40] if isinstance(task_id, str) else type(task_id).__name__
            raise InvalidName(
                f"'{shown}' is not a valid dump task ID (the task_id from the task list: letters, digits, _ - .)."
            )
    return ids
