"""The words for the problems DIS does not report (stalled, failed partitions, discarding), as alert lines, thread
replies and labels; `bot.blocks.alerts` puts them in its messages beside the ERROR/ABNORMAL ones.

Pure functions of an episode and `now`: the numbers come from the episode's `detail` (written by
`bot.watcher.silent` when the problem opened or last changed), the times are rendered when the message is sent,
so "lost in about 5 h" is right whenever an edit goes out.
"""

from __future__ import annotations

from typing import Any

from bot.blocks.lag import about
from bot.blocks.limits import duration, epoch_ms, escape, slack_date
from bot.store.base import PROBLEM_DISCARDING, PROBLEM_PARTITIONS, PROBLEM_STALLED, Episode, Snooze

STALLED_EMOJI = "⏳"
PARTITIONS_EMOJI = ":large_orange_circle:"
DISCARDING_EMOJI = ":wastebasket:"

#: Retention buckets (`bot.watcher.silent`) under which the alert says when unsent records start to be lost.
_LOSS_BUCKETS = ("6h", "1h", "lost")


def _detail(ep: Episode) -> dict[str, Any]:
    return ep.detail or {}


def _n(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "?"


def stalled_for(ep: Episode, now: float) -> str:
    """ "stalled 47 min" (since the last transfer), or "stalled" when DIS never said one."""
    last = _detail(ep).get("last_transfer_ms")
    return f"stalled {duration(now - last / 1000)}" if last else "stalled (no transfer on record)"


def retention_clause(ep: Episode, now: float) -> str | None:
    """What the stall costs, once it matters: "unsent records start to be lost in about 5 h" (under 6 h), or
    "unsent records are being lost" (past the stream's retention)."""
    detail = _detail(ep)
    if detail.get("bucket") not in _LOSS_BUCKETS:
        return None
    loss_at = detail.get("loss_at")
    if detail.get("bucket") == "lost" or (loss_at is not None and loss_at <= now):
        return "unsent records are being lost"
    if loss_at is None:
        return None
    return f"unsent records start to be lost in about {about(loss_at - now)}"


def label(ep: Episode) -> str:
    """The problem in a few words: "stalled", "2 of 8 partitions ERROR", "discarding records"."""
    if ep.problem == PROBLEM_STALLED:
        return "stalled"
    if ep.problem == PROBLEM_PARTITIONS:
        return str(_detail(ep).get("summary") or "failed partitions")
    if ep.problem == PROBLEM_DISCARDING:
        return "discarding records"
    return ep.state


def emoji(ep: Episode) -> str:
    return {PROBLEM_STALLED: STALLED_EMOJI, PROBLEM_PARTITIONS: PARTITIONS_EMOJI}.get(ep.problem, DISCARDING_EMOJI)


def _what(ep: Episode, now: float) -> str:
    """The open problem's words after the task name."""
    detail = _detail(ep)
    if ep.problem == PROBLEM_STALLED:
        text = f"*{stalled_for(ep, now)}*, {_n(detail.get('backlog'))} waiting"
        clause = retention_clause(ep, now)
        return f"{text} — {clause}" if clause else text
    if ep.problem == PROBLEM_PARTITIONS:
        return f"*{escape(label(ep))}*"
    since = detail.get("since")
    when = slack_date(epoch_ms(since)) if since else "the last read"
    return f"*discarded {_n(detail.get('total'))} records* since {when}"


def line(ep: Episode, now: float, snooze: Snooze | None = None) -> str:
    """One silent problem of an alert, as it is now (open, ended, or superseded by the task's state)."""
    name = f"`{escape(ep.task_name)}`"
    if ep.ended_at is not None:
        return _ended_line(ep, name)
    parts = [f"{emoji(ep)} {name} {_what(ep, now)}"]
    last = _detail(ep).get("last_transfer_ms") if ep.problem == PROBLEM_STALLED else None
    if last:
        # The alert is not edited while a stall holds steady: the date stays true when "47 min" no longer is.
        parts.append(f"last transfer {slack_date(int(last))}")
    if ep.baseline:
        parts.append("already so when the watch began")
    elif ep.problem == PROBLEM_PARTITIONS:
        since = f"since {slack_date(epoch_ms(ep.started_at))}"
        parts.append(since if now - ep.started_at < 60 else f"{since} ({duration(now - ep.started_at)})")
    if snooze is not None:
        parts.append(f":no_bell: snoozed until {slack_date(epoch_ms(snooze.until))}")
    return " · ".join(parts)


def _ended_line(ep: Episode, name: str) -> str:
    down = duration((ep.ended_at or ep.started_at) - ep.started_at)
    what = label(ep)
    if ep.end_state == "UNWATCHED":
        return f":heavy_minus_sign: ~{name}~ no longer watched here (was {what} for {down})"
    if ep.end_state == "DELETED":
        return f":wastebasket: ~{name}~ deleted while {what}"
    if ep.end_state == "PAUSED":
        return f":double_vertical_bar: ~{name}~ paused while {what}"
    if ep.end_state != "RUNNING":
        return f":arrow_right: ~{name}~ was {what}, then turned {escape(ep.end_state or '?')} (alerted on its own)"
    return f":white_check_mark: ~{name}~ {_recovered(ep)}"


def _recovered(ep: Episode) -> str:
    """How a silent problem ended, without the task name (the line and the reply add it)."""
    detail = _detail(ep)
    down = duration((ep.ended_at or ep.started_at) - ep.started_at)
    if ep.problem == PROBLEM_STALLED:
        if detail.get("cleared"):
            return f"transferring again, backlog cleared in {down}"
        return f"transferring again ({_n(detail.get('backlog'))} still waiting)"
    if ep.problem == PROBLEM_PARTITIONS:
        return f"all partitions OK again after {down} (was {escape(label(ep))})"
    total = _n(detail.get("total"))
    grew_at = detail.get("grew_at")
    if not grew_at:
        return f"no more discards · {total} records discarded"
    # The last growth, not the end of the quiet time that confirmed it (a burst is not "discarded in 30 min").
    return f"no more discards since {slack_date(epoch_ms(float(grew_at)))} · {total} records discarded"


def recovery_line(ep: Episode) -> str:
    """The thread reply's line when a silent problem ends by itself (quiet ends get no reply)."""
    task = f"`{escape(ep.task_name)}` ({escape(ep.stream)})"
    return f":white_check_mark: {task} {_recovered(ep)}"


def short(ep: Episode, now: float) -> str:
    """A reminder's or page's line: "⏳ `to-obs` (orders) stalled 2 h, 12,340 waiting"."""
    task = f"`{escape(ep.task_name)}` ({escape(ep.stream)})"
    if ep.problem == PROBLEM_STALLED:
        return f"{emoji(ep)} {task} {stalled_for(ep, now)}, {_n(_detail(ep).get('backlog'))} waiting"
    if ep.problem == PROBLEM_PARTITIONS:
        return f"{emoji(ep)} {task} {escape(label(ep))} for {duration(now - ep.started_at)}"
    return f"{emoji(ep)} {task} discarded {_n(_detail(ep).get('total'))} records"


def superseded(ep: Episode) -> bool:
    """Ended because the task turned ERROR/ABNORMAL (or another non-RUNNING state): its own alert speaks for it."""
    return ep.ended_at is not None and ep.end_state not in (None, "RUNNING", "UNWATCHED", "DELETED", "PAUSED")


__all__ = [
    "about",
    "emoji",
    "label",
    "line",
    "recovery_line",
    "retention_clause",
    "short",
    "stalled_for",
    "superseded",
]
