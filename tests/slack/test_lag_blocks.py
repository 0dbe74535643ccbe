"""The lag marks in the block builders: their wording, and Slack's limits with every task or partition marked."""

from __future__ import annotations

from bot.blocks.lag import about, lag_marks
from bot.blocks.status import StreamRead, status_overview
from bot.blocks.task_detail import task_detail
from bot.blocks.tasks import task_list
from bot.dis.lag import TaskLag, task_lag
from bot.dis.models import StreamDetail, TaskDetail, TaskList, TransferTask
from tests.slack.blockkit import all_text, validate_message

NOW = 1_700_000_000.0
STALL = 30 * 60.0
LONG = "t" * 60


def lag_of(
    name: str, *, partitions: int = 8, failed: int = 0, ago: float | None = 47 * 60, waiting: int = 100
) -> TaskLag:
    """A RUNNING task's lag: `failed` partitions in ERROR, each partition `waiting` behind, last sent `ago` s."""
    stamp = None if ago is None else int((NOW - ago) * 1000)
    detail = TaskDetail.model_validate(
        {
            "task_name": name,
            "state": "RUNNING",
            "partitions": [
                {
                    "partitionId": f"shardId-{i:010d}",
                    "state": "ERROR" if i < failed else "RUNNING",
                    "discard": i,
                    "last_transfer_offset": 1000,
                    "last_transfer_timestamp": stamp,
                }
                for i in range(partitions)
            ],
        }
    )
    stream = StreamDetail.model_validate(
        {
            "stream_name": "s",
            "retention_period": 24,
            "partitions": [
                {"partition_id": f"shardId-{i:010d}", "sequence_number_range": f"[0 : {1000 + waiting}]"}
                for i in range(partitions)
            ],
        }
    )
    return task_lag(detail, stream, read_at=NOW)


def test_marks_say_stalled_failed_and_retention() -> None:
    """One task stalled 19 h with 800 waiting and two failed partitions gets three marks, most urgent first."""
    marks = lag_marks(lag_of("t", failed=2, ago=19 * 3600), STALL, NOW)
    assert marks == [
        "⏳ stalled 19 h, 800 waiting",
        ":warning: 2 of 8 partitions ERROR",
        ":hourglass: unsent records start to be lost in about 5 h",
    ]


def test_a_task_that_never_sent_is_stalled_without_a_duration() -> None:
    """No last transfer at all, records waiting: "stalled, never transferred"."""
    assert lag_marks(lag_of("t", ago=None), STALL, NOW) == ["⏳ stalled, never transferred, 800 waiting"]


def test_estimates_are_rounded() -> None:
    """Retention estimates round to hours above an hour, to minutes below, one minute at least."""
    assert [about(s) for s in (4 * 3600 + 40 * 60, 3600, 40 * 60 + 20, 5)] == ["5 h", "1 h", "40 min", "1 min"]
    assert about(3580) == "1 h"  # 59.7 min rounds to 60: an hour, not "60 min"


def test_a_task_list_with_every_task_marked_stays_within_limits() -> None:
    """Forty tasks with long names, each stalled with failed partitions and a retention warning: one valid page."""
    tasks = [TransferTask(task_name=f"{LONG}{i:02d}", state="RUNNING", last_transfer_timestamp=1) for i in range(45)]
    result = TaskList(stream="s" * 64, tasks=tasks, fetched_at=NOW)
    lags = {t.task_name: lag_of(t.task_name, failed=3, ago=23 * 3600, waiting=10**9) for t in tasks}
    message = task_list(result, lags=lags, stall_after=STALL, now=NOW)
    validate_message(message)
    text = all_text(message)
    assert text.count("⏳ stalled 23 h, 8,000,000,000 waiting") == 40
    assert "Failing silently: 45 stalled · 45 with failed partitions" in text


def test_status_with_silent_failures_everywhere_stays_within_limits() -> None:
    """1000 streams, each with a stalled task and a task with failed partitions: within 50 blocks, counted."""
    reads = []
    for i in range(1000):
        name = f"stream-{i:04d}"
        tasks = [TransferTask(task_name=f"{name}-{k}", state="RUNNING") for k in range(3)]
        lags = {tasks[0].task_name: lag_of(tasks[0].task_name), tasks[1].task_name: lag_of("x", failed=1, waiting=0)}
        reads.append(StreamRead(name, tasks=TaskList(stream=name, tasks=tasks), lags=lags))
    message = status_overview(reads, project="p1", now=NOW, stall_after=STALL)
    validate_message(message)
    text = all_text(message)
    assert "2000 tasks need attention" in text and "more streams with problems" in text
    assert "Failing silently: 1000 stalled · 1000 with failed partitions" in text


def test_task_detail_orders_failed_then_waiting_partitions() -> None:
    """Failed partitions first, then the ones with the most waiting, in a valid message for 1000 partitions."""
    parts = [
        {
            "partitionId": f"shardId-{i:010d}",
            "state": "ERROR" if i == 999 else "RUNNING",
            "last_transfer_offset": 1100 - (i % 10),
            "last_transfer_timestamp": int(NOW * 1000) - 60_000,
        }
        for i in range(1000)
    ]
    detail = TaskDetail.model_validate({"task_name": "t", "state": "RUNNING", "partitions": parts})
    stream = StreamDetail.model_validate(
        {
            "stream_name": "s",
            "retention_period": 24,
            "partitions": [
                {"partition_id": f"shardId-{i:010d}", "sequence_number_range": "[0 : 1100]"} for i in range(1000)
            ],
        }
    )
    lag = task_lag(detail, stream, read_at=NOW)
    message = task_detail(detail, stream="s", now=NOW, lag=lag, stall_after=STALL)
    validate_message(message)
    lines = [line for line in all_text(message).splitlines() if "`shardId-" in line]
    assert "shardId-0000000999" in lines[0]
    waiting = [int(line.split("*")[1].split()[0]) if "waiting*" in line else 0 for line in lines[1:]]
    assert waiting == sorted(waiting, reverse=True) and waiting[0] == 9 and len(set(waiting)) > 1
    assert "more partitions" in all_text(message)
