"""Requests to `/slack/events` are checked on their raw bytes before anything parses them.

Bolt builds its request (JSON, or the `payload=` form field decoded as JSON) before its own signature check, and
its parsers raise on junk: a forged request with a body like `payload=not-json` used to cost a 500 and a
traceback. Here the signature is checked first, with slack_sdk's `SignatureVerifier` (Slack's v0 HMAC-SHA256 over
`v0:{timestamp}:{raw body}`, 5-minute window), and the body is read at most `MAX_BODY_BYTES` far. Bolt's own check
stays on behind this one: it hashes the same text again, nothing is read twice.
"""

from __future__ import annotations

from aiohttp import web
from slack_sdk.signature import SignatureVerifier

#: Larger bodies are refused unread: Slack's payloads (a view submission included) are far smaller.
#: (aiohttp's own default limit, `client_max_size`, is the same.)
MAX_BODY_BYTES = 1024**2
#: Slack's replay window: a request signed longer ago than this (or this far in the future) is refused.
WINDOW_SECONDS = 5 * 60

TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"


class Unverified(Exception):
    """The request cannot be shown to come from Slack; `reason` is one short word for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def verified_body(request: web.Request, verifier: SignatureVerifier, *, max_bytes: int = MAX_BODY_BYTES) -> str:
    """The request's body as text, once its Slack signature is shown to be right.

    The cheap checks (headers present, timestamp a number inside the window, size) come before reading the body.

    Raises:
        Unverified: missing or malformed headers, a stale timestamp, a body too large or not UTF-8 (Slack signs
            UTF-8 only), or a wrong signature.
    """
    timestamp = request.headers.get(TIMESTAMP_HEADER)
    signature = request.headers.get(SIGNATURE_HEADER)
    if not timestamp or not signature:
        raise Unverified("missing_signature")
    # isascii() first: str.isdigit() also accepts "²"; int() of a very long string raises.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise Unverified("bad_timestamp")
    if abs(verifier.clock.now() - int(timestamp)) > WINDOW_SECONDS:
        raise Unverified("stale_timestamp")
    if not signature.isascii():  # hmac.compare_digest raises TypeError on non-ASCII text
        raise Unverified("bad_signature")
    if (request.content_length or 0) > max_bytes:
        raise Unverified("too_large")
    raw = await _read(request, max_bytes)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Unverified("not_utf8") from None
    if not verifier.is_valid(text, timestamp, signature):
        raise Unverified("bad_signature")
    return text


async def _read(request: web.Request, max_bytes: int) -> bytes:
    """The body, stopping as soon as it grows past `max_bytes` (a chunked body has no Content-Length to trust)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise Unverified("too_large")
        chunks.append(chunk)
    return b"".join(chunks)
