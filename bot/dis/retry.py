"""How long to wait between attempts: exponential backoff with full jitter, bounded, Retry-After aware.

Tests build `RetryPolicy(base_delay=0.001)` (or inject `sleep`) instead of patching `asyncio.sleep`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """Retry settings for idempotent DIS reads.

    Args:
        attempts: total tries including the first (1 disables retries).
        base_delay: backoff of the first retry in seconds; doubles each retry.
        max_delay: cap of one backoff.
        jitter: "full jitter" (uniform in [0, backoff]) so many pollers don't retry in lockstep.
        max_retry_after: cap on a server's Retry-After, so a bogus value cannot stall the bot.
        sleep: the coroutine used to wait (injectable for tests that assert on delays).
    """

    attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 5.0
    jitter: bool = True
    max_retry_after: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, retry: int) -> float:
        """Delay before retry number `retry` (1 = first retry)."""
        cap = min(self.max_delay, self.base_delay * (2 ** max(retry - 1, 0)))
        return random.uniform(0.0, cap) if self.jitter else cap

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Backoff, but never less than the server's (capped) Retry-After."""
        wait = self.backoff(retry)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN / inf
        return None
    return max(seconds, 0.0)
