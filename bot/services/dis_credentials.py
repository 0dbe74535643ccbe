"""The start-up check of the DIS credentials: a bot whose keys DIS rejects says so at once, by name.

`dis-bot serve` does not stop for it: the admin may be rotating keys (a new AK not active yet, permissions being
granted, an AK locked for five minutes after failed attempts), and the bot should pick up as soon as DIS accepts
it. So the check logs one ERROR with the message the CLI prints (it names the variable to fix) and adds a
`dis_credentials` component to `/readyz` that fails, naming the variable, until a DIS request succeeds.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from bot.config import AuthMode, Settings
from bot.errors import AuthError, DisError
from bot.services.health import Health, chain

if TYPE_CHECKING:
    from bot.dis.api import DisApi

logger = logging.getLogger("bot.server")

#: The name of the readiness component in `/readyz`.
COMPONENT = "dis_credentials"


class CredentialStatus:
    """Readiness of the credentials: failing from a rejection until DIS next answers a request with a 2xx.

    Used as a `Health` check (`status(now)`) and as a `DisClient.on_request` hook (`on_request(...)`).
    """

    def __init__(self) -> None:
        #: Why DIS refused us (our own words and the variable's name, no data from DIS), or None.
        self.rejected: str | None = None

    def reject(self, reason: str) -> None:
        self.rejected = reason

    def on_request(self, endpoint: str, status: int | str, seconds: float = 0.0) -> None:
        # A token from IAM proves nothing about DIS accepting it; any DIS 2xx does.
        if self.rejected is None or endpoint == "iam_login" or not isinstance(status, int):
            return
        if 200 <= status < 300:
            self.rejected = None
            logger.info("server.dis_credentials_accepted", extra={"endpoint": endpoint})

    def status(self, now: float) -> tuple[bool, dict[str, Any]]:
        if self.rejected is None:
            return True, {"ok": True}
        return False, {"ok": False, "reason": self.rejected}


async def check_dis_credentials(settings: Settings, dis: DisApi, health: Health) -> CredentialStatus:
    """Read the streams list once; if DIS rejects the credentials, log one ERROR and fail readiness until it
    accepts them. Never raises for DIS: the bot keeps running.

    Start-up waits at most `DIS_TIMEOUT_SECONDS` for DIS (retries included); a DIS that does not answer in time
    is left to the readiness probes, with a warning.

    Args:
        settings: the auth mode (the variables to name) and `DIS_TIMEOUT_SECONDS`.
        dis: the process's `DisClient`.
        health: the process's readiness, which gets the `dis_credentials` component.
    """
    credentials = CredentialStatus()
    health.add_check(COMPONENT, credentials.status)
    dis.on_request = chain(dis.on_request, credentials.on_request)
    try:
        async with asyncio.timeout(settings.dis_timeout_seconds):
            await dis.list_streams()
    except AuthError as exc:
        credentials.reject(_reason(settings, exc))
        # The CLI's message: it names the variable(s) and says what to check. Errors carry no secret.
        logger.error(
            "server.dis_credentials_rejected",
            extra={"detail": exc.message, "dis_code": exc.code, "dis_status": exc.status, "action": "keep running"},
        )
    except DisError as exc:
        logger.warning("server.dis_check_failed", extra={"error_kind": exc.kind, "detail": exc.message})
    except TimeoutError:
        logger.warning("server.dis_check_failed", extra={"error_kind": "timeout"})
    else:
        logger.info("server.dis_credentials_ok")
    return credentials


def _variables(settings: Settings) -> str:
    mode = settings.auth_mode
    if mode is AuthMode.TOKEN:
        return "DIS_AUTH_TOKEN"
    if mode is AuthMode.AKSK:
        extra = ", CLOUD_SDK_SECURITY_TOKEN" if settings.cloud_sdk_security_token is not None else ""
        return f"CLOUD_SDK_AK, CLOUD_SDK_SK{extra}"
    return "IAM_USERNAME, IAM_PASSWORD, IAM_DOMAIN_NAME"


def _reason(settings: Settings, exc: AuthError) -> str:
    """`/readyz` is often reachable from outside: name the settings refused and how, not DIS's message."""
    how = ", ".join(part for part in (f"HTTP {exc.status}" if exc.status else None, exc.code) if part)
    return f"DIS refused the credentials in {_variables(settings)} at start-up{f' ({how})' if how else ''}"
