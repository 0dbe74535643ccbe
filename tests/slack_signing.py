"""Sign requests exactly as Slack signs them (v0 HMAC-SHA256 over "v0:{timestamp}:{raw body}").

Checked against Slack's published example in `tests/slack/test_signing.py`; used by the Slack tests and the
benchmark to send requests that Bolt's real verification accepts.
"""

from __future__ import annotations

import hashlib
import hmac
import time


def sign(secret: str, timestamp: int | str, body: str | bytes) -> str:
    """The `X-Slack-Signature` value for `body` sent at `timestamp`."""
    raw = body if isinstance(body, bytes) else body.encode()
    base = f"v0:{timestamp}:".encode() + raw  # over the bytes as sent (a forged body need not be UTF-8)
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str,
    body: str | bytes,
    *,
    timestamp: int | None = None,
    content_type: str = "application/x-www-form-urlencoded",
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
) -> dict[str, str]:
    """The headers Slack sends with `body`: content type, timestamp, signature (and retry headers if asked)."""
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(secret, ts, body),
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason
    return headers
