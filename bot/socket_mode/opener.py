"""Asking Slack for a Socket Mode URL: `apps.connections.open` with the app-level token, a fresh URL each time.

A URL carries a ticket that may work once and expires soon, so every connection attempt asks for its own. Every
failure is classified here, once, into `ConnectFailed` with a short `kind` that is safe to log: an error code, an
HTTP status or an exception's type name, never the URL (its ticket lets anyone open the app's connection) and
never the token.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from bot.slack_errors import read_answer, refuses_token

METHOD = "apps.connections.open"


class ConnectFailed(Exception):
    """One attempt to open a Socket Mode connection failed.

    Attributes:
        kind: what went wrong, e.g. "apps.connections.open: invalid_auth", "websocket: HTTP 503".
        refused: Slack refused the app-level token itself (retrying will not help until it is replaced).
        code: Slack's error code when it gave one.
        retry_after: seconds Slack asked us to wait (HTTP 429), if it said.
    """

    def __init__(
        self, kind: str, *, refused: bool = False, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(kind)
        self.kind = kind
        self.refused = refused
        self.code = code
        self.retry_after = retry_after


def refusal(failure: ConnectFailed) -> str:
    """What to tell the admin of a refused app-level token: the variable, Slack's code, and the fix if known."""
    hint = ""
    if failure.code == "missing_scope":
        hint = ": it needs the connections:write scope (Basic Information > App-Level Tokens)"
    return f"Slack refused SLACK_APP_TOKEN ({failure.code}){hint}"


async def open_url(session: aiohttp.ClientSession, api_url: str, app_token: str, timeout: float) -> str:  # noqa: ASYNC109
    """POST `apps.connections.open` on `api_url` (SLACK_API_URL) and return the websocket URL Slack hands out.

    Raises:
        ConnectFailed: Slack refused (token, rate limit, error code), answered garbage, or could not be reached.
    """
    url = api_url.rstrip("/") + "/" + METHOD
    headers = {"Authorization": f"Bearer {app_token}", "Content-Type": "application/x-www-form-urlencoded"}
    try:
        async with asyncio.timeout(timeout), session.post(url, headers=headers) as response:
            if response.status == 429:
                failure = read_answer(429, None, response.headers.get("Retry-After"))
                raise ConnectFailed(f"{METHOD}: ratelimited", code="ratelimited", retry_after=failure.retry_after)
            if response.status != 200:
                raise ConnectFailed(f"{METHOD}: HTTP {response.status}")
            body: Any = await response.json(content_type=None)
    except TimeoutError:
        raise ConnectFailed(f"{METHOD}: timeout after {timeout:g} s") from None
    except aiohttp.ClientError as exc:  # the message names the URL: keep only the type
        raise ConnectFailed(f"{METHOD}: network ({type(exc).__name__})") from None
    except ValueError:
        raise ConnectFailed(f"{METHOD}: unreadable answer") from None
    if not isinstance(body, dict):
        raise ConnectFailed(f"{METHOD}: unreadable answer")
    if not body.get("ok"):
        failure = read_answer(response.status, body)
        # A refused app-level token (revoked, a bot token, no connections:write) stays refused: no retry helps.
        raise ConnectFailed(f"{METHOD}: {failure.code}", refused=refuses_token(failure), code=failure.code)
    ws_url = body.get("url")
    if not isinstance(ws_url, str) or not ws_url.startswith(("wss://", "ws://")):
        raise ConnectFailed(f"{METHOD}: answer without a websocket URL")
    return ws_url
