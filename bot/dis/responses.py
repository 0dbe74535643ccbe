"""Reading what DIS, its API gateway and IAM say when something fails, without leaking secrets.

Three error body shapes exist (reference §6.1) and some responses carry none at all:

    DIS service   {"errorCode": "DIS.4301", "message": "Stream does not exist. [...]"}
    API gateway   {"error_code": "APIG.0301", "error_msg": "...", "request_id": "..."}
    IAM           {"error": {"code": 401, "message": "...", "title": "Unauthorized"}}

Gateway codes come as both `APIG.` and `APIGW.`; we normalise to `APIG.`.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import httpx

#: Longest piece of a server message we repeat to a human.
MAX_MESSAGE = 200

_SIGNATURE = re.compile(r"(Signature=)[0-9A-Fa-f]+")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class ErrorBody:
    """Code, message and request id found in an error response (each may be missing)."""

    code: str | None = None
    message: str | None = None
    request_id: str | None = None

    def detail(self, status: int | None = None) -> str:
        """`CODE: message` for a human, falling back to whatever is known."""
        if self.code and self.message:
            return f"{self.code}: {self.message}"
        if self.code or self.message:
            return str(self.code or self.message)
        return f"HTTP {status}" if status is not None else "no details"


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _normalise_code(code: str | None) -> str | None:
    if code and code.upper().startswith("APIGW."):
        return "APIG." + code[6:]
    return code


def parse_error_body(content: bytes, headers: Mapping[str, str] | None = None) -> ErrorBody:
    """Pick code, message and request id out of any known error body; tolerate garbage."""
    data: Any = None
    try:
        data = json.loads(content) if content else None
    except ValueError:
        data = None
    code = message = request_id = None
    if isinstance(data, dict):
        nested = data.get("error")
        source: dict[str, Any] = nested if isinstance(nested, dict) else data
        code = _text(source.get("error_code") or source.get("errorCode") or source.get("code"))
        message = _text(source.get("error_msg") or source.get("errorMsg") or source.get("message"))
        request_id = _text(data.get("request_id") or source.get("request_id"))
    if headers is not None and not request_id:
        request_id = _text(headers.get("X-Request-Id") or headers.get("X-Request-ID"))
    return ErrorBody(code=_normalise_code(code), message=message, request_id=request_id)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every known secret (and anything that looks like a signature) with `***`; shorten."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _SIGNATURE.sub(r"\1***", text)
    text = _SPACES.sub(" ", text).strip()
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 1] + "…"
    return text


def clean(body: ErrorBody, secrets: Iterable[str]) -> ErrorBody:
    """The same body with its message redacted and shortened, safe for users and logs."""
    secrets = list(secrets)
    message = redact(body.message, secrets) if body.message else None
    code = redact(body.code, secrets) if body.code else None
    return ErrorBody(code=code, message=message, request_id=body.request_id)


def transport_reason(exc: BaseException) -> str:
    """A short lower-case reason from a transport error ("connection refused", "host name not found")."""
    seen: BaseException | None = exc
    for _ in range(10):  # walk the cause chain down to the OS error
        if seen is None:
            break
        if isinstance(seen, socket.gaierror):
            return "host name not found"
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, ConnectionResetError):
            return "connection reset"
        if isinstance(seen, ssl.SSLError):
            return f"TLS error ({seen.reason or 'handshake failed'})"
        seen = seen.__cause__ or seen.__context__
    text = str(exc) or type(exc).__name__
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", text)
    return text[:1].lower() + text[1:]


TransportKind = Literal["connect_error", "connect_timeout", "pool_timeout", "read_timeout", "disconnected", "other"]


def transport_status(kind: TransportKind) -> str:
    """How a failed attempt is reported in metrics and logs: "timeout", "connect_error" or "transport_error"."""
    if kind in ("connect_timeout", "pool_timeout", "read_timeout"):
        return "timeout"
    return "connect_error" if kind == "connect_error" else "transport_error"


def transport_kind(exc: BaseException) -> TransportKind:
    """What really went wrong, judged by the root exception rather than httpx's class alone.

    The aiohttp transport maps every aiohttp connection error (a refused connect as much as a
    disconnect after the request was sent) to `httpx.ConnectTimeout`, so its cause decides.
    """
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError | asyncio.TimeoutError):
        if isinstance(cause, aiohttp.ConnectionTimeoutError):
            return "connect_timeout"
        if isinstance(cause, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
            return "read_timeout"
        if isinstance(cause, aiohttp.ClientConnectorError):
            return "connect_error"
        if isinstance(cause, aiohttp.ServerDisconnectedError):
            return "disconnected"
        return "other"
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect_timeout"
    if isinstance(exc, httpx.PoolTimeout):
        return "pool_timeout"
    if isinstance(exc, httpx.TimeoutException):
        return "read_timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect_error"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "disconnected"
    return "other"


#: Failures that happened before the request left us: repeating even a POST is safe.
NOT_SENT: frozenset[TransportKind] = frozenset({"connect_error", "connect_timeout", "pool_timeout"})
