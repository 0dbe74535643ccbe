"""The pure lag functions (`bot.dis.lag`): backlog, idle versus stalled, retention left, failed partitions."""

from __future__ import annotations

from typing import Any

import pytest

from bot.dis.lag import partition_key, task_lag
from bot.dis.models import StreamDetail, TaskDetail

NOW = 1_700_000_000.0
MINUTE = 60.0


def stream(*ends: int | None, retention: int | None = 24) -> StreamDetail:
    """A stream whose partition N holds sequence numbers up to `ends[N]` (None: range unknown)."""
    partitions = [
        {"partition_id": f"shardId-{i:010d}", "sequence_number_range": None if end is None else f"[0 : {end}]"}
        for i, end in enumerate(ends)
    ]
    return StreamDetail.model_validate(
        {"stream_name": "orders", "retention_period": retention, "partitions": partitions}
    )


def task(*partitions: dict[str, Any], state: str = "RUNNING") -> TaskDetail:
    """A task with the given partitions (`offset`, `ago` in seconds, `state`, `discard`), ids in order."""
    return TaskDetail.model_validate(
        {
            "task_name": "to-obs",
            "stream_name": "orders",
            "state": state,
            "partitions": [
                {
                    "partitionId": f"shardId-{i:010d}",
                    "state": p.get("state", state),
                    "discard": p.get("discard", 0),
                    "last_transfer_offset": p.get("offset"),
                    "last_transfer_timestamp": None if p.get("ago") is None else int((NOW - p["ago"]) * 1000),
                }
                for i, p in enumerate(partitions)
            ],
        }
    )


def test_backlog_is_range_end_minus_offset_summed() -> None:
    """Each partition waits for its range's end minus its offset; the task waits for the sum."""
    lag = task_lag(task({"offset": 100, "ago": 60}, {"offset": 250, "ago": 60}), stream(300, 400), read_at=NOW)
    assert [p.backlog for p in lag.partitions] == [200, 150] and lag.backlog == 350


def test_backlog_never_goes_below_zero() -> None:
    """An offset past the range's end (the next record to send, or a stale stream read) is a backlog of 0."""
    lag = task_lag(task({"offset": 301, "ago": 60}), stream(300), read_at=NOW)
    assert lag.partitions[0].backlog == 0 and lag.backlog == 0


def test_unknown_ranges_and_missing_partitions_are_unknown_backlogs() -> None:
    """A partition the stream does not describe, or whose range has no end, has an unknown backlog (None)
    that adds nothing to the task's."""
    lag = task_lag(task({"offset": 10}, {"offset": 10}, {"offset": 10}), stream(50, None), read_at=NOW)
    assert [p.backlog for p in lag.partitions] == [40, None, None] and lag.backlog == 40
    assert task_lag(task({"offset": 10}), None, read_at=NOW).partitions[0].backlog is None


def test_a_missing_offset_counts_from_zero_only_before_any_transfer() -> None:
    """A partition that never transferred and reports no offset (or -1) has the whole range waiting; one that
    transferred but reports no offset has an unknown backlog (not the whole range)."""
    assert task_lag(task({}), stream(70), read_at=NOW).backlog == 70
    assert task_lag(task({"offset": -1, "ago": 60}), stream(70), read_at=NOW).backlog == 70
    assert task_lag(task({"ago": 60}), stream(70), read_at=NOW).partitions[0].backlog is None


@pytest.mark.parametrize("key", ["shardId-0000000003", "shardId-3", "3", " 3 "])
def test_partition_ids_are_matched_by_number(key: str) -> None:
    """`shardId-0000000003`, `shardId-3` and `3` are one partition."""
    assert partition_key(key) == "3"


def test_stalled_needs_running_backlog_and_quiet() -> None:
    """RUNNING with records waiting and nothing sent for the threshold is stalled; just under it is not."""
    lag = task_lag(task({"offset": 0, "ago": 47 * MINUTE}), stream(12_340), read_at=NOW)
    assert lag.is_stalled(30 * MINUTE) and lag.idle_seconds() == pytest.approx(47 * MINUTE)
    assert not lag.is_stalled(48 * MINUTE)


def test_nothing_waiting_is_idle_not_stalled() -> None:
    """A task that sent nothing for hours because nothing arrived is idle, not stalled."""
    lag = task_lag(task({"offset": 500, "ago": 5 * 60 * MINUTE}), stream(500), read_at=NOW)
    assert lag.backlog == 0 and lag.idle_seconds() == pytest.approx(5 * 60 * MINUTE)
    assert not lag.is_stalled(30 * MINUTE)


@pytest.mark.parametrize("state", ["PAUSED", "ERROR", "STARTING"])
def test_only_running_tasks_stall(state: str) -> None:
    """A task that is not RUNNING is not stalled, whatever waits (its state already says it does not send)."""
    lag = task_lag(task({"offset": 0, "ago": 3600}, state=state), stream(100), read_at=NOW)
    assert not lag.is_stalled(60)


def test_threshold_zero_turns_stall_detection_off() -> None:
    """`WATCH_STALL_MINUTES=0` means off: nothing is ever stalled."""
    assert not task_lag(task({"offset": 0, "ago": 86_400}), stream(100), read_at=NOW).is_stalled(0)


def test_never_transferred_with_backlog_is_stalled() -> None:
    """A RUNNING task with records waiting that never sent anything is stalled (idle time unknown)."""
    lag = task_lag(task({"offset": 0}), stream(100), read_at=NOW)
    assert lag.idle_seconds() is None and lag.is_stalled(30 * MINUTE)


def test_the_most_recent_partition_transfer_is_the_tasks() -> None:
    """The task's last transfer is its most recent partition's: one moving partition keeps it from stalling."""
    lag = task_lag(task({"offset": 0, "ago": 3 * 3600}, {"offset": 0, "ago": 60}), stream(100, 100), read_at=NOW)
    assert lag.idle_seconds() == pytest.approx(60) and not lag.is_stalled(30 * MINUTE)


def test_retention_left_counts_from_the_oldest_waiting_partition() -> None:
    """Loss starts `retention - (now - last transfer)` away, for the waiting partition that sent longest ago;
    a caught-up partition's old transfer does not count."""
    parts = ({"offset": 10, "ago": 19 * 3600}, {"offset": 90, "ago": 2 * 3600}, {"offset": 100, "ago": 23 * 3600})
    lag = task_lag(task(*parts), stream(100, 100, 100), read_at=NOW)
    assert lag.retention_left_seconds() == pytest.approx(5 * 3600)


def test_retention_passed_is_negative() -> None:
    """Records waiting longer than the retention period: the time left is negative (loss has begun)."""
    lag = task_lag(task({"offset": 0, "ago": 30 * 3600}), stream(100, retention=24), read_at=NOW)
    assert lag.retention_left_seconds() == pytest.approx(-6 * 3600)


def test_retention_left_is_unknown_without_its_inputs() -> None:
    """Nothing waiting, no retention period, or no last transfer: no retention estimate (None)."""
    assert task_lag(task({"offset": 100, "ago": 60}), stream(100), read_at=NOW).retention_left_seconds() is None
    no_period = task_lag(task({"offset": 0, "ago": 60}), stream(100, retention=None), read_at=NOW)
    assert no_period.retention_left_seconds() is None
    assert task_lag(task({"offset": 0}), stream(100), read_at=NOW).retention_left_seconds() is None


def test_failed_summary_names_count_total_and_states() -> None:
    """Two of eight partitions in ERROR read "2 of 8 partitions ERROR"; mixed states are joined."""
    parts = [{"offset": 0, "ago": 60} for _ in range(8)]
    parts[2] = {**parts[2], "state": "ERROR"}
    parts[5] = {**parts[5], "state": "ERROR"}
    assert task_lag(task(*parts), stream(*[0] * 8), read_at=NOW).failed_summary() == "2 of 8 partitions ERROR"
    parts[6] = {**parts[6], "state": "ABNORMAL"}
    lag = task_lag(task(*parts), stream(*[0] * 8), read_at=NOW)
    assert lag.failed_summary() == "3 of 8 partitions ABNORMAL/ERROR" and len(lag.failed_partitions) == 3


def test_healthy_states_are_not_failures() -> None:
    """RUNNING, STARTING, PAUSED (any case) and a missing state are not failed partitions."""
    parts = [{"state": s} for s in ("RUNNING", "starting", "PAUSED", None)]
    lag = task_lag(task(*parts), stream(0, 0, 0, 0), read_at=NOW)
    assert lag.failed_partitions == [] and lag.failed_summary() is None
    one = task_lag(task({"state": "ERROR"}), stream(0), read_at=NOW)
    assert one.failed_summary() == "1 of 1 partition ERROR"


def test_discards_are_summed_and_never_negative() -> None:
    """Discarded records add up over partitions; a negative count from DIS reads as 0."""
    lag = task_lag(task({"discard": 7}, {"discard": 5}, {"discard": -3}), stream(0, 0, 0), read_at=NOW)
    assert lag.discarded == 12 and [p.discard for p in lag.partitions] == [7, 5, 0]
