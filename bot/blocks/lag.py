"""The marks for failures DIS does not report, shared by `/dis tasks`, `/dis status` and `/dis task`:
"⏳ stalled 47 min, 12,340 waiting", "2 of 8 partitions ERROR", and the retention warning."""

from __future__ import annotations

from bot.blocks.limits import duration, escape
from bot.dis.lag import TaskLag
from bot.dis.models import TaskState

#: Below this much time left before unsent records pass the stream's retention, say so.
RETENTION_WARNING_SECONDS = 6 * 3600

STALLED_EMOJI = "⏳"
FAILED_EMOJI = ":warning:"
RETENTION_EMOJI = ":hourglass:"


def is_silent_failure(lag: TaskLag | None, stall_after: float, now: float) -> bool:
    """Stalled, or partitions failed inside a task that looks fine: what needs attention beyond ERROR/ABNORMAL."""
    return lag is not None and (lag.is_stalled(stall_after, now) or failed_mark(lag) is not None)


def stalled_mark(lag: TaskLag, stall_after: float, now: float) -> str | None:
    """ "⏳ stalled 47 min, 12,340 waiting", or None when the task is not stalled."""
    if not lag.is_stalled(stall_after, now):
        return None
    idle = lag.idle_seconds(now)
    since = f"stalled {duration(idle)}" if idle is not None else "stalled, never transferred"
    return f"{STALLED_EMOJI} {since}, {lag.backlog:,} waiting"


def failed_mark(lag: TaskLag) -> str | None:
    """ ":warning: 2 of 8 partitions ERROR" for a RUNNING task, or None when every partition is fine (a task in
    ERROR says so itself, partitions included)."""
    summary = lag.failed_summary() if lag.state == TaskState.RUNNING else None
    return f"{FAILED_EMOJI} {escape(summary)}" if summary else None


def retention_mark(lag: TaskLag, now: float) -> str | None:
    """The warning when unsent records pass the stream's retention within `RETENTION_WARNING_SECONDS`."""
    left = lag.retention_left_seconds(now)
    if left is None or left >= RETENTION_WARNING_SECONDS:
        return None
    if left <= 0:
        return f"{RETENTION_EMOJI} unsent records are being lost"
    return f"{RETENTION_EMOJI} unsent records start to be lost in about {about(left)}"


def lag_marks(lag: TaskLag | None, stall_after: float, now: float) -> list[str]:
    """Every mark that applies, most urgent first (none for an unknown lag)."""
    if lag is None:
        return []
    marks = (stalled_mark(lag, stall_after, now), failed_mark(lag), retention_mark(lag, now))
    return [m for m in marks if m]


def about(seconds: float) -> str:
    """A rounded duration for estimates: "5 h" from 4 h 40 min, "40 min", "1 min" at least."""
    minutes = round(seconds / 60)
    if minutes >= 60:
        return f"{round(seconds / 3600)} h"
    return f"{max(1, minutes)} min"
