"""One dump task in detail: state, destination, every partition's progress (backlog, last transfer, discarded
records) and the stream's retention, and (for admins) Start/Stop."""

from __future__ import annotations

import time
from typing import Any

from bot import ids
from bot.blocks.controls import tasks_button, view_actions
from bot.blocks.lag import lag_marks
from bot.blocks.limits import (
    MAX_BLOCKS,
    MAX_FIELDS,
    Message,
    age,
    button,
    chunk_lines,
    confirm_dialog,
    context,
    escape,
    header,
    mrkdwn,
    plain_time,
    section,
    slack_date,
    state_emoji,
    truncate,
)
from bot.dis.lag import TaskLag, partition_key
from bot.dis.models import Partition, TaskDetail, is_problem, state_rank
from bot.ids import TaskRef, View

#: States from which Start makes sense, and from which Stop does.
STARTABLE = frozenset({"PAUSED", "ERROR", "ABNORMAL"})
STOPPABLE = frozenset({"RUNNING", "STARTING", "ERROR", "ABNORMAL"})

_PARTITION_BLOCKS = 20  # room left for partitions after header, facts, destination and actions


def _field(title: str, value: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": truncate(f"*{title}*\n{value}", 2000)}


def _partition_line(p: Partition, now: float, backlog: int | None = None) -> str:
    state = p.state or "-"
    parts = [f"{state_emoji(state) if p.state else '▫️'} `{escape(truncate(p.partition_id, 60))}` {escape(state)}"]
    if backlog:
        parts.append(f"*{backlog:,} waiting*")
    elif backlog == 0:
        parts.append("nothing waiting")
    if p.last_transfer_offset is not None:
        parts.append(f"offset {p.last_transfer_offset:,}")
    if p.discard:
        parts.append(f"*{p.discard:,} discarded*")
    elif p.discard is not None:
        parts.append("0 discarded")
    last = slack_date(p.last_transfer_timestamp)
    if p.last_transfer_timestamp:
        last += f" ({age(p.last_transfer_timestamp, now)})"
    parts.append(f"last transfer {last}")
    return " · ".join(parts)


def _partition_order(p: Partition, backlog: int | None) -> tuple[int, int, int, int, str]:
    # Problems first, then the partitions with the most waiting, those that discard records, the longest without
    # a transfer.
    return (
        state_rank(p.state or ""),
        -(backlog or 0),
        -(p.discard or 0),
        p.last_transfer_timestamp or 0,
        p.partition_id,
    )


def _retention(lag: TaskLag | None) -> str:
    if lag is None or lag.retention_hours is None:
        return "unknown"
    return f"{lag.retention_hours} h"


def task_buttons(ref: TaskRef, state: str) -> list[dict[str, Any]]:
    """Start/Stop buttons for a task in `state`, each behind a confirm dialog."""
    out = []
    value = ref.encode()
    where = f"*{escape(ref.task)}* on stream *{escape(ref.stream)}*"
    if state in STARTABLE or state not in STOPPABLE | {"DELETE"}:
        out.append(
            button(
                "Start",
                ids.TASK_START,
                value,
                style="primary",
                confirm=confirm_dialog("Start this dump task?", f"Start {where}?", "Start"),
            )
        )
    if state in STOPPABLE:
        out.append(
            button(
                "Stop",
                ids.TASK_STOP,
                value,
                style="danger",
                confirm=confirm_dialog(
                    "Stop this dump task?",
                    f"Stop {where}? Data stops being dumped until someone starts it again.",
                    "Stop",
                    danger=True,
                ),
            )
        )
    return out


def task_detail(
    detail: TaskDetail,
    *,
    stream: str,
    view: View | None = None,
    can_act: bool = False,
    result: str | None = None,
    fetched_at: float | None = None,
    now: float | None = None,
    lag: TaskLag | None = None,
    stall_after: float = 0.0,
) -> Message:
    """The message for `/dis task STREAM TASK` and the Details button.

    Args:
        detail: the task as DIS shows it.
        stream: the stream it belongs to.
        view: the view buttons re-run (defaults to `task STREAM TASK`).
        can_act: show Start/Stop (the caller checked DIS_ACTIONS_ENABLED and the admin list).
        result: the outcome of a Start/Stop, shown where the buttons were.
        fetched_at: when `detail` was read (epoch seconds), for the "as of" line.
        now: the clock for ages.
        lag: the task measured against its stream (`bot.dis.lag.task_lag`); without it backlogs are not shown.
        stall_after: `WATCH_STALL_MINUTES` in seconds, for the stalled mark (0: never stalled).
    """
    now = time.time() if now is None else now
    name = detail.task_name
    view = view or View("task", (stream, name))
    state = detail.state
    ref = TaskRef(stream, name, detail.task_id)

    parts = detail.partitions
    discarded = sum(p.discard or 0 for p in parts)
    bad = sum(1 for p in parts if p.state and is_problem(p.state))
    last = slack_date(detail.last_transfer_timestamp)
    if detail.last_transfer_timestamp:
        last += f"\n{age(detail.last_transfer_timestamp, now)}"
    facts = [
        _field("State", f"{state_emoji(state)} {escape(truncate(state, 40))}"),
        _field("Destination", escape(truncate(detail.destination_type or "-", 60))),
        _field("Created", slack_date(detail.create_time)),
        _field("Last transfer", last),
        _field("Partitions", f"{len(parts)}" + (f" ({bad} with problems)" if bad else "")),
        _field("Discarded records", f"{discarded:,}"),
    ]
    backlogs = {partition_key(p.partition_id): p.backlog for p in lag.partitions} if lag else {}
    if lag is not None:
        known = any(b is not None for b in backlogs.values())
        facts.append(_field("Waiting records", f"{lag.backlog:,}" if known else "unknown"))
        facts.append(_field("Stream retention", _retention(lag)))
    if detail.task_id:
        facts.append(_field("Task ID", f"`{escape(truncate(detail.task_id, 100))}`"))

    blocks: list[dict[str, Any]] = [
        header(f"{stream} / {name}"),
        {
            "type": "section",
            "text": mrkdwn(f"Dump task *{escape(name)}* on stream *{escape(stream)}*"),
            "fields": facts,
        },
    ]
    marks = lag_marks(lag, stall_after, now)
    if marks:
        blocks.append(section("\n".join(marks)))
    dest = [
        _field(str(k).replace("_", " "), escape(truncate(str(v), 200)))
        for k, v in detail.destination.items()
        if isinstance(v, str | int | float | bool) and str(v) != ""
    ]
    if dest:
        blocks.append({"type": "section", "text": mrkdwn("*Destination settings*"), "fields": dest[:MAX_FIELDS]})

    if parts:

        def backlog(p: Partition) -> int | None:
            return backlogs.get(partition_key(p.partition_id))

        ordered = sorted(parts, key=lambda p: _partition_order(p, backlog(p)))
        lines = [_partition_line(p, now, backlog(p)) for p in ordered]
        texts = chunk_lines(lines)
        shown_texts = texts[:_PARTITION_BLOCKS]
        blocks.extend(section(t) for t in shown_texts)
        shown = sum(t.count("\n") + 1 for t in shown_texts)
        if shown < len(parts):
            blocks.append(
                context(f"…and {len(parts) - shown} more partitions (problems, backlogs and oldest transfers first).")
            )
    else:
        blocks.append(section("DIS lists no partitions for this task."))

    if fetched_at is not None:
        blocks.append(context(f"as of {slack_date(int(fetched_at * 1000), '{date_short_pretty} {time_secs}')}"))
    if result:
        blocks.append(section(result, block_id=ids.ACTION_RESULT))
    extra = [tasks_button(stream, "All tasks")]
    if can_act and not result:
        extra += task_buttons(ref, state)
    blocks.append(view_actions(view, *extra))
    blocks = blocks[: MAX_BLOCKS - 1] + blocks[-1:] if len(blocks) > MAX_BLOCKS else blocks

    fallback = (
        escape(f"{stream}/{name}: {state}") + f", {len(parts)} partition(s), {discarded:,} discarded, last transfer "
    )
    fallback += plain_time(detail.last_transfer_timestamp)
    if lag is not None:
        fallback += f", {lag.backlog:,} waiting"
    if result:
        fallback += f". {result}"
    return Message(truncate(fallback, 3000), blocks)
