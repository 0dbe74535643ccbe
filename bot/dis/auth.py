"""The three ways the bot authenticates to DIS, as small strategy objects used by `DisClient`.

- `TokenAuth`: a ready IAM token from `DIS_AUTH_TOKEN`, sent as `X-Auth-Token`. Cannot renew itself.
- `AkSkAuth`: every request signed SDK-HMAC-SHA256 (`bot.dis.signer`), optionally with a temporary
  credential's `X-Security-Token`. IAM recommends this; an AK/SK failing 5 times is locked for 5 minutes,
  so a rejection is never retried.
- `IamPasswordAuth`: logs in to IAM with user/password/account for a project-scoped token, caches it,
  renews it before it expires (one login shared by all concurrent callers) and once more when DIS says 401.

Each strategy knows its own secrets (`secrets()`) so that no message or log line can repeat them.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from bot.config import AuthMode, Settings
from bot.dis.responses import clean, parse_error_body, redact, transport_kind, transport_reason, transport_status
from bot.dis.retry import parse_retry_after
from bot.dis.signer import sign
from bot.errors import AuthError, DisError, Throttled, Unavailable

logger = logging.getLogger("bot.dis")

RequestHook = Callable[[str, "int | str", float], None]


class DisAuth(Protocol):
    """What `DisClient` needs from an authentication strategy."""

    async def apply(self, request: httpx.Request) -> None:
        """Add the credentials to a fully built request (may log in first)."""

    def invalidate(self, request: httpx.Request) -> bool:
        """DIS rejected this request's credentials: drop them; True if a new attempt may succeed."""

    def describe(self) -> str:
        """What was rejected, for messages ("the IAM token from DIS_AUTH_TOKEN")."""

    def hint(self) -> str:
        """What the on-call engineer should check when DIS rejects the credentials."""

    def secrets(self) -> list[str]:
        """Every secret value this strategy holds or has sent."""


class TokenAuth:
    """A fixed IAM token (`DIS_AUTH_TOKEN`); it expires after at most 24 h and must then be replaced."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def apply(self, request: httpx.Request) -> None:
        request.headers["X-Auth-Token"] = self._token

    def invalidate(self, request: httpx.Request) -> bool:
        return False

    def describe(self) -> str:
        return "the token in DIS_AUTH_TOKEN"

    def hint(self) -> str:
        return "IAM tokens live 24 h at most: set a fresh DIS_AUTH_TOKEN (or use AK/SK)."

    def secrets(self) -> list[str]:
        return [self._token]


class AkSkAuth:
    """Permanent or temporary AK/SK; signs `content-type;host;x-sdk-date` (+ `x-security-token`)."""

    def __init__(
        self,
        ak: str,
        sk: str,
        security_token: str | None = None,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ak = ak
        self._sk = sk
        self._security_token = security_token
        self._now = now

    async def apply(self, request: httpx.Request) -> None:
        to_sign = {
            "Host": request.headers["Host"],
            "Content-Type": request.headers.get("Content-Type", "application/json"),
        }
        if self._security_token:
            to_sign["X-Security-Token"] = self._security_token
        added = sign(request.method, str(request.url), to_sign, request.content, self._ak, self._sk, self._now())
        request.headers.update(to_sign)
        request.headers.update(added)

    def invalidate(self, request: httpx.Request) -> bool:
        return False  # five bad signatures lock the AK for 5 minutes: never loop

    def describe(self) -> str:
        return "the AK/SK signature (CLOUD_SDK_AK / CLOUD_SDK_SK)"

    def hint(self) -> str:
        extra = " and that CLOUD_SDK_SECURITY_TOKEN has not expired" if self._security_token else ""
        return (
            f"Check CLOUD_SDK_AK/CLOUD_SDK_SK{extra}, and the clock (X-Sdk-Date must be within 15 min). "
            "Repeated failures lock the AK for 5 minutes."
        )

    def secrets(self) -> list[str]:
        return [s for s in (self._ak, self._sk, self._security_token) if s]


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class IamPasswordAuth:
    """Project-scoped IAM token from user/password, cached and renewed before it expires.

    Args:
        http: the shared client used for the IAM login.
        iam_url: IAM base URL (`Settings.iam_url`).
        domain, user, password: the account (domain) name, IAM user and password.
        project_id: the token's scope (DIS requires a project-scoped token).
        renew_margin: renew when less than this many seconds are left, or 10% of the token's lifetime
            if that is smaller (tokens live 24 h, so normally 1 h before expiry).
        clock: monotonic seconds; injectable so tests can move time forward.
    """

    #: Lifetime assumed when IAM's answer has no readable `expires_at`.
    FALLBACK_LIFETIME = 3600.0

    def __init__(
        self,
        http: httpx.AsyncClient,
        iam_url: str,
        *,
        domain: str,
        user: str,
        password: str,
        project_id: str,
        renew_margin: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._iam_url = iam_url.rstrip("/")
        self._domain = domain
        self._user = user
        self._password = password
        self._project_id = project_id
        self._renew_margin = renew_margin
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self._issued: deque[str] = deque(maxlen=8)  # recent tokens, so they stay redacted after renewal
        self._login_attempts = 0
        self._last_error: DisError | None = None
        self.logins = 0
        self.on_request: RequestHook | None = None
        #: Called with every new token, so a log redaction filter can learn it (`RedactSecrets.add`).
        self.on_token: Callable[[str], None] | None = None

    async def token(self) -> str:
        """A valid token; logs in when there is none or it is close to expiry (one login at a time)."""
        token = self._token
        if token is not None and self._clock() < self._renew_at:
            return token
        seen = self._login_attempts
        async with self._lock:
            if self._token is not None and self._clock() < self._renew_at:
                return self._token
            if self._login_attempts != seen and self._last_error is not None:
                # A login failed while we waited: share its error rather than hammer IAM with the same password.
                raise copy.copy(self._last_error)
            try:
                return await self._login()
            except DisError as exc:
                self._last_error = exc
                raise
            finally:
                self._login_attempts += 1  # counts finished logins: callers that waited on this one see it

    async def apply(self, request: httpx.Request) -> None:
        request.headers["X-Auth-Token"] = await self.token()

    def invalidate(self, request: httpx.Request) -> bool:
        stale = request.headers.get("X-Auth-Token")
        if stale is not None and stale == self._token:
            self._token = None  # the next apply() logs in again, shared by concurrent callers
        return True

    def describe(self) -> str:
        return f"the IAM token of user '{self._user}'"

    def hint(self) -> str:
        return "The token was renewed once and still refused: check the IAM user's DIS permissions."

    def secrets(self) -> list[str]:
        return [self._password, *self._issued]

    async def _login(self) -> str:
        url = f"{self._iam_url}/v3/auth/tokens?nocatalog=true"
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": self._user, "password": self._password, "domain": {"name": self._domain}}
                    },
                },
                "scope": {"project": {"id": self._project_id}},
            }
        }
        who = f"IAM login of user '{self._user}' (account '{self._domain}') at {self._iam_url}"
        started = time.perf_counter()
        try:
            response = await self._http.post(
                url,
                content=json.dumps(body).encode(),
                headers={"Content-Type": "application/json;charset=utf8"},
            )
        except httpx.TransportError as exc:
            status = transport_status(transport_kind(exc))
            self._report(status, started)
            if status == "timeout":
                raise Unavailable(f"{who} timed out.") from None
            reason = redact(transport_reason(exc), self.secrets())
            raise Unavailable(f"{who} failed: IAM is unreachable ({reason}).") from None
        self._report(response.status_code, started)

        if response.status_code not in (200, 201):
            raise self._login_error(who, response)
        token: str | None = response.headers.get("X-Subject-Token")
        if not token:
            raise Unavailable(f"{who} answered HTTP {response.status_code} without an X-Subject-Token header.")
        lifetime = self._lifetime(response.content)
        self._token = token
        self._issued.append(token)
        self._renew_at = self._clock() + lifetime - min(self._renew_margin, lifetime * 0.1)
        self._last_error = None
        self.logins += 1
        if self.on_token is not None:
            self.on_token(token)
        logger.info("dis.iam_login", extra={"user": self._user, "lifetime_s": round(lifetime, 1)})
        return token

    def _lifetime(self, content: bytes) -> float:
        """Seconds the new token is valid, from IAM's issued_at/expires_at (not our possibly skewed clock)."""
        try:
            data = json.loads(content)
        except ValueError:
            data = None
        token = data.get("token") if isinstance(data, dict) else None
        if isinstance(token, dict):
            expires = _parse_time(token.get("expires_at"))
            issued = _parse_time(token.get("issued_at")) or datetime.now(UTC)
            if expires is not None and expires > issued:
                return (expires - issued).total_seconds()
        logger.warning("dis.iam_no_expiry", extra={"assumed_lifetime_s": self.FALLBACK_LIFETIME})
        return self.FALLBACK_LIFETIME

    def _login_error(self, who: str, response: httpx.Response) -> DisError:
        status = response.status_code
        body = clean(parse_error_body(response.content, response.headers), self.secrets())
        detail = body.detail(status)
        common: dict[str, Any] = {"code": body.code, "status": status, "request_id": body.request_id}
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return Throttled(f"{who} was throttled ({detail}).", retry_after=retry_after, **common)
        if status >= 500:
            return Unavailable(f"{who} failed: IAM answered HTTP {status} ({detail}).", **common)
        return AuthError(
            f"{who} was refused ({detail}). Check IAM_USERNAME, IAM_PASSWORD, IAM_DOMAIN_NAME "
            "and that the user may log in with a password (no MFA).",
            **common,
        )

    def _report(self, status: int | str, started: float) -> None:
        if self.on_request is not None:
            self.on_request("iam_login", status, time.perf_counter() - started)


def build_auth(settings: Settings, http: httpx.AsyncClient, **iam_options: Any) -> DisAuth:
    """The strategy chosen by `settings.auth_mode` (call `settings.require_dis()` first)."""
    mode = settings.auth_mode
    if mode is AuthMode.TOKEN:
        assert settings.dis_auth_token is not None
        return TokenAuth(settings.dis_auth_token.get_secret_value())
    if mode is AuthMode.AKSK:
        assert settings.cloud_sdk_ak is not None and settings.cloud_sdk_sk is not None
        security = settings.cloud_sdk_security_token
        return AkSkAuth(
            settings.cloud_sdk_ak.get_secret_value(),
            settings.cloud_sdk_sk.get_secret_value(),
            security.get_secret_value() if security is not None else None,
        )
    assert settings.iam_password is not None
    return IamPasswordAuth(
        http,
        settings.iam_url,
        domain=settings.iam_domain_name or "",
        user=settings.iam_username or "",
        password=settings.iam_password.get_secret_value(),
        project_id=settings.dis_project_id or "",
        **iam_options,
    )
