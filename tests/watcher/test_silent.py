"""The pure judgement of silent problems (bot/watcher/silent.py): stalls with their retention buckets, failed
partitions and discards, from one deep read and the channel's open episodes."""

from __future__ import annotations

from typing import Any

from bot.dis.lag import task_lag
from bot.dis.models import StreamDetail, TaskDetail
from bot.store.base import PROBLEM_DISCARDING, PROBLEM_PARTITIONS, PROBLEM_STALLED, Episode
from bot.watcher.silent import (
    BUCKET_1H,
    BUCKET_6H,
    BUCKET_LOST,
    BUCKET_OK,
    Action,
    Reading,
    discard_growth,
    judge,
    retention_bucket,
)

NOW = 1_700_000_000.0
STALL = 30 * 60.0


def reading(
    *,
    ends: tuple[int, ...] = (100, 100),
    offsets: tuple[int, ...] = (100, 100),
    idle: float = 60.0,
    states: tuple[str, ...] = ("RUNNING", "RUNNING"),
    discard: int = 0,
    retention: int = 24,
    growth: int = 0,
    described: bool = True,
) -> Reading:
    last_ms = int((NOW - idle) * 1000)
    detail = TaskDetail(
        task_name="to-obs",
        state="RUNNING",
        partitions=[
            {
                "partitionId": f"shardId-{i:010d}",
                "state": states[i],
                "discard": discard if i == 0 else 0,
                "last_transfer_timestamp": last_ms,
                "last_transfer_offset": offsets[i],
            }
            for i in range(len(offsets))
        ],
    )
    stream = StreamDetail(
        stream_name="orders",
        retention_period=retention,
        partitions=[
            {"partition_id": f"shardId-{i:010d}", "sequence_number_range": f"[0 : {end}]"} for i, end in enumerate(ends)
        ],
    )
    lag = task_lag(detail, stream if described else None, read_at=NOW)
    return Reading(lag, NOW, STALL, STALL, discard_growth=growth, discard_since=NOW - 900 if growth else None)


def episode(problem: str, **detail: Any) -> Episode:
    return Episode(1, "C1", "orders", "to-obs", problem=problem, state=problem, started_at=NOW - 600, detail=detail)


def test_retention_buckets() -> None:
    """More than 6 h is fine, then the 6 h and 1 h buckets, then loss has begun; unknown stays unknown."""
    assert [retention_bucket(x) for x in (7 * 3600, 6 * 3600, 3601, 3600, 1, 0, -5)] == [
        BUCKET_OK,
        BUCKET_6H,
        BUCKET_6H,
        BUCKET_1H,
        BUCKET_1H,
        BUCKET_LOST,
        BUCKET_LOST,
    ]
    assert retention_bucket(None) == "unknown"


def test_a_stall_opens_with_its_backlog_and_retention() -> None:
    """Records waiting and no transfer for the threshold open a stalled episode with backlog and loss time."""
    [d] = judge(reading(ends=(500, 300), offsets=(100, 100), idle=47 * 60), {})
    assert (d.action, d.problem) == (Action.OPEN, PROBLEM_STALLED)
    assert d.detail["backlog"] == 600 and d.detail["bucket"] == BUCKET_OK
    assert d.detail["loss_at"] == NOW + 24 * 3600 - 47 * 60


def test_an_idle_task_with_nothing_waiting_is_not_stalled() -> None:
    """A task with no backlog is idle, however old its last transfer."""
    assert judge(reading(idle=10 * 3600), {}) == []


def test_a_recent_transfer_is_not_a_stall() -> None:
    """Records waiting but a transfer within the threshold: no problem."""
    assert judge(reading(ends=(500, 500), idle=29 * 60), {}) == []


def test_an_unknown_backlog_neither_opens_nor_ends_a_stall() -> None:
    """Without the stream's description the backlog is unknown: no stall is opened, an open one stays."""
    assert judge(reading(ends=(500, 500), idle=3600, described=False), {}) == []
    open_ = {PROBLEM_STALLED: episode(PROBLEM_STALLED, backlog=400, last_transfer_ms=0, bucket=BUCKET_OK)}
    assert judge(reading(idle=3600, described=False), open_) == []


def test_a_steady_stall_edits_nothing_and_a_bucket_change_edits() -> None:
    """The alert is edited only when the retention bucket changes."""
    idle = 20 * 3600
    last = int((NOW - idle) * 1000)
    steady = {PROBLEM_STALLED: episode(PROBLEM_STALLED, backlog=800, last_transfer_ms=last, bucket=BUCKET_6H)}
    assert judge(reading(ends=(500, 500), idle=idle), steady) == []
    later = reading(ends=(500, 500), idle=23.5 * 3600)
    old = {
        PROBLEM_STALLED: episode(
            PROBLEM_STALLED, backlog=800, last_transfer_ms=int((NOW - 23.5 * 3600) * 1000), bucket=BUCKET_6H
        )
    }
    [d] = judge(later, old)
    assert (d.action, d.detail["bucket"], d.edit) == (Action.UPDATE, BUCKET_1H, True)
    lost = reading(ends=(500, 500), idle=25 * 3600, retention=24)
    old_lost = {
        PROBLEM_STALLED: episode(PROBLEM_STALLED, last_transfer_ms=int((NOW - 25 * 3600) * 1000), bucket=BUCKET_1H)
    }
    [d] = judge(lost, old_lost)
    assert d.detail["bucket"] == BUCKET_LOST


def test_a_stall_ends_when_data_moves_or_the_backlog_clears() -> None:
    """A transfer after the stall ends it with what still waits; a backlog of 0 ends it as cleared."""
    before = int((NOW - 3600) * 1000)
    open_ = {PROBLEM_STALLED: episode(PROBLEM_STALLED, backlog=800, last_transfer_ms=before, bucket=BUCKET_OK)}
    [moved] = judge(reading(ends=(500, 500), offsets=(400, 400), idle=5), open_)
    assert (moved.action, moved.detail["backlog"], moved.detail["cleared"]) == (Action.CLOSE, 200, False)
    [cleared] = judge(reading(idle=3600), open_)
    assert (cleared.action, cleared.detail["cleared"]) == (Action.CLOSE, True)


def test_failed_partitions_open_change_and_end() -> None:
    """One failed partition of two opens "1 of 2 partitions ERROR"; a second edits it; all OK ends it once they
    stayed OK for the quiet time, dated when they were first seen OK; failing again meanwhile keeps it open."""
    [d] = judge(reading(states=("ERROR", "RUNNING")), {})
    assert (d.action, d.problem, d.detail["summary"]) == (Action.OPEN, PROBLEM_PARTITIONS, "1 of 2 partitions ERROR")
    open_ = {PROBLEM_PARTITIONS: episode(PROBLEM_PARTITIONS, **d.detail)}
    assert judge(reading(states=("ERROR", "RUNNING")), open_) == []
    [worse] = judge(reading(states=("ERROR", "ABNORMAL")), open_)
    assert (worse.action, worse.detail["summary"]) == (Action.UPDATE, "2 of 2 partitions ABNORMAL/ERROR")
    [healed] = judge(reading(), open_)
    assert (healed.action, healed.edit, healed.detail["ok_at"]) == (Action.UPDATE, False, NOW)  # quietly noted
    waiting = {PROBLEM_PARTITIONS: episode(PROBLEM_PARTITIONS, **healed.detail)}
    assert judge(reading(), waiting) == []  # OK, not yet for the quiet time (the reading's now is the same)
    confirmed = {PROBLEM_PARTITIONS: episode(PROBLEM_PARTITIONS, **{**healed.detail, "ok_at": NOW - STALL})}
    [ended] = judge(reading(), confirmed)
    assert (ended.action, ended.ended_at) == (Action.CLOSE, NOW - STALL)  # ended when first seen OK
    [again] = judge(reading(states=("ERROR", "RUNNING")), waiting)  # failed again before: the same problem
    assert (again.action, again.edit, "ok_at" in again.detail) == (Action.UPDATE, False, False)


def test_discards_baseline_growth_and_quiet_end() -> None:
    """The first count is a baseline; growth opens with the count since the previous read and later growth adds
    to the total; the problem ends after the quiet time without growth."""
    assert discard_growth(None, 5000) == 0 and discard_growth(5000, 4000) == 0 and discard_growth(5000, 6204) == 1204
    [d] = judge(reading(discard=6204, growth=1204), {})
    assert (d.action, d.problem, d.detail["total"], d.detail["since"]) == (
        Action.OPEN,
        PROBLEM_DISCARDING,
        1204,
        NOW - 900,
    )
    open_ = {PROBLEM_DISCARDING: episode(PROBLEM_DISCARDING, **d.detail)}
    [more] = judge(reading(discard=6300, growth=96), open_)
    assert (more.action, more.detail["total"]) == (Action.UPDATE, 1300)
    assert judge(reading(discard=6204), open_) == []  # quiet for 0 s so far
    quiet = {PROBLEM_DISCARDING: episode(PROBLEM_DISCARDING, **{**d.detail, "grew_at": NOW - STALL})}
    [ended] = judge(reading(discard=6204), quiet)
    assert ended.action == Action.CLOSE


def test_a_task_whose_details_are_not_running_is_not_judged() -> None:
    """A details read that says another state than RUNNING decides nothing (the list read does)."""
    r = reading(ends=(500, 500), idle=3600)
    stopped = Reading(r.lag.__class__(**{**r.lag.__dict__, "state": "ERROR"}), NOW, STALL, STALL)
    assert judge(stopped, {}) == []
