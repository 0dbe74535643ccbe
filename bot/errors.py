"""The bot's error hierarchy. Every message here is safe to show a user: no token, AK/SK or password.

    BotError
    ├── ConfigError              missing or contradictory settings (CLI exit code 2)
    ├── StoreUnavailable         the database refused a read or write (locked, full, read-only, I/O error,
    │                            connection refused or lost)
    ├── FencedOut                a write of the watcher's leader, made after another replica took the lead
    └── DisError                 anything that went wrong talking to DIS
        ├── InvalidName          refused before any request: stream/task name breaks DIS's naming rule
        ├── NotFound             DIS.4301 (stream) / DIS.4354 (task), sent by DIS as HTTP 400
        ├── AuthError            401 APIG.03xx, 441 DIS.41xx, 403: credentials or permissions
        ├── Throttled            429 APIG.0308, DIS.4305: too many requests (carries Retry-After)
        ├── Unavailable          5xx, timeouts, connection errors
        │   └── Garbled          a 2xx whose body is not what the API promises (not JSON, no usable task list)
        └── RequestRejected      any other 4xx: DIS understood and refused the request

`DisError` keeps DIS's `code` and `request_id` for the logs; `str(error)` is the human message.
"""

from __future__ import annotations


class BotError(Exception):
    """Base of every error the bot raises on purpose."""


class ConfigError(BotError):
    """Settings are missing or contradict each other; the message names the variables."""


class StoreUnavailable(BotError):
    """The database refused a read or write: locked by another process, disk full, read-only, an I/O error.

    Raised by the store for the engine's *operational* errors only (a constraint violation is a bug, not a
    fault), so callers can tell "try again later" from a bug. The message is the engine's own ("database is
    locked", "cannot execute INSERT in a read-only transaction"): it names no path, host or password.

    Attributes:
        code: SQLite's error name ("SQLITE_BUSY", "SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR_...") or
            PostgreSQL's SQLSTATE ("25006" read-only, "53100" disk full, "57P01" shut down, "08006" unreachable).
    """

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    @property
    def read_only(self) -> bool:
        """The database can be read but not written (a read-only file, mount or `mode=ro` open; a read-only
        PostgreSQL transaction: a standby, `default_transaction_read_only`)."""
        code = self.code or ""
        return code.startswith("SQLITE_READONLY") or code == "25006"


class FencedOut(BotError):
    """A write of the watcher's leader refused because `leadership.term` moved on: another replica leads now.

    Not a `StoreUnavailable`: the database works, this process is simply no longer the one that may poll and
    send, and retrying the same write would be wrong.
    """

    def __init__(self, term: int, current: int | None) -> None:
        super().__init__(f"fenced out: this replica leads term {term}, the database is at term {current}")
        self.term = term
        self.current = current


class DisError(BotError):
    """A DIS call failed. `str()` is a short human message, safe for Slack and logs."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.request_id = request_id
        self.attempts = attempts

    @property
    def kind(self) -> str:
        """A stable short name for metrics and logs ("not_found", "auth", ...)."""
        return _KINDS.get(type(self), "error")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, code={self.code!r}, status={self.status!r}, "
            f"request_id={self.request_id!r})"
        )


class InvalidName(DisError):
    """A stream or task name that DIS would refuse; no request was sent."""


class NotFound(DisError):
    """The stream or task does not exist (DIS answers HTTP 400 with DIS.4301 / DIS.4354)."""

    def __init__(self, message: str, *, stream: str, task: str | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.stream = stream
        self.task = task


class AuthError(DisError):
    """Credentials are wrong, expired or lack permission. Never retried blindly."""


class Throttled(DisError):
    """DIS or its gateway asked us to slow down."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class Unavailable(DisError):
    """DIS could not be reached or answered with something we cannot use."""


class Garbled(Unavailable):
    """DIS said 200 but the body is unusable: not JSON, or no real task/stream list (`{"tasks": null}`).

    Never an empty answer: an empty list read from garbage would close open alerts as "deleted". Retried and
    counted like `Unavailable` (same `kind`, so metrics and stored states keep their label values).
    """


class RequestRejected(DisError):
    """DIS refused the request for another reason (a 4xx we do not classify further)."""


_KINDS: dict[type[DisError], str] = {
    DisError: "error",
    InvalidName: "invalid_name",
    NotFound: "not_found",
    AuthError: "auth",
    Throttled: "throttled",
    Unavailable: "unavailable",
    Garbled: "unavailable",
    RequestRejected: "rejected",
}
