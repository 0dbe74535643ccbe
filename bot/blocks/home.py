"""The App Home tab: every watched stream with its tasks per state, the open alerts, when each stream was read.

Pure: a `HomeOverview` in, a `home` view out. Slack allows 100 blocks in a Home tab, so with many streams the
rows are packed several to a section (problem streams always first), and what still does not fit is counted in
a closing line rather than dropped silently.

Alert links use the message permalink form `https://<workspace>.slack.com/archives/<channel>/p<ts without dot>`,
built from the workspace URL Bolt already has from `auth.test` (no `chat.getPermalink` call per alert); without
it they fall back to `https://slack.com/app_redirect?channel=<channel>`, which opens the channel.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from bot.blocks.limits import (
    MAX_HOME_BLOCKS,
    MAX_SECTION_TEXT,
    context,
    divider,
    escape,
    header,
    quiet_user,
    section,
    slack_date,
    state_emoji,
    truncate,
)
from bot.dis.models import PROBLEM_STATES, state_rank
from bot.services.home import AlertRow, HomeOverview, StreamRow
from bot.store.base import KIND_BLIND

#: Blocks the open alerts may take at most; the streams get the rest.
ALERT_BLOCKS = 35
#: Longest single row (a stream watched by many channels, an alert about many tasks).
MAX_ROW = 600


def message_link(channel_id: str, ts: str | None, workspace_url: str | None = None) -> str:
    """A link to a message (or to its channel when the message ts or workspace URL is unknown)."""
    if ts and workspace_url:
        base = workspace_url if workspace_url.endswith("/") else workspace_url + "/"
        return f"{base}archives/{quote(channel_id)}/p{ts.replace('.', '')}"
    return f"https://slack.com/app_redirect?channel={quote(channel_id)}"


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


def state_counts(counts: dict[str, int] | Any) -> str:
    """`🔴 1 ERROR · 🟢 3 RUNNING`, worst state first (as mrkdwn emoji codes)."""
    parts = [
        f"{state_emoji(state)} {n} {escape(state)}"
        for state, n in sorted(counts.items(), key=lambda kv: (state_rank(kv[0]), kv[0]))
        if n
    ]
    return " · ".join(parts) if parts else "no dump tasks"


def stream_row(row: StreamRow) -> str:
    """One stream's line(s): name, channels, tasks per state, last read."""
    head = f"*{escape(row.stream)}*"
    if row.channels:
        head += " → " + " ".join(f"<#{c}>" for c in row.channels[:10])
        if len(row.channels) > 10:
            head += f" +{len(row.channels) - 10}"
    read = f"read {slack_date(_ms(row.last_read_at))}" if row.last_read_at else "not read yet"
    detail = f"{state_counts(dict(row.counts))} · {read}"
    if row.unreadable:
        since = f" since {slack_date(_ms(row.failing_since))}" if row.failing_since else ""
        detail = f":warning: cannot read{since}: {escape(row.unreadable)} · {detail}"
    return truncate(f"{head}\n{detail}", MAX_ROW)


#: Silent problems (their episodes' state is the problem's name), as App Home says them.
_SILENT_WORDS = {"stalled": "stalled", "partitions": "failed partitions", "discarding": "discarding records"}


def alert_row(alert: AlertRow, workspace_url: str | None = None) -> str:
    """One open alert: what is wrong, since when, where, who acknowledged, and a link to the message."""
    if alert.kind == KIND_BLIND:
        names = ", ".join(sorted({f"*{escape(p.stream)}*" for p in alert.problems}))
        what = f":warning: cannot read {names}"
        if alert.reason:
            what += f": {escape(alert.reason)}"
    else:
        worst = min((p.state for p in alert.problems), key=state_rank, default="")
        shown = [
            f"*{escape(p.stream)}* / {escape(p.task)} {escape(_SILENT_WORDS.get(p.state, p.state))}"
            if p.state in PROBLEM_STATES or p.state in _SILENT_WORDS
            else f"*{escape(p.stream)}* / {escape(p.task)} {escape(p.state)} (recovering)"
            for p in alert.problems[:5]
        ]
        more = f" and {len(alert.problems) - 5} more" if len(alert.problems) > 5 else ""
        what = f"{state_emoji(worst)} " + ", ".join(shown) + more
    where = f"since {slack_date(_ms(alert.started_at))} in <#{alert.channel_id}>"
    acked = f" · acked by {quiet_user(alert.acked_by)}" if alert.acked_by else " · not acknowledged"
    link = f" · <{message_link(alert.channel_id, alert.ts, workspace_url)}|open message>" if alert.ts else ""
    return truncate(f"{what}\n{where}{acked}{link}", MAX_ROW)


def pack(rows: Sequence[str], budget: int, noun: str) -> list[dict[str, Any]]:
    """Rows as section blocks within `budget` blocks: one per row when they fit, else several per section.

    When even packed sections cannot hold every row, the last section says how many were left out.
    """
    if budget <= 0 or not rows:
        return []
    if len(rows) <= budget:
        return [section(r) for r in rows]
    limit = MAX_SECTION_TEXT - 200  # room for the closing "and N more" line
    texts: list[str] = []
    current = ""
    shown = 0
    for row in rows:
        candidate = f"{current}\n\n{row}" if current else row
        if len(candidate) <= limit:
            current, shown = candidate, shown + 1
            continue
        if len(texts) + 2 > budget:
            break
        texts.append(current)
        current, shown = row, shown + 1
    texts.append(current)
    left = len(rows) - shown
    if left:
        texts[-1] += f"\n\n_…and {left} more {noun} not shown (a Home tab holds at most {MAX_HOME_BLOCKS} blocks)._"
    return [section(t) for t in texts]


def _summary(overview: HomeOverview) -> str:
    totals: dict[str, int] = {}
    for row in overview.streams:
        for state, n in row.counts.items():
            totals[state] = totals.get(state, 0) + n
    n = len(overview.streams)
    text = f"*{n} stream{'s' if n != 1 else ''} watched* · {state_counts(totals)}"
    unreadable = sum(1 for r in overview.streams if r.unreadable)
    if unreadable:
        text += f" · :warning: {unreadable} unreadable"
    alerts = len(overview.alerts)
    text += f"\n*{alerts} open alert{'s' if alerts != 1 else ''}*" if alerts else "\nNo open alerts."
    return text


def home_view(
    overview: HomeOverview, *, now: float | None = None, workspace_url: str | None = None, prefix: str = "/dis"
) -> dict[str, Any]:
    """The `views.publish` view for the Home tab (at most 100 blocks, whatever the number of streams)."""
    now = time.time() if now is None else now
    where = " · ".join(
        x
        for x in (
            f"project `{escape(overview.project_id)}`" if overview.project_id else "",
            escape(overview.region or ""),
        )
        if x
    )
    updated = f"Updated {slack_date(_ms(now))}; reopen this tab to refresh."
    blocks: list[dict[str, Any]] = [
        header("DIS dump tasks"),
        context(f"{where} · {updated}" if where else updated),
    ]
    if not overview.watching:
        blocks.append(
            section(
                "*Nothing is watched yet.*\nIn a channel, type `"
                + prefix
                + " watch STREAM` to get an alert there when a dump task of STREAM fails, "
                "or `" + prefix + " status` for the whole project at a glance."
            )
        )
        return {"type": "home", "blocks": blocks}

    blocks.append(section(_summary(overview)))
    if overview.wildcard_channels:
        chans = " ".join(f"<#{c}>" for c in overview.wildcard_channels[:20])
        verb = "watches" if len(overview.wildcard_channels) == 1 else "watch"
        blocks.append(context(truncate(f"{chans} {verb} every stream of the project.", MAX_SECTION_TEXT)))

    tail = [divider(), header(f"Watched streams ({len(overview.streams)})")]
    if overview.alerts:
        blocks += [divider(), header(f"Open alerts ({len(overview.alerts)})")]
        room = MAX_HOME_BLOCKS - len(blocks) - len(tail) - 2  # at least one block for the streams, one for the footer
        rows = [alert_row(a, workspace_url) for a in overview.alerts]
        blocks += pack(rows, min(ALERT_BLOCKS, room), "open alerts")
    blocks += tail
    footer = context(
        f"`{prefix} status`: the whole project now · `{prefix} watching` in a channel: its watches · `{prefix} help`"
    )
    rows = [stream_row(r) for r in overview.streams]
    if rows:
        blocks += pack(rows, MAX_HOME_BLOCKS - len(blocks) - 1, "streams")
    else:
        blocks.append(section("No stream has been read yet; the first poll fills this list."))
    blocks.append(footer)
    return {"type": "home", "blocks": blocks}
