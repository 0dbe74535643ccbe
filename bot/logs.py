"""Logging: one line per event, plain text or JSON lines (`LOG_FORMAT=json`), with a request id.

Log calls name an event and pass fields in `extra`:
`logger.info("command.received", extra={"subcommand": "tasks", "user": "U123"})`.
Every record passes through `RedactSecrets`, which removes the configured secret values wherever they
appear (message, arguments, extra fields, tracebacks), so a slip elsewhere cannot leak a token.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from aiohttp.http_exceptions import HttpProcessingError

from bot.config import Settings

#: The logger Bolt is given (`create_app`): its own internals, and slack_sdk's Socket Mode client, log there.
BOLT_LOGGER = "bot.bolt"

#: The id of the Slack request being handled (`DisBotApp.async_dispatch` sets it with `request_context()`).
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else came from `extra`.
_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "", None, None))) | {"message", "asctime", "request_id"}
_REDACTED = "[redacted]"


@contextmanager
def request_context(request_id: str | None = None) -> Iterator[str]:
    """Tag every log line inside the block with a request id (a new one unless given)."""
    rid = request_id or uuid.uuid4().hex[:16]
    token = request_id_var.set(rid)
    try:
        yield rid
    finally:
        request_id_var.reset(token)


def secret_values(settings: Settings) -> list[str]:
    """Every secret the settings hold."""
    values = []
    for _name, value in settings:
        if hasattr(value, "get_secret_value"):
            raw = value.get_secret_value()
            if raw:
                values.append(raw)
    return values


class RedactSecrets(logging.Filter):
    """Replace known secret values in a record with `[redacted]`.

    Secrets are kept longest first, so a secret containing another is redacted whole.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Register secrets: the configured ones, and those learned at run time (an IAM token)."""
        for s in secrets:
            if s and len(s) >= 4 and s not in self.secrets:
                self.secrets.append(s)
        self.secrets.sort(key=len, reverse=True)

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, _REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        record.msg = self._clean(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self._clean(value))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self._clean(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class _MalformedRequest(logging.Filter):
    """aiohttp logs a request its HTTP parser refuses (a header line over 8 KiB, too many headers, a bad
    Content-Length) at ERROR with a traceback that quotes the start of the offending line, before any handler (so
    before the signature check) sees it. The client already got aiohttp's 400: one short WARNING is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if record.levelno < logging.ERROR or not isinstance(exc, HttpProcessingError):
            return True
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else None
        record.msg, record.args, record.exc_info, record.exc_text = "http.request_malformed", None, None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.reason, record.status, record.remote = type(exc).__name__, exc.code, remote
        return logging.getLogger(record.name).isEnabledFor(logging.WARNING)


_malformed_request = _MalformedRequest()


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, request_id and the `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        if getattr(record, "request_id", None):
            out["request_id"] = record.request_id  # type: ignore[attr-defined]
        for key, value in _extras(record).items():
            out[key] = value if isinstance(value, str | int | float | bool | type(None)) else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time level logger event key=value ...` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        head = time.strftime("%H:%M:%S", time.localtime(record.created))
        parts = [head, f"{record.levelname:<7}", record.name, record.getMessage()]
        rid = getattr(record, "request_id", None)
        if rid:
            parts.append(f"request_id={rid}")
        # A field with no value says nothing to a reader ("stream=None" on a call that has no stream): leave it out.
        parts += [f"{k}={v}" for k, v in _extras(record).items() if v is not None]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        elif record.exc_text:
            line += "\n" + record.exc_text
        return line


def configure_logging(settings: Settings, stream: object = None) -> RedactSecrets:
    """Install the bot's single log handler on the root logger; returns the redaction filter."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    redact = RedactSecrets(secret_values(settings))
    handler.addFilter(_RequestIdFilter())
    handler.addFilter(redact)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    level = logging.getLevelName(settings.log_level)
    # httpx logs every request's URL at INFO: one line per DIS read on top of our own `dis.request` (DEBUG), a
    # thousand lines per poll cycle with a thousand watched streams. Only its warnings are worth having.
    for quiet in ("httpx", "httpcore"):
        logging.getLogger(quiet).setLevel(max(logging.WARNING, level))
    # Alembic narrates every start ("Context impl SQLiteImpl.", each plugin); the store logs `store.migrated` itself.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, level))
    # Bolt and slack_sdk narrate their own workings at INFO ("A new session (s_...) has been established", every
    # Socket Mode reconnect); the bot logs its own event for each thing that matters (server.*, slack.*), so below
    # DEBUG only their warnings pass. At DEBUG Bolt's internals join in; the libraries' DEBUG lines (request
    # headers and bodies) stay off.
    logging.getLogger("aiohttp.server").addFilter(_malformed_request)  # the same instance: added once
    quiet_unless_debug = level if level <= logging.DEBUG else max(logging.WARNING, level)
    logging.getLogger(BOLT_LOGGER).setLevel(quiet_unless_debug)
    for noisy in ("aiohttp.access", "slack_sdk", "slack_bolt"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, quiet_unless_debug))
    return redact
