"""Answers of `/dis watch`, `/dis unwatch` and `/dis watching`: pure builders over the watch service's data."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from bot.blocks.alerts import error_label, stream_label
from bot.blocks.limits import (
    MAX_BLOCKS,
    Message,
    age,
    context,
    duration,
    epoch_ms,
    escape,
    header,
    quiet_mentions,
    quiet_user,
    section,
    slack_date,
    state_emoji,
    truncate,
)
from bot.store.base import ALL_STREAMS, SOURCE_CONFIG, Subscription
from bot.watcher.status import PollStatus, WatchStatus

_MAX_WATCHES = MAX_BLOCKS - 6


def _what(stream: str) -> str:
    return "every stream of the project" if stream == ALL_STREAMS else f"`{escape(stream)}`"


def _counts(counts: dict[str, int]) -> str:
    if not counts:
        return "no dump tasks"
    total = sum(counts.values())
    parts = ", ".join(f"{state_emoji(s)} {n} {s}" for s, n in counts.items())
    return f"{total} task{'s' if total != 1 else ''}: {parts}"


def watch_added(
    sub: Subscription,
    *,
    created: bool,
    failing: Sequence[Any] = (),
    counts: dict[str, int] | None = None,
    streams: int | None = None,
    interval_seconds: float = 60.0,
) -> Message:
    """The answer to `/dis watch STREAM [mention …]`; the mentioned are named, not notified (`quiet_mentions`)."""
    what = _what(sub.stream)
    if created:
        title = f":eyes: Watching {what} in this channel"
    else:
        title = f":eyes: This channel already watches {what}"
    lines = [title]
    if sub.is_wildcard:
        found = f"{streams} stream{'s' if streams != 1 else ''} now" if streams is not None else "the streams"
        lines.append(f"I read {found} and look for new ones every few minutes.")
    elif counts is not None:
        lines.append(f"Now: {_counts(counts)}.")
    if failing:
        names = ", ".join(f"`{escape(t.task_name)}` ({t.state})" for t in failing[:10])
        more = f" and {len(failing) - 10} more" if len(failing) > 10 else ""
        if created:
            lines.append(f":rotating_light: Already failing: {names}{more}. I posted one alert for them.")
        else:
            lines.append(f":rotating_light: Failing now: {names}{more}.")
    lines.append(
        f"I check every {duration(interval_seconds)} and post here when a dump task turns ERROR or ABNORMAL, "
        "then update that alert when it recovers."
    )
    who = quiet_mentions(sub.mention or "")
    notes = [f"Alerts mention {who}." if sub.mention else "Alerts mention nobody (add `mention @group`)."]
    if sub.delivery_error:
        notes.append(
            f":warning: My last post here failed (`{escape(sub.delivery_error)}`): invite me with `/invite @dis-bot`."
        )
    text = "\n".join(lines)
    plain = " ".join([text, *notes]).replace("*", "").replace("`", "")
    return Message(truncate(plain, 3000), [section(text), context(*notes)])


def watch_not_found(stream: str, project: str | None = None) -> Message:
    where = f" in project `{escape(project)}`" if project else ""
    text = f":mag: *Stream `{escape(stream)}` was not found{where}*, so I did not start watching it."
    return Message(
        f"Stream {escape(stream)} was not found; not watching it.",
        [section(text), context("`/dis streams` lists the streams of the project.")],
    )


def unwatch_answer(stream: str, outcome: str, *, in_config: bool = False) -> Message:
    """The answer to `/dis unwatch STREAM` (`outcome`: removed, not_watched, from_config)."""
    what = _what(stream)
    if outcome == "removed":
        text = f":no_bell: Stopped watching {what} in this channel. Open alerts are marked as no longer watched."
        if in_config:
            text += " It is also set in `DIS_WATCH`, so it comes back when the bot restarts."
    elif outcome == "from_config":
        text = (
            f":gear: {what.capitalize() if what.startswith('every') else what} is watched here because of the "
            "bot's configuration (`DIS_WATCH`); ask the bot's admin to remove it there."
        )
    else:
        text = f"This channel does not watch {what}. `/dis watching` lists what it watches."
    return Message(truncate(text.replace("*", ""), 3000), [section(text)])


def _poll_line(polls: Sequence[PollStatus], *, wildcard: bool, interval_seconds: float, now: float) -> str:
    if not polls:
        return f"Not polled yet since the bot started (first poll within {duration(interval_seconds)})."
    if not wildcard:
        poll = polls[0]
        when = age(epoch_ms(poll.at), now)
        if poll.ok:
            return f"Last poll {when}: {_counts(poll.counts)}."
        runs = f" ({poll.failures} in a row)" if poll.failures > 1 else ""
        return f":warning: Last poll {when} failed{runs}: {error_label(poll.error_kind)} — {escape(poll.error or '')}"
    listing = [p for p in polls if p.stream == ALL_STREAMS]
    streams = [p for p in polls if p.stream != ALL_STREAMS]
    ok = [p for p in streams if p.ok]
    failed = [p for p in streams if not p.ok]
    totals: Counter[str] = Counter()
    for p in ok:
        totals.update(p.counts)
    line = f"{len(streams)} stream{'s' if len(streams) != 1 else ''} polled"
    if streams:
        line += f", last {age(epoch_ms(max(p.at for p in streams)), now)}: {_counts(dict(totals))}"
    if failed:
        names = ", ".join(f"`{escape(p.stream)}`" for p in failed[:5])
        line += f". :warning: {len(failed)} could not be read: {names}{' …' if len(failed) > 5 else ''}"
    if listing:
        p = listing[0]
        line = f":warning: Listing the streams failed: {error_label(p.error_kind)} — {escape(p.error or '')}. " + line
    return line + "."


def watching_message(
    statuses: Sequence[WatchStatus], *, interval_seconds: float = 60.0, now: float | None = None
) -> Message:
    """The answer to `/dis watching`: each watch with its last poll result and any delivery error."""
    now = time.time() if now is None else now
    if not statuses:
        text = "This channel watches nothing. Start with `/dis watch STREAM` (or `/dis watch *` for every stream)."
        return Message(text.replace("`", ""), [section(text)])
    blocks: list[dict[str, Any]] = [header(f"Watches in this channel ({len(statuses)})")]
    errors = {s.subscription.delivery_error for s in statuses if s.subscription.delivery_error}
    if errors:
        sub = next(s.subscription for s in statuses if s.subscription.delivery_error)
        since = f" since {slack_date(epoch_ms(sub.delivery_error_at))}" if sub.delivery_error_at else ""
        blocks.append(
            section(
                f":warning: *I cannot post alerts here*: Slack says `{escape(', '.join(sorted(errors)))}`{since}. "
                "Invite me with `/invite @dis-bot` (or unarchive the channel, or let apps post here); the watches "
                "stay, and waiting alerts are delivered once I can post (run `/dis watch STREAM` to retry now)."
            )
        )
    for status in statuses[:_MAX_WATCHES]:
        sub = status.subscription
        title = f"*{escape(stream_label(sub.stream)) if not sub.is_wildcard else 'Every stream (*)'}*"
        bits = [title]
        if sub.mention:
            bits.append(f"mentions {quiet_mentions(sub.mention)}")
        if sub.source == SOURCE_CONFIG:
            bits.append("from `DIS_WATCH`")
        lines = [" · ".join(bits)]
        lines.append(_poll_line(status.polls, wildcard=sub.is_wildcard, interval_seconds=interval_seconds, now=now))
        if status.blind_since is not None:
            lines.append(f":see_no_evil: Cannot be read since {slack_date(epoch_ms(status.blind_since))}.")
        if status.open_problems:
            n = status.open_problems
            lines.append(f":rotating_light: {n} open problem{'s' if n != 1 else ''} being followed.")
        for snooze in status.snoozes[:5]:
            lines.append(
                f":no_bell: `{escape(snooze.task_name)}` ({escape(snooze.stream)}) snoozed until "
                f"{slack_date(epoch_ms(snooze.until))}" + (f" by {quiet_user(snooze.by)}" if snooze.by else "")
            )
        blocks.append(section("\n".join(lines)))
    if len(statuses) > _MAX_WATCHES:
        blocks.append(context(f"…and {len(statuses) - _MAX_WATCHES} more watches."))
    blocks.append(context(f"Polled every {duration(interval_seconds)}. `/dis unwatch STREAM` stops a watch."))
    plain = ", ".join(escape(stream_label(s.subscription.stream)) for s in statuses)
    return Message(truncate(f"Watches in this channel: {plain}", 3000), blocks)
