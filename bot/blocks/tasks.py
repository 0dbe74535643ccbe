"""A stream's dump tasks as a Slack message: summary, then the tasks, problem states first, paged within limits."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from bot.blocks.controls import details_button, page_buttons, view_actions
from bot.blocks.lag import failed_mark, is_silent_failure, lag_marks
from bot.blocks.limits import (
    Message,
    age,
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
from bot.dis.lag import TaskLag
from bot.dis.models import TaskList, TransferTask, is_problem, state_rank
from bot.ids import TaskRef, View

#: Tasks shown per message: header, summary, as-of, divider, 40 tasks, "more" line and actions = 46 of 50 blocks.
PAGE_SIZE = 40


def state_counts(counts: dict[str, int], *, emoji: bool = True) -> str:
    """ "3 :red_circle: ERROR · 196 :large_green_circle: RUNNING" in display order (problems first)."""
    if not counts:
        return "no tasks"
    parts = []
    for state, n in counts.items():
        shown = escape(truncate(state, 40))
        parts.append(f"{n} {state_emoji(state)} {shown}" if emoji else f"{n} {shown}")
    return " · ".join(parts)


def task_line(task: TransferTask, now: float, marks: list[str] | None = None) -> str:
    """One task: emoji, name, state, destination, created, last transfer with its age, then its lag marks."""
    name = escape(task.task_name)
    state = escape(truncate(task.state, 40))
    dest = escape(truncate(task.destination_type or "-", 40))
    last = slack_date(task.last_transfer_timestamp)
    if task.last_transfer_timestamp:
        last += f" ({age(task.last_transfer_timestamp, now)})"
    line = (
        f"{state_emoji(task.state)} *{name}* `{state}`\n"
        f"{dest} · created {slack_date(task.create_time)} · last transfer {last}"
    )
    return line + "".join(f"\n{mark}" for mark in marks or ())


def attention_order(
    result: TaskList, lags: Mapping[str, TaskLag], stall_after: float, now: float
) -> list[TransferTask]:
    """Problem states first, then the silent failures (stalled, failed partitions), then the rest, by name."""

    def key(task: TransferTask) -> tuple[int, int, str]:
        if is_problem(task.state):
            return (0, state_rank(task.state), task.task_name)
        if is_silent_failure(lags.get(task.task_name), stall_after, now):
            return (1, 0, task.task_name)
        return (2, state_rank(task.state), task.task_name)

    return sorted(result.tasks, key=key)


def fallback(result: TaskList, silent: frozenset[str] = frozenset()) -> str:
    """The plain `text` of a task list: notifications and screen readers see this.

    Args:
        silent: names of the tasks that fail silently (stalled, failed partitions): they need attention too.
    """
    counts = state_counts(result.counts(), emoji=False)
    # Names come from DIS: inert in the fallback too (the counts are escaped by `state_counts`).
    problems = [escape(t.task_name) for t in result.sorted_tasks() if is_problem(t.state) or t.task_name in silent]
    as_of = plain_time(int(result.fetched_at * 1000))
    text = f"{escape(result.stream)}: {len(result.tasks)} dump task(s) ({counts}) as of {as_of}"
    if problems:
        shown = ", ".join(problems[:10]) + (f" and {len(problems) - 10} more" if len(problems) > 10 else "")
        text += f". Needs attention: {shown}"
    return truncate(text, 3000)


def task_list(
    result: TaskList,
    *,
    view: View | None = None,
    prefix: str = "/dis",
    now: float | None = None,
    page_size: int = PAGE_SIZE,
    lags: Mapping[str, TaskLag] | None = None,
    stall_after: float = 0.0,
) -> Message:
    """The message for `/dis tasks STREAM`.

    Args:
        result: the stream's tasks as read from DIS.
        view: the view (with its page offset) this message shows; buttons re-run it.
        prefix: "/dis" or "@dis-bot", for the hint on how to see one task.
        now: the clock for ages (tests pin it).
        page_size: tasks per message (at most 40 keeps every message within 50 blocks).
        lags: what deep reads found, by task name (`bot.services.lag.stream_lags`); absent tasks are unmarked.
        stall_after: `WATCH_STALL_MINUTES` in seconds (0: nothing is marked stalled).
    """
    now = time.time() if now is None else now
    view = view or View("tasks", (result.stream,))
    lags = lags or {}
    tasks = attention_order(result, lags, stall_after, now)
    silent = frozenset(t.task_name for t in tasks if is_silent_failure(lags.get(t.task_name), stall_after, now))
    total = len(tasks)
    offset = min(view.offset, max(0, total - 1)) if total else 0
    page = tasks[offset : offset + page_size]

    summary = f"*{total}* dump task{'s' if total != 1 else ''}: {state_counts(result.counts())}"
    extra = []
    if result.total_number and result.total_number != total:
        extra.append(f"DIS reports {result.total_number} in total")
    if result.quota is not None:
        extra.append(f"quota {result.quota}")
    if extra:
        summary += " (" + ", ".join(extra) + ")"
    if silent:
        summary += f"\n{silent_summary([lags[name] for name in sorted(silent)], stall_after, now)}"
    as_of = f"as of {slack_date(int(result.fetched_at * 1000), '{date_short_pretty} {time_secs}')}"

    blocks: list[dict[str, Any]] = [
        header(f"Dump tasks of {result.stream}"),
        section(summary),
        context(as_of),
        divider(),
    ]
    if not tasks:
        blocks.append(section("This stream has no dump tasks."))
    for task in page:
        ref = TaskRef(result.stream, task.task_name, task.task_id)
        marks = lag_marks(lags.get(task.task_name), stall_after, now)
        blocks.append(section(task_line(task, now, marks), accessory=details_button(ref)))
    if total > len(page):
        first, last = offset + 1, offset + len(page)
        blocks.append(
            context(
                f"Showing {first}-{last} of {total} tasks, problems first. Use *Next* / *Previous* for the others, "
                f"or `{prefix} task {escape(result.stream)} TASK` for one task."
            )
        )
    blocks.append(view_actions(view, *page_buttons(View(view.command, view.args, offset), total, page_size)))
    return Message(fallback(result, silent), blocks)


def silent_summary(lags: list[TaskLag], stall_after: float, now: float) -> str:
    """ "Failing silently: 1 stalled · 1 with failed partitions" for the summary line."""
    stalled = sum(1 for lag in lags if lag.is_stalled(stall_after, now))
    failed = sum(1 for lag in lags if failed_mark(lag))
    parts = [f"{stalled} stalled"] * bool(stalled) + [f"{failed} with failed partitions"] * bool(failed)
    return "Failing silently: " + " · ".join(parts)
