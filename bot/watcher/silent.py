"""Pure judgement of the problems DIS does not report: a RUNNING task that moves nothing while records wait
(stalled), failed partitions inside it, and records it discards.

The input is one deep read of a task (`bot.dis.lag.TaskLag`, judged once per cycle for every channel) and the
problems a channel already has open for it; the output is what to do: open, update (and whether the alert is
edited), or close. As with `transitions.py`, comparing against open episodes rather than against the previous poll
makes restarts safe, and every number an edit or a recovery needs is kept in the episode's `detail`.

Edits are rare on purpose: a stalled alert is edited only when its retention bucket changes (past 6 h, past 1 h,
loss begun), a discarding one when the total it shows has doubled or an hour after its last edit, a partitions
one when the summary changes. A steady stall edits nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.dis.lag import TaskLag
from bot.dis.models import TaskState
from bot.store.base import PROBLEM_DISCARDING, PROBLEM_PARTITIONS, PROBLEM_STALLED, Episode

#: Retention buckets of a stalled task: how long until unsent records pass the stream's retention.
BUCKET_UNKNOWN = "unknown"
BUCKET_OK = "ok"  # more than 6 h
BUCKET_6H = "6h"  # 6 h or less
BUCKET_1H = "1h"  # 1 h or less
BUCKET_LOST = "lost"  # loss has begun

SIX_HOURS = 6 * 3600.0
ONE_HOUR = 3600.0

#: A discarding alert is edited when the total it shows has doubled, or this long after it last showed one: a
#: task that drops records on every poll is edited about a dozen times in its first hours, then once an hour,
#: not once a cycle (the latest count is in /metrics, `disbot_task_discarded_records`).
DISCARD_EDIT_SECONDS = ONE_HOUR


def retention_bucket(left: float | None) -> str:
    """The bucket of `left` seconds before unsent records start to be lost (None: unknown)."""
    if left is None:
        return BUCKET_UNKNOWN
    if left <= 0:
        return BUCKET_LOST
    if left <= ONE_HOUR:
        return BUCKET_1H
    if left <= SIX_HOURS:
        return BUCKET_6H
    return BUCKET_OK


class Action(StrEnum):
    OPEN = "open"
    UPDATE = "update"
    CLOSE = "close"


@dataclass(frozen=True)
class Decision:
    """One thing to do about one silent problem of one task in one channel.

    Attributes:
        action: open a new episode, update an open one, or close it.
        problem: `PROBLEM_STALLED`, `PROBLEM_PARTITIONS` or `PROBLEM_DISCARDING`.
        detail: the episode's detail after this decision.
        episode: the open episode (update, close).
        edit: an update the alert shows (rendered anew): otherwise the detail is only kept.
        ended_at: when a closed problem ended, if before this read (None: now).
    """

    action: Action
    problem: str
    detail: dict[str, Any]
    episode: Episode | None = None
    edit: bool = True
    ended_at: float | None = None


@dataclass(frozen=True)
class Reading:
    """One deep read of a task, with what the judgement needs beside it.

    Attributes:
        lag: the task's partitions against its stream.
        now: when it was read (epoch seconds).
        stall_seconds: `WATCH_STALL_MINUTES` in seconds (0: stalls are not judged).
        quiet_seconds: how long without new discards ends a discarding problem.
        discard_growth: records discarded since the previous deep read (0 on the first one: a baseline).
        discard_since: when that previous deep read was (None: this is the first).
    """

    lag: TaskLag
    now: float
    stall_seconds: float
    quiet_seconds: float
    discard_growth: int = 0
    discard_since: float | None = None

    @property
    def backlog_known(self) -> bool:
        """Every partition's backlog is known (the stream described them all): only then can a backlog of 0 end a
        stall."""
        return bool(self.lag.partitions) and all(p.backlog is not None for p in self.lag.partitions)

    @property
    def backlog_seen(self) -> bool:
        """Some partition's backlog is known: records waiting there are a stall whatever the others hold (a
        partition the stream no longer lists after a scale-down must not hide the rest)."""
        return any(p.backlog is not None for p in self.lag.partitions)


def discard_growth(previous: int | None, current: int) -> int:
    """Records discarded since the previous deep read: 0 on the first (a baseline) or when the count went down
    (a re-created task starts from 0)."""
    if previous is None or current < previous:
        return 0
    return current - previous


def judge(reading: Reading, open_problems: Mapping[str, Episode]) -> list[Decision]:
    """What a channel should do about one task's silent problems after a deep read of it (RUNNING tasks only:
    the caller ends them quietly when the task leaves RUNNING)."""
    if reading.lag.state != TaskState.RUNNING:
        return []  # the details say another state than the list did: the next list read decides
    out: list[Decision] = []
    for decide in (_stalled, _partitions, _discarding):
        decision = decide(reading, open_problems)
        if decision is not None:
            out.append(decision)
    return out


def _stalled(reading: Reading, open_problems: Mapping[str, Episode]) -> Decision | None:
    lag, now = reading.lag, reading.now
    if not reading.backlog_seen:
        return None  # no backlog known at all: neither a stall nor a recovery
    ep = open_problems.get(PROBLEM_STALLED)
    left = lag.retention_left_seconds(now)
    if ep is None:
        if not lag.is_stalled(reading.stall_seconds, now):
            return None
        detail = {
            "backlog": lag.backlog,
            "last_transfer_ms": lag.last_transfer_ms,
            "loss_at": now + left if left is not None else None,
            "bucket": retention_bucket(left),
            "read_at": now,
        }
        return Decision(Action.OPEN, PROBLEM_STALLED, detail)
    old = dict(ep.detail or {})
    before = old.get("last_transfer_ms")
    moved = lag.last_transfer_ms is not None and (before is None or lag.last_transfer_ms > before)
    cleared = lag.backlog == 0 and reading.backlog_known  # 0 of what is known proves nothing of the rest
    if cleared or moved:
        ended = {**old, "backlog": lag.backlog, "cleared": cleared, "read_at": now}
        return Decision(Action.CLOSE, PROBLEM_STALLED, ended, ep)
    bucket = retention_bucket(left)
    if bucket == old.get("bucket"):
        return None  # a steady stall: nothing to say
    detail = {
        **old,
        "backlog": lag.backlog,
        "loss_at": now + left if left is not None else None,
        "bucket": bucket,
        "read_at": now,
    }
    return Decision(Action.UPDATE, PROBLEM_STALLED, detail, ep)


def _partitions(reading: Reading, open_problems: Mapping[str, Episode]) -> Decision | None:
    lag = reading.lag
    if not lag.partitions:
        return None  # no partitions in the details: nothing to judge either way
    ep = open_problems.get(PROBLEM_PARTITIONS)
    summary = lag.failed_summary()
    old = dict(ep.detail or {}) if ep is not None else {}
    if summary is None:
        if ep is None:
            return None
        # All OK: it ends once they have stayed so for the quiet time, so a partition that fails and heals on
        # alternate polls is one alert, not one post, edit and reply per flap.
        ok_at = old.get("ok_at")
        if ok_at is None:
            return Decision(Action.UPDATE, PROBLEM_PARTITIONS, {**old, "ok_at": reading.now}, ep, edit=False)
        if reading.now - float(ok_at) >= reading.quiet_seconds:
            # Ended when they were first seen OK: the quiet time after it only confirmed it.
            return Decision(Action.CLOSE, PROBLEM_PARTITIONS, old, ep, ended_at=float(ok_at))
        return None
    detail = {"summary": summary, "failed": len(lag.failed_partitions), "total": len(lag.partitions)}
    if ep is None:
        return Decision(Action.OPEN, PROBLEM_PARTITIONS, detail)
    if old.get("summary") == summary and "ok_at" not in old:
        return None
    return Decision(Action.UPDATE, PROBLEM_PARTITIONS, detail, ep, edit=old.get("summary") != summary)


def _discarding(reading: Reading, open_problems: Mapping[str, Episode]) -> Decision | None:
    now, growth = reading.now, reading.discard_growth
    ep = open_problems.get(PROBLEM_DISCARDING)
    if ep is None:
        if growth <= 0:
            return None
        detail = {
            "total": growth,
            "since": reading.discard_since if reading.discard_since is not None else now,
            "grew_at": now,
            "count": reading.lag.discarded,
            "shown_total": growth,
            "shown_at": now,
        }
        return Decision(Action.OPEN, PROBLEM_DISCARDING, detail)
    old = dict(ep.detail or {})
    if growth > 0:
        total = int(old.get("total", 0)) + growth
        detail = {**old, "total": total, "grew_at": now, "count": reading.lag.discarded}
        shown = int(old.get("shown_total", old.get("total", 0)))
        shown_at = float(old.get("shown_at", ep.started_at))
        edit = total >= 2 * shown or now - shown_at >= DISCARD_EDIT_SECONDS
        if edit:
            detail.update(shown_total=total, shown_at=now)
        return Decision(Action.UPDATE, PROBLEM_DISCARDING, detail, ep, edit=edit)
    grew_at = float(old.get("grew_at", ep.started_at))
    if now - grew_at >= reading.quiet_seconds:
        return Decision(Action.CLOSE, PROBLEM_DISCARDING, old, ep)
    return None
