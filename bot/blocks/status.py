"""The whole project at a glance: only what is not healthy is listed, everything else is counted.

Unhealthy: a state that is not a known healthy one (ERROR, ABNORMAL, anything new), or a task that fails silently
(stalled, failed partitions) by the deep reads `bot.commands.status` made.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.blocks.controls import view_actions
from bot.blocks.lag import is_silent_failure, lag_marks
from bot.blocks.limits import (
    MAX_BLOCKS,
    Message,
    age,
    chunk_lines,
    context,
    divider,
    escape,
    header,
    plain_time,
    section,
    slack_date,
    state_emoji,
    truncate,
)
from bot.blocks.tasks import silent_summary, state_counts
from bot.dis.lag import TaskLag
from bot.dis.models import TaskList, TransferTask, state_rank
from bot.ids import View

#: States that count as healthy or deliberate: counted, not listed.
HEALTHY = frozenset({"RUNNING", "PAUSED", "STARTING", "DELETE"})


@dataclass(frozen=True)
class StreamRead:
    """One stream's part of the status: its tasks (and the lag of those deep-read), or why they could not be read."""

    stream: str
    tasks: TaskList | None = None
    error: str | None = None
    lags: Mapping[str, TaskLag] = field(default_factory=dict)


def needs_attention(task: TransferTask) -> bool:
    """ERROR, ABNORMAL and any state DIS invents later are listed; the known healthy ones are counted."""
    return task.state not in HEALTHY


def _task_line(task: TransferTask, now: float, marks: list[str] | None = None) -> str:
    last = "never transferred"
    if task.last_transfer_timestamp:
        last = f"last transfer {age(task.last_transfer_timestamp, now)}"
    line = f"{state_emoji(task.state)} *{escape(task.task_name)}* `{escape(truncate(task.state, 40))}` · {last}"
    return " · ".join([line, *(marks or ())])


def _attention_key(task: TransferTask) -> tuple[int, str]:
    # A silent failure is RUNNING (rank 5): list it right after the states DIS admits to.
    return (min(state_rank(task.state), 2), task.task_name)


def status_overview(
    reads: Sequence[StreamRead],
    *,
    project: str,
    region: str | None = None,
    prefix: str = "/dis",
    as_of: float | None = None,
    now: float | None = None,
    stall_after: float = 0.0,
) -> Message:
    """The message for `/dis status`: a summary, the unhealthy tasks by stream, the streams that failed to read.

    Args:
        stall_after: `WATCH_STALL_MINUTES` in seconds, for judging the reads' lags (0: nothing is stalled).
    """
    now = time.time() if now is None else now
    as_of = now if as_of is None else as_of
    ok_reads = [r for r in reads if r.tasks is not None]
    failed = [r for r in reads if r.tasks is None]
    totals: dict[str, int] = {}
    problem_streams: list[tuple[str, list[TransferTask], int]] = []
    lags: dict[tuple[str, str], TaskLag] = {}
    silent: list[TaskLag] = []
    for r in ok_reads:
        assert r.tasks is not None
        for t in r.tasks.tasks:
            totals[t.state] = totals.get(t.state, 0) + 1
            if (lag := r.lags.get(t.task_name)) is not None:
                lags[(r.stream, t.task_name)] = lag
                if not needs_attention(t) and is_silent_failure(lag, stall_after, now):
                    silent.append(lag)
        bad = sorted(
            (
                t
                for t in r.tasks.tasks
                if needs_attention(t) or is_silent_failure(r.lags.get(t.task_name), stall_after, now)
            ),
            key=_attention_key,
        )
        if bad:
            problem_streams.append((r.stream, bad, len(r.tasks.tasks)))
    totals = dict(sorted(totals.items(), key=lambda kv: state_rank(kv[0])))
    problem_streams.sort(key=lambda sbn: (min(_attention_key(t)[0] for t in sbn[1]), sbn[0]))
    n_tasks = sum(totals.values())
    n_bad = sum(len(b) for _, b, _ in problem_streams)

    where = f"project `{escape(project)}`" + (f" ({escape(region)})" if region else "")
    blocks: list[dict[str, Any]] = [header("DIS status")]
    if n_bad:
        headline = (
            f":rotating_light: *{n_bad} task{'s' if n_bad != 1 else ''} need attention* in {len(problem_streams)} "
        )
        headline += f"stream{'s' if len(problem_streams) != 1 else ''}"
    elif ok_reads:
        headline = ":white_check_mark: *Every dump task is healthy*"
    else:
        headline = ":grey_question: *No stream could be read*" if failed else "*This project has no streams*"
    summary = f"{headline}\n{len(reads)} streams · {n_tasks} tasks: {state_counts(totals)}"
    if silent:
        summary += f"\n{silent_summary(silent, stall_after, now)}"
    if failed:
        summary += f"\n:warning: {len(failed)} stream{'s' if len(failed) != 1 else ''} could not be read"
    blocks.append(section(summary))
    blocks.append(context(f"{where} · as of {slack_date(int(as_of * 1000), '{date_short_pretty} {time_secs}')}"))

    # Reserve: the "more" line, failures (up to 2 sections), context hint, actions.
    budget = MAX_BLOCKS - len(blocks) - 6
    listed_streams = 0
    if problem_streams:
        blocks.append(divider())
        budget -= 1
    for stream, bad, count in problem_streams:
        lines = [f"*{escape(stream)}* · {len(bad)} of {count} tasks"]
        lines += [_task_line(t, now, lag_marks(lags.get((stream, t.task_name)), stall_after, now)) for t in bad[:15]]
        if len(bad) > 15:
            lines.append(f"…and {len(bad) - 15} more: `{prefix} tasks {escape(stream)}`")
        texts = chunk_lines(lines)
        if len(texts) > budget:
            break
        blocks.extend(section(t) for t in texts)
        budget -= len(texts)
        listed_streams += 1
    if listed_streams < len(problem_streams):
        rest = problem_streams[listed_streams:]
        names = ", ".join(escape(s) for s, _, _ in rest[:30]) + (" …" if len(rest) > 30 else "")
        blocks.append(context(truncate(f"…and {len(rest)} more streams with problems: {names}", 2000)))
    if failed:
        lines = [f"• *{escape(r.stream)}*: {escape(r.error or 'could not be read')}" for r in failed]
        texts = chunk_lines([":warning: *Could not read:*", *lines])
        blocks.extend(section(t) for t in texts[:2])
        if len(texts) > 2:
            blocks.append(context(f"…{len(failed)} unreadable streams in all."))
    blocks = blocks[: MAX_BLOCKS - 1]
    blocks.append(view_actions(View("status")))

    text = f"DIS status: {n_bad} task(s) need attention in {len(problem_streams)} stream(s); "
    text += f"{len(reads)} streams, {n_tasks} tasks"
    if failed:
        text += f"; {len(failed)} stream(s) could not be read"
    text += f" (as of {plain_time(int(as_of * 1000))})"
    return Message(truncate(text, 3000), blocks)
