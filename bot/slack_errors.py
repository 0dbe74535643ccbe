"""Slack's failures, read and classified once, for every caller (the outbox, readiness, start-up, Socket Mode).

Slack says what went wrong in three places: the HTTP status (429 with `Retry-After`; a 5xx from its edge, often
with a text or HTML body), the `error` code of an `{"ok": false}` answer, or nothing at all (a network error).
`read_error` turns a `SlackApiError` into one `SlackFailure`, `read_answer` does the same for a raw HTTP answer
(Socket Mode's `apps.connections.open`), and `SlackFailure.kind` says what it means:

    Kind.RATELIMITED      HTTP 429 / `ratelimited`: wait for Retry-After
    Kind.SLACK_DOWN       HTTP 5xx, `internal_error`, `fatal_error`, ...: Slack's trouble, retry with backoff
    Kind.TOKEN_REFUSED    `invalid_auth`, `token_revoked`, ...: nothing this token does works until it is replaced
    Kind.NOT_PERMITTED    `missing_scope`, ...: the app's install lacks something; a person must fix it
    Kind.CHANNEL_REFUSED  `not_in_channel`, `is_archived`, ...: this channel refuses the bot; inviting it repairs it
    Kind.MESSAGE_GONE     `message_not_found`, ...: the message to edit or reply to is no more
    Kind.PAYLOAD_REFUSED  `invalid_blocks`, `msg_too_long`, ...: our message is refused; plain text may pass
    Kind.REQUEST          any other code: Slack answered, about this one request

`refuses_token` answers the one question start-up and Socket Mode ask: can this token work at all?
What a caller does with a kind is its own business (the outbox parks a refused channel, readiness fails on
TOKEN_REFUSED but not on CHANNEL_REFUSED); which codes belong to which kind is decided here only. Nothing read
here carries a secret: codes, statuses and exception type names, never a URL or a body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.dis.retry import parse_retry_after


class Kind(StrEnum):
    RATELIMITED = "ratelimited"
    SLACK_DOWN = "slack_down"
    TOKEN_REFUSED = "token_refused"
    NOT_PERMITTED = "not_permitted"
    CHANNEL_REFUSED = "channel_refused"
    MESSAGE_GONE = "message_gone"
    PAYLOAD_REFUSED = "payload_refused"
    REQUEST = "request"


#: The token itself is refused (revoked, expired, of the wrong type, its user or workspace gone).
TOKEN_REFUSED_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
        "org_login_required",
        "team_access_not_granted",
    }
)
#: The token works but the app's install lacks a scope: retrying does not help, reinstalling with it does.
NOT_PERMITTED_ERRORS = frozenset({"missing_scope"})
#: Slack refuses the channel (not the token): a person can repair it (invite the bot, unarchive the channel,
#: let the bot post there). `no_permission` and `ekm_access_denied` come per conversation on chat.* methods.
CHANNEL_REFUSED_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "no_permission",
        "ekm_access_denied",
    }
)
#: The message to update or reply to is gone.
MESSAGE_GONE_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed", "thread_not_found"})
#: Our payload is refused as malformed or too large.
PAYLOAD_REFUSED_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_too_long", "msg_blocks_too_long"})
#: Slack's own trouble, said with an error code (an HTTP 5xx says it with the status); `team_added_to_org`: the
#: workspace is being migrated into an Enterprise org, for a while.
SLACK_DOWN_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "team_added_to_org"}
)
RATELIMITED_ERRORS = frozenset({"ratelimited", "rate_limited"})

_BY_CODE: dict[str, Kind] = {
    **dict.fromkeys(TOKEN_REFUSED_ERRORS, Kind.TOKEN_REFUSED),
    **dict.fromkeys(NOT_PERMITTED_ERRORS, Kind.NOT_PERMITTED),
    **dict.fromkeys(CHANNEL_REFUSED_ERRORS, Kind.CHANNEL_REFUSED),
    **dict.fromkeys(MESSAGE_GONE_ERRORS, Kind.MESSAGE_GONE),
    **dict.fromkeys(PAYLOAD_REFUSED_ERRORS, Kind.PAYLOAD_REFUSED),
    **dict.fromkeys(SLACK_DOWN_ERRORS, Kind.SLACK_DOWN),
    **dict.fromkeys(RATELIMITED_ERRORS, Kind.RATELIMITED),
}
_TOKEN_NOT_PERMITTED = frozenset({"no_permission", "ekm_access_denied"})
_MAX_CODE = 60


@dataclass(frozen=True)
class SlackFailure:
    """One failed Slack call as Slack answered it.

    Attributes:
        status: the HTTP status (200 for a method error such as `channel_not_found`).
        code: Slack's `error` code, or `http_<status>` when the answer carried none (a 5xx in text or HTML).
        retry_after: seconds Slack asked us to wait (`Retry-After`), if it said.
    """

    status: int
    code: str
    retry_after: float | None = None

    @property
    def kind(self) -> Kind:
        if self.status == 429:
            return Kind.RATELIMITED
        if self.status >= 500:
            return Kind.SLACK_DOWN
        return _BY_CODE.get(self.code, Kind.REQUEST)


def read_error(error: SlackApiError) -> SlackFailure:
    """What Slack answered to a call of `AsyncWebClient` that raised, whatever shape the answer came in.

    Slack's edge answers a 5xx in text or HTML, so `response.data` may be a string (where `.get` raises) or empty.
    """
    response: Any = error.response
    status = getattr(response, "status_code", None) or 0
    data = getattr(response, "data", None)
    headers = getattr(response, "headers", None) or {}
    return read_answer(int(status), data, _header(headers, "retry-after"))


def read_answer(status: int, body: object, retry_after: str | None = None) -> SlackFailure:
    """The same for a raw HTTP answer: its status, its decoded JSON body (or anything else) and its Retry-After."""
    code = body.get("error") if isinstance(body, dict) else None
    text = str(code)[:_MAX_CODE] if code else (f"http_{status}" if status not in (0, 200) else "unknown_error")
    return SlackFailure(status, text, parse_retry_after(retry_after))


def error_code(error: SlackApiError) -> str:
    """Slack's error code of a failed call (`http_<status>` when there was none), safe to log."""
    return read_error(error).code


def refuses_token(failure: SlackFailure) -> bool:
    """Whether a call that names no conversation (`auth.test`, `apps.connections.open`) says the token cannot
    work until someone replaces it or the app's install: refused, lacking a scope, or not permitted at all (there
    `no_permission` and `ekm_access_denied` are about the token, not a channel)."""
    return failure.kind in (Kind.TOKEN_REFUSED, Kind.NOT_PERMITTED) or failure.code in _TOKEN_NOT_PERMITTED


def failure_reason(error: BaseException) -> str | None:
    """A short reason when `error` means Slack cannot serve this bot at all; None when Slack answered about one
    request (a refused channel, a gone message), which says nothing about the next call."""
    if isinstance(error, SlackApiError):
        failure = read_error(error)
        kind = failure.kind
        if kind is Kind.RATELIMITED:
            return "ratelimited"
        if kind is Kind.SLACK_DOWN:
            return f"HTTP {failure.status}" if failure.status >= 500 else failure.code
        if kind is Kind.TOKEN_REFUSED:
            return failure.code
        return None
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, aiohttp.ClientError | OSError):
        return f"network ({type(error).__name__})"
    return None


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    """A header's value from whatever mapping the client kept (case-insensitive; aiohttp may give a list)."""
    for key, value in dict(headers).items():
        if str(key).lower() == name:
            return str(value[0] if isinstance(value, list) and value else value)
    return None
