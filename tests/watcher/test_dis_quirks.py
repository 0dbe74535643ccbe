"""What real DIS (and a bad day) can send to the watcher's deep reads, through the simulator over HTTP: quirky but
valid answers (`sim.rewrite` edits one field of a real answer) and refused ones (`sim.fail_next`). No false alert,
no missed one where the data says so, no crash, and the watcher keeps running.
"""

from __future__ import annotations

from typing import Any

from bot.dis.simulator import SimTask
from bot.store.base import PROBLEM_DISCARDING, PROBLEM_STALLED
from tests.watcher.conftest import MakeRig, Rig
from tests.watcher.test_silent_alerts import HOUR, MINUTE, stalled_alert, stream_with_data


def description(rig: Rig) -> str:
    return f"/v2/{rig.sim.project_id}/streams/orders"


def details(rig: Rig, task: str = "to-obs") -> str:
    return f"/v2/{rig.sim.project_id}/streams/orders/transfer-tasks/{task}"


def each_partition(edit: Any) -> Any:
    """A rewrite that edits every partition of an answer (`edit(index, partition)`)."""

    def rewrite(body: dict[str, Any]) -> dict[str, Any]:
        for i, part in enumerate(body.get("partitions") or []):
            edit(i, part)
        return body

    return rewrite


async def problems(rig: Rig) -> list[str]:
    return sorted(ep.problem for ep in await rig.store.open_episodes())


async def test_a_stall_is_found_beside_an_expired_partition_with_no_range(rig: Rig) -> None:
    """A scaled-down stream: partition 1 is EXPIRED and holds nothing (`"[ : ]"`, or null); the task still lists
    it. Partition 0's waiting records are still a stall."""

    def expired(i: int, part: dict[str, Any]) -> None:
        if i == 1:
            part.update(status="EXPIRED", sequence_number_range="[ : ]")

    stream_with_data(rig, "to-obs")
    rig.sim.rewrite(description(rig), each_partition(expired), exact=True)
    await rig.watch("orders")
    await stalled_alert(rig)
    assert await problems(rig) == [PROBLEM_STALLED]


async def test_a_task_partition_on_an_expired_stream_partition_is_not_a_failed_partition(make_rig: MakeRig) -> None:
    """After a scale-down the stream lists partition 1 as EXPIRED with nothing left, and the task reports that
    partition in another state than RUNNING: there is nothing to send there, so no "1 of 2 partitions" alert."""
    rig = make_rig(WATCH_DEEP_INTERVAL_SECONDS=60)

    def expired(i: int, part: dict[str, Any]) -> None:
        if i == 1:
            part.update(status="EXPIRED", sequence_number_range="[ : ]")

    def task_side(i: int, part: dict[str, Any]) -> None:
        if i == 1:
            part["state"] = "EXPIRED"

    stream_with_data(rig, "to-obs")
    rig.sim.rewrite(description(rig), each_partition(expired), exact=True)
    rig.sim.rewrite(details(rig), each_partition(task_side))
    await rig.watch("orders")
    for _ in range(3):
        rig.clock.advance(61)
        await rig.cycle()
    assert await problems(rig) == [] and rig.posts() == []


async def test_a_stall_is_found_when_the_stream_no_longer_lists_a_task_partition(rig: Rig) -> None:
    """The task reports a partition the stream description leaves out (deleted after a scale-down): the other
    partition's waiting records still make a stall."""

    def drop_last(body: dict[str, Any]) -> dict[str, Any]:
        body["partitions"] = body["partitions"][:1]
        return body

    stream_with_data(rig, "to-obs")
    rig.sim.rewrite(description(rig), drop_last, exact=True)
    await rig.watch("orders")
    await stalled_alert(rig)
    assert await problems(rig) == [PROBLEM_STALLED]


async def test_an_unknown_partition_does_not_end_a_stall_as_cleared(rig: Rig) -> None:
    """With one partition's backlog unknown, the known ones at 0 do not prove the backlog cleared."""
    stream_with_data(rig, "to-obs")
    await rig.watch("orders")
    rig.sim.stall("orders", "to-obs")
    rig.sim.produce("orders", 400, partition=1)
    rig.clock.advance(47 * MINUTE)
    await rig.cycle()
    assert await problems(rig) == [PROBLEM_STALLED]

    def unknown(i: int, part: dict[str, Any]) -> None:
        if i == 1:
            part["sequence_number_range"] = None

    rig.sim.rewrite(description(rig), each_partition(unknown), exact=True)
    rig.clock.advance(16 * MINUTE)  # past a deep slot
    await rig.cycle()
    assert await problems(rig) == [PROBLEM_STALLED] and rig.replies() == []


async def test_a_new_task_that_has_not_delivered_yet_is_not_stalled(rig: Rig) -> None:
    """A task created a minute ago with records waiting and no transfer yet (timestamps 0) is not stalled; it is
    once WATCH_STALL_MINUTES pass from its creation without a transfer."""
    stream_with_data(rig, "to-obs")
    await rig.watch("orders")
    created = int(rig.clock() * 1000) - 60_000

    def never(body: dict[str, Any]) -> dict[str, Any]:
        for task in body.get("tasks") or [body]:
            task.update(create_time=created, last_transfer_timestamp=0)
        for part in body.get("partitions") or []:
            part.update(last_transfer_timestamp=0, last_transfer_offset=-1)
        return body

    rig.sim.rewrite("/streams/orders/transfer-tasks", never)
    rig.sim.produce("orders", 500)
    await rig.cycle()
    assert await problems(rig) == []
    rig.clock.advance(31 * MINUTE)
    await rig.cycle()
    assert await problems(rig) == [PROBLEM_STALLED]


async def test_partitions_without_transfer_times_use_the_tasks_own(make_rig: MakeRig) -> None:
    """Task details whose partitions carry no `last_transfer_timestamp` (0) while the task's own is recent: a
    healthy task with records arriving between deliveries is not stalled in its deep slot."""
    rig = make_rig(WATCH_DEEP_INTERVAL_SECONDS=60)

    def no_stamp(i: int, part: dict[str, Any]) -> None:
        part["last_transfer_timestamp"] = 0

    stream_with_data(rig, "to-obs")
    rig.sim.rewrite(details(rig), each_partition(no_stamp))
    await rig.watch("orders")
    for _ in range(3):
        rig.sim.flow()
        rig.sim.produce("orders", 50)  # waiting for the next delivery
        rig.clock.advance(61)
        await rig.cycle()
    assert await problems(rig) == [] and rig.posts() == []


async def test_an_idle_task_whose_offsets_are_left_out_is_not_stalled(rig: Rig) -> None:
    """Details without `last_transfer_offset`: the backlog is unknown, not the whole partition, so an idle
    caught-up task whose last transfer is hours old is not alerted."""

    def no_offset(i: int, part: dict[str, Any]) -> None:
        del part["last_transfer_offset"]

    stream_with_data(rig, "to-obs")
    rig.sim.rewrite(details(rig), each_partition(no_offset))
    await rig.watch("orders")
    rig.clock.advance(5 * HOUR)
    await rig.cycle()
    assert await problems(rig) == [] and rig.posts() == []


async def test_an_offset_past_the_range_end_is_no_backlog(rig: Rig) -> None:
    """`last_transfer_offset` beyond the partition's range end (sequence numbers of an expired range) is nothing
    waiting, not a negative backlog or a stall."""

    def ahead(i: int, part: dict[str, Any]) -> None:
        part["last_transfer_offset"] = 10**12

    stream_with_data(rig, "to-obs")
    rig.sim.rewrite(details(rig), each_partition(ahead))
    await rig.watch("orders")
    rig.sim.stall("orders", "to-obs")
    rig.sim.produce("orders", 400)
    rig.clock.advance(2 * HOUR)
    await rig.cycle()
    assert await problems(rig) == []


async def test_discards_left_out_of_one_answer_are_not_a_new_discard_later(make_rig: MakeRig) -> None:
    """One deep read whose partitions lack `discard` (or that has no partitions) does not reset the baseline:
    the next complete read, with the same counts, alerts nothing."""
    rig = make_rig(WATCH_DEEP_INTERVAL_SECONDS=60)
    stream_with_data(rig, "to-obs")
    rig.sim.discard("orders", "to-obs", 700)
    await rig.watch("orders")
    for _ in range(2):
        rig.clock.advance(61)
        await rig.cycle()  # the baseline: 700, not news

    def no_discard(i: int, part: dict[str, Any]) -> None:
        del part["discard"]

    rig.sim.rewrite(details(rig), each_partition(no_discard))
    rig.clock.advance(61)
    await rig.cycle()
    rig.sim.rewrite(details(rig), None)
    rig.sim.fail_next(
        1, status=200, body={"task_name": "to-obs", "state": "RUNNING", "partitions": []}, path=details(rig)
    )
    rig.clock.advance(61)
    await rig.cycle()
    for _ in range(2):
        rig.clock.advance(61)
        await rig.cycle()
    assert await problems(rig) == [] and rig.posts() == []


async def test_discards_that_go_down_then_grow_are_alerted_by_the_growth(make_rig: MakeRig) -> None:
    """A count that went down (a re-created task the list did not tell apart) is a new baseline; growth from it
    is alerted."""
    rig = make_rig(WATCH_DEEP_INTERVAL_SECONDS=60)
    stream_with_data(rig, "to-obs")
    rig.sim.discard("orders", "to-obs", 700)
    await rig.watch("orders")
    rig.clock.advance(61)
    await rig.cycle()

    def lower(i: int, part: dict[str, Any]) -> None:
        part["discard"] = 5

    rig.sim.rewrite(details(rig), each_partition(lower))
    rig.clock.advance(61)
    await rig.cycle()
    assert await problems(rig) == []

    def grown(i: int, part: dict[str, Any]) -> None:
        part["discard"] = 50

    rig.sim.rewrite(details(rig), each_partition(grown))
    rig.clock.advance(61)
    await rig.cycle()
    assert await problems(rig) == [PROBLEM_DISCARDING]


BAD_DEEP_ANSWERS: dict[str, dict[str, Any]] = {
    "throttled": {"status": 429, "headers": {"Retry-After": "0"}},
    "5xx": {"status": 503},
    "garbled": {"status": 200, "body": '{"partitions": [{"partitionId": "shardId-00'},
    "wrong shape": {"status": 200, "body": {"partitions": "none", "task_name": ["x"]}},
    "a list": {"status": 200, "body": []},
    "stream deleted": {"status": 400, "body": {"errorCode": "DIS.4301", "message": "Stream does not exist. [x]"}},
}


async def test_bad_deep_answers_change_no_problem_and_warn_of_nothing(make_rig: MakeRig) -> None:
    """Deep reads refused in every way DIS can (throttled, 5xx, timeouts, garbled JSON, a 200 of the wrong
    shape, the stream deleted between the list and its description), for more cycles than the unreadable warning
    needs: open silent problems neither end nor re-alert, a list-level failure is still alerted, no "cannot
    read" warning; the next good reads carry on from where they were."""
    rig = make_rig(WATCH_DEEP_INTERVAL_SECONDS=0, DIS_TIMEOUT_SECONDS=0.1)
    stream_with_data(rig, "to-obs", "split", "healthy")
    await rig.watch("orders")
    await stalled_alert(rig)
    rig.sim.fail_partition("orders", "split", 1)
    rig.clock.advance(MINUTE)
    await rig.cycle()
    assert await problems(rig) == ["partitions", PROBLEM_STALLED]
    posts = len(rig.posts())
    rig.sim.stall("orders", "to-obs", on=False)  # it moves: the list shows it, a deep read is due
    rig.sim.flow()
    bad = [*BAD_DEEP_ANSWERS.items(), ("timeout", {})]
    for i, (kind, answer) in enumerate(bad):
        for path, exact in ((description(rig), True), ("/transfer-tasks/", False)):
            rig.sim.clear_scripted()
            if kind == "timeout":
                rig.sim.delay_next(100, 0.3, path, exact=exact)
            else:
                rig.sim.fail_next(100, path=path, exact=exact, **answer)
            if i == 2 and exact:
                rig.sim.set_state("orders", "healthy", "ERROR")
            rig.clock.advance(MINUTE)
            await rig.cycle()
            assert await problems(rig) == ["partitions", PROBLEM_STALLED, "state"][: 2 + (i >= 2)], kind
            assert rig.updates() == [] and rig.replies() == [], kind
    rig.sim.clear_scripted()
    [*_, error] = rig.posts()
    assert len(rig.posts()) == posts + 1 and "ERROR" in str(error.payload["blocks"])
    assert await rig.store.stream_health() == {}
    rig.clock.advance(MINUTE)
    await rig.cycle()  # the moved stall ends, the failed partition stays open
    assert await problems(rig) == ["partitions", "state"]
    assert len(rig.posts()) == posts + 1 and len(rig.replies()) == 1


async def test_retention_missing_or_a_week_is_a_stall_without_a_false_loss(make_rig: MakeRig) -> None:
    """`retention_period` left out: the stall is alerted without a retention clause; 168 h: no loss warning
    after a day of stall."""
    rig = make_rig()
    stream_with_data(rig, "to-obs", retention=168)
    await rig.watch("orders")
    await stalled_alert(rig, after=26 * HOUR)
    [post] = rig.posts()
    assert "lost" not in str(post.payload["blocks"])
    rig.sim.remove_stream("orders")
    rig.sim.clear_scripted()

    def no_retention(body: dict[str, Any]) -> dict[str, Any]:
        body.pop("retention_period", None)
        return body

    stream_with_data(rig, "other")
    rig.sim.rewrite(description(rig), no_retention, exact=True)
    rig.sim.stall("orders", "other")
    rig.sim.produce("orders", 100)
    rig.clock.advance(47 * MINUTE)
    await rig.cycle()
    [_, other] = rig.posts()
    assert "other is stalled" in str(other.payload["blocks"]) and "lost" not in str(other.payload["blocks"])


async def test_a_stall_on_partition_2400_of_2500_is_found_through_three_pages(rig: Rig) -> None:
    """A stream of 2,500 partitions is described in pages of 1,000 (three requests per description); a single
    stalled partition near the end is found, and a healthy read of it alerts nothing."""
    stream_with_data(rig, "to-obs", partitions=2500, records=5000)
    await rig.watch("orders")
    await rig.cycle()
    rig.sim.reset_counts()
    rig.clock.advance(16 * MINUTE)  # a deep slot: a healthy read of all 2,500
    await rig.cycle()
    assert rig.posts() == [] and rig.sim.counts[f"GET {description(rig)}"] == 3
    rig.sim.stall("orders", "to-obs")
    rig.sim.produce("orders", 7, partition=2400)
    rig.sim.reset_counts()
    rig.clock.advance(47 * MINUTE)
    await rig.cycle()
    assert await problems(rig) == [PROBLEM_STALLED]
    assert rig.sim.counts[f"GET {description(rig)}"] == 3
    assert "7 waiting" in str(rig.posts()[0].payload["blocks"])


async def test_a_task_re_created_under_its_name_ends_the_old_stall_and_is_judged_anew(rig: Rig) -> None:
    """The stalled task is deleted and created again with the same name (a new task_id): the old stall ends
    quietly, and the new task, which has not delivered yet, is not alerted as stalled."""
    stream_with_data(rig, "to-obs")
    await rig.watch("orders")
    await stalled_alert(rig)
    assert await problems(rig) == [PROBLEM_STALLED]
    rig.sim.remove_task("orders", "to-obs")

    now_ms = int(rig.clock() * 1000)
    rig.sim.add_task("orders", SimTask("to-obs", task_id="NewTask0000000000id", create_time=now_ms))

    def never(body: dict[str, Any]) -> dict[str, Any]:
        for task in body.get("tasks") or [body]:
            task["last_transfer_timestamp"] = 0
        for part in body.get("partitions") or []:
            part["last_transfer_timestamp"] = 0
        return body

    rig.sim.rewrite("/streams/orders/transfer-tasks", never)
    for _ in range(3):
        rig.clock.advance(MINUTE)
        await rig.cycle()
    assert await problems(rig) == [] and len(rig.posts()) == 1 and rig.replies() == []


async def test_a_dis_clock_minutes_ahead_or_behind_shifts_a_stall_by_as_much(make_rig: MakeRig) -> None:
    """DIS's timestamps 5 min ahead of the watcher (a last transfer "in the future") or behind: no crash, no
    stall before 25 min of real idle time, and every stall found by 35 min."""
    for skew in (5 * MINUTE, -5 * MINUTE):
        rig = make_rig()
        rig.sim.clear_scripted()
        rig.sim.data_clock = lambda: rig.clock() + skew  # noqa: B023 (the rig of this iteration)
        name = f"s{int(skew)}".replace("-", "m")
        rig.sim.add_stream(name, [SimTask("t")], partitions=1)
        rig.sim.produce(name, 10)
        rig.sim.flow()
        await rig.watch(name)
        rig.sim.stall(name, "t")
        rig.sim.produce(name, 10)
        found = None
        for minute in range(1, 41):
            rig.clock.advance(MINUTE)
            await rig.cycle()
            if found is None and [ep for ep in await rig.store.open_episodes() if ep.stream == name]:
                found = minute
        assert found is not None and 25 <= found <= 35, (skew, found)
