"""Alert messages: the root message of a problem episode (posted, then edited in place), and its thread replies.

Pure builders over the store's records. The root message always shows the *current* state: open problems
in red/orange, recovered ones struck through with how long they were down, who acknowledged, what is
snoozed. Storms stay within Block Kit limits: at most `MAX_LINES` tasks are listed, then "and N more" (a
cycle's later problems join its first alert, so one message can grow to a whole storm).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.blocks import problems
from bot.blocks.limits import (
    MAX_FALLBACK_TEXT,
    Message,
    actions,
    button,
    context,
    duration,
    epoch_ms,
    escape,
    header,
    quiet_user,
    section,
    slack_date,
    state_emoji,
    truncate,
)
from bot.store.base import ALL_STREAMS, KIND_BLIND, Alert, Episode, Snooze
from bot.watcher.ids import ALERT_ACK, ALERT_ACTIONS_BLOCK, ALERT_SNOOZE
from bot.watcher.render import SnoozeIndex

#: Tasks listed in one message; the rest are counted ("and 80 more").
MAX_LINES = 40
#: Characters of listed lines in one message (Slack refuses whole payloads far below 50 x 3000).
MAX_BODY_CHARS = 9000
_SECTION_CHARS = 2800
_NAMES_IN_FALLBACK = 3

_ERROR_KINDS = {
    "not_found": "not found",
    "auth": "authentication or permission refused",
    "unavailable": "no usable answer from DIS",  # 5xx, timeouts, no connection, or a garbled 200
    "throttled": "throttled by DIS",
    "rejected": "request rejected",
    "invalid_name": "invalid name",
}


def _since(started_at: float, now: float) -> str:
    return f"since {slack_date(epoch_ms(started_at))} ({duration(now - started_at)})"


def stream_label(stream: str) -> str:
    return "the project's stream list" if stream == ALL_STREAMS else stream


def error_label(kind: str | None) -> str:
    return _ERROR_KINDS.get(kind or "", kind or "error")


# ---------------------------------------------------------------------- lines


def task_line(ep: Episode, now: float, snooze: Snooze | None = None) -> str:
    """One problem of a task in an alert, as it is now."""
    if ep.is_silent:
        return problems.line(ep, now, snooze)
    name = f"`{escape(ep.task_name)}`"
    if ep.ended_at is not None:
        down = duration(ep.ended_at - ep.started_at)
        if ep.end_state == "UNWATCHED":
            return f":heavy_minus_sign: ~{name}~ no longer watched here (was {ep.problem_state} for {down})"
        if ep.end_state == "DELETED":
            return f":wastebasket: ~{name}~ deleted after {down} in {ep.problem_state}"
        if ep.end_state == "PAUSED":
            return f":double_vertical_bar: ~{name}~ paused after {down} in {ep.problem_state}"
        return f":white_check_mark: ~{name}~ {ep.end_state or 'RUNNING'} again · was {ep.problem_state}, down {down}"
    parts = [f"{state_emoji(ep.state)} {name} *{escape(ep.state)}*"]
    if ep.state != ep.problem_state:
        parts[0] += f" (was {ep.problem_state})"
    if ep.baseline:
        parts.append("already failing when the watch began")
        if ep.last_transfer_ms:
            parts.append(f"last transfer {slack_date(ep.last_transfer_ms)}")
    else:
        if ep.previous_state:
            parts.append(f"was {ep.previous_state}")
        parts.append(_since(ep.started_at, now))
    if snooze is not None:
        parts.append(f":no_bell: snoozed until {slack_date(epoch_ms(snooze.until))}")
    return " · ".join(parts)


def blind_line(ep: Episode, now: float) -> str:
    """One unreadable stream of a warning."""
    name = f"*{escape(stream_label(ep.stream))}*"
    if ep.ended_at is not None:
        if ep.end_state == "DELETED":
            return f":wastebasket: ~{name}~ no longer exists"
        return f":white_check_mark: ~{name}~ readable again after {duration(ep.ended_at - ep.started_at)}"
    reason = truncate(escape(ep.reason or ""), 300)
    return f":warning: {name} — {error_label(ep.state)}: {reason} · {_since(ep.started_at, now)}"


def _sort_key(ep: Episode) -> tuple[int, str, str, str]:
    return (0 if ep.ended_at is None else 1, ep.stream, ep.task_name, ep.problem)


def _body(
    episodes: Sequence[Episode], now: float, snoozes: SnoozeIndex, *, by_stream: bool
) -> tuple[list[dict[str, Any]], int]:
    """Sections listing episodes (grouped by stream when several), and how many did not fit."""
    blocks: list[dict[str, Any]] = []
    shown = 0
    used = 0
    current: list[str] = []
    current_len = 0
    current_stream: str | None = None

    def flush() -> None:
        nonlocal current, current_len
        if current:
            blocks.append(section("\n".join(current)))
        current, current_len = [], 0

    for ep in sorted(episodes, key=_sort_key):
        if ep.kind == KIND_BLIND:
            line = blind_line(ep, now)
        else:
            line = task_line(ep, now, snoozes.get((ep.stream, ep.task_name)) if ep.ended_at is None else None)
        if shown >= MAX_LINES or used + len(line) > MAX_BODY_CHARS:
            break
        title = f"*{escape(ep.stream)}*" if by_stream and ep.kind != KIND_BLIND and ep.stream != current_stream else ""
        extra = len(line) + len(title) + 2
        if current and (current_len + extra > _SECTION_CHARS or title):
            flush()
        if title:
            current.append(title)
            current_stream = ep.stream
        current.append(line)
        current_len += extra
        used += extra
        shown += 1
    flush()
    return blocks, len(episodes) - shown


# ---------------------------------------------------------------------- root message


def _header_and_text(alert: Alert, episodes: Sequence[Episode]) -> tuple[str, str]:
    open_eps = [e for e in episodes if e.ended_at is None]
    streams = sorted({e.stream for e in episodes})
    where = escape(streams[0]) if len(streams) == 1 else f"{len(streams)} streams"
    n = len(episodes)
    if alert.kind == KIND_BLIND:
        if not open_eps:
            what = stream_label(streams[0]) if len(streams) == 1 else f"{len(streams)} streams"
            if any(e.end_state != "READABLE" for e in episodes):
                return f"ℹ️ No longer following {what}", f"No longer following {what} (deleted or unwatched)"
            return f"✅ I can read {what} again", f":white_check_mark: I can read {what} again"
        what = stream_label(open_eps[0].stream) if len(open_eps) == 1 else f"{len(open_eps)} streams"
        return f"⚠️ I cannot read {what}", f":warning: I cannot read {what}: I am blind to its dump tasks"
    listed = list(dict.fromkeys(f"{e.stream}/{e.task_name}" for e in (open_eps or episodes)))
    names = ", ".join(escape(name) for name in listed[:_NAMES_IN_FALLBACK])
    more = len(listed) - _NAMES_IN_FALLBACK
    names += f" and {more} more" if more > 0 else ""
    if any(e.is_silent for e in episodes):
        return _mixed_header_and_text(episodes, open_eps, where, names)
    if not open_eps:
        longest = max((e.ended_at or 0) - e.started_at for e in episodes) if episodes else 0
        if n == 1:
            ep = episodes[0]
            title = f"✅ Resolved: {ep.stream} / {ep.task_name} (down {duration(longest)})"
        else:
            title = f"✅ Resolved: {n} dump tasks in {where}"
        return title, f":white_check_mark: Resolved: {names}"
    worst = "ERROR" if any(e.problem_state == "ERROR" for e in open_eps) else open_eps[0].problem_state
    emoji = "🔴" if worst == "ERROR" else "🟠"
    if n == 1:
        ep = episodes[0]
        verb = "was already" if ep.baseline else "is"
        title = f"{emoji} {ep.stream}: dump task {ep.task_name} {verb} {ep.state}"
        text = f"{state_emoji(ep.state)} {escape(ep.state)}: {names}"
    elif len(open_eps) == n:
        already = " (already failing)" if all(e.baseline for e in episodes) else ""
        title = f"{emoji} {n} dump tasks failing in {where}{already}"
        text = f"{state_emoji(worst)} {n} dump tasks failing: {names}"
    else:
        title = f"{emoji} {len(open_eps)} of {n} dump tasks still failing in {where}"
        text = f"{state_emoji(worst)} {len(open_eps)} of {n} dump tasks still failing: {names}"
    return title, text


def _mixed_header_and_text(
    episodes: Sequence[Episode], open_eps: Sequence[Episode], where: str, names: str
) -> tuple[str, str]:
    """Header and fallback of an alert with a silent problem in it ("3 dump tasks need attention in stream-a")."""
    tasks = {(e.stream, e.task_name) for e in episodes}
    open_tasks = {(e.stream, e.task_name) for e in open_eps}
    if not open_eps:
        if all(problems.superseded(e) for e in episodes):
            ep = episodes[0]
            if len(tasks) == 1:
                title = f"➡️ {ep.stream} / {ep.task_name} is now {ep.end_state}: alerted on its own"
            else:
                title = f"➡️ {len(tasks)} dump tasks in {where} turned ERROR or ABNORMAL: alerted on their own"
            return title, f":arrow_right: No longer {problems.label(ep)}, alerted on its own: {names}"
        longest = max((e.ended_at or 0) - e.started_at for e in episodes)
        if len(tasks) == 1:
            ep = episodes[0]
            what = ", ".join(dict.fromkeys(problems.label(e) if e.is_silent else e.problem_state for e in episodes))
            title = f"✅ Resolved: {ep.stream} / {ep.task_name} ({what} for {duration(longest)})"
        else:
            title = f"✅ Resolved: {len(tasks)} dump tasks in {where}"
        return title, f":white_check_mark: Resolved: {names}"
    states = [e for e in open_eps if not e.is_silent]
    emoji = "🔴" if any(e.problem_state == "ERROR" for e in states) else "🟠" if states else "⚠️"
    if len(episodes) == 1:
        ep = episodes[0]
        verb = "was already" if ep.baseline else "is"
        if ep.problem == "stalled":
            title = f"{problems.STALLED_EMOJI} {ep.stream}: dump task {ep.task_name} {verb} stalled"
        elif ep.problem == "partitions":
            title = f"🟠 {ep.stream}: dump task {ep.task_name} has {problems.label(ep)}"
        else:
            title = f"🗑️ {ep.stream}: dump task {ep.task_name} {verb} discarding records"
        return title, f"{problems.emoji(ep)} {escape(problems.label(ep))}: {names}"
    labels = ", ".join(dict.fromkeys(problems.label(e) if e.is_silent else e.state for e in open_eps))
    if len(tasks) == 1:
        ep = open_eps[0]
        title = f"{emoji} {ep.stream}: dump task {ep.task_name} needs attention ({labels})"
    elif len(open_tasks) == len(tasks):
        already = " (already so when the watch began)" if all(e.baseline for e in episodes) else ""
        title = f"{emoji} {len(tasks)} dump tasks need attention in {where}{already}"
    else:
        title = f"{emoji} {len(open_tasks)} of {len(tasks)} dump tasks still need attention in {where}"
    n = len(open_tasks)
    tasks_need = "1 dump task needs" if n == 1 else f"{n} dump tasks need"
    return title, f"{emoji} {tasks_need} attention ({labels}): {names}"


def alert_message(
    alert: Alert,
    episodes: Sequence[Episode],
    *,
    now: float,
    snoozes: SnoozeIndex | None = None,
    repeat_minutes: float = 0,
) -> Message:
    """The root message of an alert, as it should look now (used for the post and every update)."""
    snoozes = snoozes or {}
    title, text = _header_and_text(alert, episodes)
    resolved = all(e.ended_at is not None for e in episodes)
    blocks: list[dict[str, Any]] = [header(title)]
    if alert.mention and not resolved:
        text = f"{alert.mention} {text}"
        blocks.append(section(f"{alert.mention} please take a look"))
    streams = {e.stream for e in episodes}
    body, hidden = _body(episodes, now, snoozes, by_stream=len(streams) > 1)
    blocks.extend(body)
    if hidden:
        hidden_streams = len({e.stream for e in sorted(episodes, key=_sort_key)[len(episodes) - hidden :]})
        blocks.append(
            context(
                f"…and {hidden} more in {hidden_streams} stream(s). `/dis watching` shows every watch; "
                "`/dis tasks STREAM` lists a stream's tasks."
            )
        )
    notes = []
    if alert.kind == KIND_BLIND:
        if not resolved:
            notes.append("Until I can read it, I cannot tell whether its dump tasks fail. I keep trying.")
    else:
        if alert.acked_by:
            when = f" {slack_date(epoch_ms(alert.acked_at))}" if alert.acked_at else ""
            notes.append(f":eyes: Acknowledged by <@{escape(alert.acked_by)}>{when}")
        elif not resolved and repeat_minutes > 0:
            notes.append(f"Not acknowledged yet: I remind the thread every {duration(repeat_minutes * 60)}.")
        if resolved and episodes:
            first = min(e.started_at for e in episodes)
            notes.append(f"First seen {slack_date(epoch_ms(first))}")
    if notes:
        blocks.append(context(*notes))
    if alert.kind != KIND_BLIND and not resolved:
        buttons = []
        if not alert.acked_by:
            buttons.append(button("Acknowledge", ALERT_ACK, str(alert.id), style="primary"))
        for action_id, seconds in ALERT_SNOOZE.items():
            buttons.append(button(f"Snooze {duration(seconds)}", action_id, str(alert.id)))
        blocks.append(actions(*buttons, block_id=ALERT_ACTIONS_BLOCK))
    return Message(truncate(text, MAX_FALLBACK_TEXT), blocks)


# ---------------------------------------------------------------------- thread replies


def _list(items: Sequence[str], limit: int = 10) -> str:
    shown = list(items[:limit])
    if len(items) > limit:
        shown.append(f"…and {len(items) - limit} more")
    return "\n".join(shown)


def recovery_reply(episodes: Sequence[Episode]) -> Message:
    """The thread reply when problems end (no mention: recoveries do not page anyone)."""
    lines = []
    for ep in sorted(episodes, key=_sort_key):
        down = duration((ep.ended_at or ep.started_at) - ep.started_at)
        task = f"`{escape(ep.task_name)}` ({escape(ep.stream)})"
        if ep.kind == KIND_BLIND:
            lines.append(f":white_check_mark: I can read *{escape(stream_label(ep.stream))}* again (after {down})")
        elif ep.is_silent:
            lines.append(problems.recovery_line(ep))
        elif ep.end_state == "DELETED":
            lines.append(f":wastebasket: {task} was deleted after {down}")
        elif ep.end_state == "PAUSED":
            lines.append(f":double_vertical_bar: {task} was paused after {down}")
        else:
            lines.append(
                f":white_check_mark: {task} is {ep.end_state or 'RUNNING'} again after {down} in {ep.problem_state}"
            )
    if len(episodes) == 1:
        text = lines[0]
    else:
        text = f"{len(episodes)} problems ended:\n" + _list(lines)
    return Message(truncate(text, MAX_FALLBACK_TEXT), [section(text)])


def reminder_reply(alert: Alert, open_episodes: Sequence[Episode], *, now: float) -> Message:
    """A reminder in the alert's thread while problems last and nobody acknowledged."""
    lines = [
        problems.short(e, now)
        if e.is_silent
        else f"{state_emoji(e.state)} `{escape(e.task_name)}` ({escape(e.stream)}) {escape(e.state)} for "
        f"{duration(now - e.started_at)}"
        for e in sorted(open_episodes, key=_sort_key)
    ]
    who = f"{alert.mention} " if alert.mention else ""
    still = "Still failing" if not any(e.is_silent for e in open_episodes) else "Still needs attention"
    text = f":alarm_clock: {who}{still}:\n{_list(lines)}\nPress *Acknowledge* on the alert to stop reminders."
    return Message(truncate(text, MAX_FALLBACK_TEXT), [section(text)])


def mention_reply(mentions: str, episodes: Sequence[Episode]) -> Message:
    """Pages the watchers of problems that joined an alert after it was posted: Slack notifies nobody of a
    mention that an edit adds."""
    lines = [
        problems.short(e, e.started_at)
        if e.is_silent
        else f"{state_emoji(e.state)} `{escape(e.task_name)}` ({escape(e.stream)}) {escape(e.state)}"
        for e in sorted(episodes, key=_sort_key)
    ]
    text = truncate(f":rotating_light: {mentions} please take a look: this alert now also lists\n{_list(lines)}")
    return Message(truncate(text, MAX_FALLBACK_TEXT), [section(text)])


def ack_reply(user_id: str, now: float) -> Message:
    # Named, not mentioned: only the alert and its reminders page anyone.
    text = f":eyes: {quiet_user(user_id)} acknowledged {slack_date(epoch_ms(now))}; no more reminders."
    return Message(text, [context(text)])


def snooze_reply(user_id: str, episodes: Sequence[Episode], until: float, seconds: float) -> Message:
    names = ", ".join(f"`{escape(e.task_name)}`" for e in episodes[:10])
    if len(episodes) > 10:
        names += f" and {len(episodes) - 10} more"
    text = (
        f":no_bell: {quiet_user(user_id)} snoozed {names} in this channel for {duration(seconds)}, "
        f"until {slack_date(epoch_ms(until))}: no reminders or new alerts for them here until then."
    )
    return Message(truncate(text, MAX_FALLBACK_TEXT), [context(truncate(text))])


class BlockKitAlerts:
    """The watcher's messages in Block Kit: the `bot.watcher.render.AlertRenderer` the engine is given."""

    alert = staticmethod(alert_message)
    recovery = staticmethod(recovery_reply)
    reminder = staticmethod(reminder_reply)
    mention = staticmethod(mention_reply)
    ack = staticmethod(ack_reply)
    snooze = staticmethod(snooze_reply)


BLOCK_KIT_ALERTS = BlockKitAlerts()
