"""Silent failures through the watcher rig and the DIS simulator: a RUNNING task that moves nothing while records
wait, failed partitions, discarded records. Each alerts once, is edited only when it says something new, recovers
with its own reply, survives a restart, and costs DIS deep reads only where they are needed.

Time is the rig's clock, and the simulator's data follows it (`sim.data_clock = rig.clock`): a stall of 47 minutes
is a step of the clock, not a wait.
"""

from __future__ import annotations

import logging
import re

import pytest
import sqlalchemy as sa

from bot import metrics
from bot.dis.simulator import SimTask
from bot.store.base import PROBLEM_DISCARDING, PROBLEM_PARTITIONS, PROBLEM_STALLED, PROBLEM_STATE
from tests.watcher.conftest import MakeRig, Rig

MINUTE = 60.0
HOUR = 3600.0


def stream_with_data(rig: Rig, *tasks: str, partitions: int = 2, records: int = 1000, retention: int = 24) -> None:
    """A stream whose tasks have sent everything produced so far (records arrived, one transfer step)."""
    rig.sim.data_clock = rig.clock
    rig.sim.add_stream("orders", [SimTask(t) for t in tasks], partitions=partitions, retention_period=retention)
    rig.sim.produce("orders", records)
    rig.sim.flow()


def requests(rig: Rig, path: str) -> int:
    return rig.sim.counts[f"GET /v2/{rig.sim.project_id}/streams/{path}"]


async def stalled_alert(rig: Rig, waiting: int = 400, after: float = 47 * MINUTE) -> None:
    """Stall `to-obs`, let `waiting` records arrive, move the clock by `after`, poll: the stalled alert."""
    rig.sim.stall("orders", "to-obs")
    rig.sim.produce("orders", waiting)
    rig.sim.flow()  # the other tasks send theirs
    rig.clock.advance(after)
    await rig.cycle()


async def test_a_stalled_task_is_alerted_once_with_its_backlog(rig: Rig) -> None:
    """RUNNING, records waiting and nothing sent for WATCH_STALL_MINUTES: one alert with the backlog; a steady
    stall then edits nothing."""
    stream_with_data(rig, "to-obs", "healthy")
    await rig.watch("orders")
    await stalled_alert(rig, waiting=12_340)
    [post] = rig.posts()
    assert "orders: dump task to-obs is stalled" in str(post.payload["blocks"])
    assert "*stalled 47 min*, 12,340 waiting" in str(post.payload["blocks"])
    assert "lost" not in str(post.payload["blocks"])  # 24 h retention: more than 6 h left
    for _ in range(3):
        rig.clock.advance(MINUTE)
        await rig.cycle()
    assert len(rig.posts()) == 1 and rig.updates() == [] and rig.replies() == []
    [ep] = await rig.store.open_episodes()
    assert (ep.problem, ep.task_name) == (PROBLEM_STALLED, "to-obs")


async def test_an_idle_task_with_nothing_waiting_is_not_alerted(rig: Rig) -> None:
    """A RUNNING task whose last transfer is hours old but has nothing to send is idle, not stalled."""
    stream_with_data(rig, "to-obs")
    await rig.watch("orders")
    rig.clock.advance(5 * HOUR)
    await rig.cycle()
    assert rig.posts() == []


async def test_the_stalled_alert_is_edited_past_6_h_1_h_and_when_loss_begins(rig: Rig) -> None:
    """The retention clause appears under 6 h left and the alert is edited once per threshold, not per poll."""
    stream_with_data(rig, "to-obs", retention=24)
    await rig.watch("orders")
    await stalled_alert(rig, after=HOUR)
    [post] = rig.posts()
    steps = [
        (18 * HOUR, "unsent records start to be lost in about 5 h"),  # 19 h idle of 24 h retention
        (4 * HOUR - MINUTE, "unsent records start to be lost in about 1 h"),  # 23 h idle: 1 h left
        (1.5 * HOUR, "unsent records are being lost"),
    ]
    for n, (step, words) in enumerate(steps, start=1):
        rig.clock.advance(step)
        await rig.cycle()
        assert len(rig.updates(post.response["ts"])) == n
        assert words in str(rig.message(post)["blocks"])
        rig.clock.advance(MINUTE)
        await rig.cycle()  # a second poll in the same bucket: no edit
        assert len(rig.updates(post.response["ts"])) == n
    assert len(rig.posts()) == 1


async def test_a_stall_that_clears_its_backlog_recovers_with_how_long_it_took(rig: Rig) -> None:
    """Data moving again with nothing left waiting resolves the alert and replies "backlog cleared in"."""
    stream_with_data(rig, "to-obs")
    await rig.watch("orders")
    await stalled_alert(rig)
    [post] = rig.posts()
    rig.sim.stall("orders", "to-obs", on=False)
    rig.clock.advance(12 * MINUTE)
    rig.sim.flow()
    await rig.cycle()
    [reply] = rig.replies(post.response["ts"])
    assert "`to-obs` (orders) transferring again, backlog cleared in 12 min" in reply.text
    assert "<!" not in reply.text  # recoveries mention nobody
    assert "Resolved" in rig.message(post)["text"] or "Resolved" in str(rig.message(post)["blocks"])
    assert await rig.store.open_episodes() == []


async def test_a_stall_that_moves_but_still_has_records_waiting_says_how_many(rig: Rig) -> None:
    """A transfer after the stall ends it even with records still waiting: "(N still waiting)"."""
    stream_with_data(rig, "to-obs")
    await rig.watch("orders")
    await stalled_alert(rig)
    [post] = rig.posts()
    rig.sim.stall("orders", "to-obs", on=False)
    rig.clock.advance(MINUTE)
    rig.sim.flow()
    rig.sim.produce("orders", 250)
    await rig.cycle()
    [reply] = rig.replies(post.response["ts"])
    assert "transferring again (250 still waiting)" in reply.text


async def test_a_stalled_task_that_turns_error_is_one_error_alert(rig: Rig) -> None:
    """A stalled task turning ERROR gets the ERROR alert; the stall ends quietly (no reply), and only one
    problem stays open."""
    stream_with_data(rig, "to-obs")
    await rig.watch("orders")
    await stalled_alert(rig)
    [stalled] = rig.posts()
    rig.sim.set_state("orders", "to-obs", "ERROR")
    rig.clock.advance(MINUTE)
    await rig.cycle()
    posts = rig.posts()
    assert len(posts) == 2 and "is ERROR" in str(posts[1].payload["blocks"])
    assert rig.replies(stalled.response["ts"]) == []
    assert "turned ERROR (alerted on its own)" in str(rig.message(stalled)["blocks"])
    [ep] = await rig.store.open_episodes()
    assert ep.problem == PROBLEM_STATE and ep.state == "ERROR"
    for _ in range(2):
        rig.clock.advance(MINUTE)
        await rig.cycle()
    assert len(rig.posts()) == 2


async def test_failed_partitions_are_alerted_edited_and_recovered(make_rig: MakeRig) -> None:
    """2 of 8 partitions ERROR while the task is RUNNING: one alert; a third failing edits it; all healed for
    WATCH_STALL_MINUTES ends it with a reply that says how long they failed."""
    rig = make_rig(WATCH_DEEP_INTERVAL_SECONDS=1)  # every cycle is a task's deep slot
    stream_with_data(rig, "to-obs", partitions=8)
    await rig.watch("orders")
    rig.sim.fail_partition("orders", "to-obs", 2)
    rig.sim.fail_partition("orders", "to-obs", 5)
    rig.clock.advance(2)
    await rig.cycle()
    [post] = rig.posts()
    assert "2 of 8 partitions ERROR" in str(post.payload["blocks"])
    rig.clock.advance(2)
    await rig.cycle()
    assert rig.updates() == []
    rig.sim.fail_partition("orders", "to-obs", 6, state="ABNORMAL")
    rig.clock.advance(2)
    await rig.cycle()
    assert "3 of 8 partitions ABNORMAL/ERROR" in str(rig.message(post)["blocks"])
    for index in (2, 5, 6):
        rig.sim.fail_partition("orders", "to-obs", index, state=None)
    rig.clock.advance(2)
    await rig.cycle()
    assert rig.replies() == []  # OK: it ends once they stayed so for WATCH_STALL_MINUTES
    rig.clock.advance(30 * MINUTE)
    await rig.cycle()
    [reply] = rig.replies(post.response["ts"])
    assert "`to-obs` (orders) all partitions OK again after 6 s" in reply.text
    assert len(rig.posts()) == 1


async def test_discards_take_a_baseline_then_alert_growth_and_end_when_quiet(make_rig: MakeRig) -> None:
    """An old discard count is not news; growth is alerted with the count since the previous read, more growth
    edits the same alert with the total once it doubled, and WATCH_STALL_MINUTES without growth ends it."""
    rig = make_rig(WATCH_DEEP_INTERVAL_SECONDS=1, WATCH_STALL_MINUTES=10)
    stream_with_data(rig, "to-obs")
    rig.sim.discard("orders", "to-obs", 5000)
    await rig.watch("orders")
    rig.clock.advance(2)
    await rig.cycle()
    assert rig.posts() == []  # the baseline
    rig.sim.discard("orders", "to-obs", 1204)
    rig.clock.advance(2)
    await rig.cycle()
    [post] = rig.posts()
    assert "discarded 1,204 records* since" in str(post.payload["blocks"])
    rig.sim.discard("orders", "to-obs", 96)
    rig.clock.advance(2)
    await rig.cycle()
    assert rig.updates() == []  # 1,300 is not news enough to edit (not doubled, not an hour later)
    rig.sim.discard("orders", "to-obs", 1204)
    rig.clock.advance(2)
    await rig.cycle()
    assert "discarded 2,504 records* since" in str(rig.message(post)["blocks"])
    assert len(rig.posts()) == 1 and len(rig.updates()) == 1
    last_growth = int(rig.clock.now)
    rig.clock.advance(9 * MINUTE)
    await rig.cycle()
    assert rig.replies() == []  # quiet for 9 min of 10
    rig.clock.advance(MINUTE)
    await rig.cycle()
    [reply] = rig.replies(post.response["ts"])
    # When the drops stopped, not "discarded in 10 min": the 10 quiet minutes only confirmed it.
    assert f"no more discards since <!date^{last_growth}^" in reply.text
    assert "· 2,504 records discarded" in reply.text and "discarded in" not in reply.text


async def test_a_restart_neither_re_alerts_nor_forgets_the_discard_baseline(make_rig: MakeRig) -> None:
    """A new watcher on the same database does not post the open stalled alert again, and measures discards
    from the baseline the first one took (records dropped while it was down are alerted, the old ones are not)."""
    first = make_rig(WATCH_DEEP_INTERVAL_SECONDS=1)
    stream_with_data(first, "to-obs", "dropper")
    first.sim.discard("orders", "dropper", 5000)
    await first.watch("orders")
    await stalled_alert(first)
    assert len(first.posts()) == 1
    await first.store.close()

    first.sim.discard("orders", "dropper", 30)
    second = make_rig(db=first.db, WATCH_DEEP_INTERVAL_SECONDS=1)
    second.clock.advance(2)
    await second.cycle()
    posts = second.posts()
    assert len(posts) == 2 and "discarded 30 records* since" in str(posts[1].payload["blocks"])
    assert "to-obs" not in posts[1].text
    opened = {(e.task_name, e.problem) for e in await second.store.open_episodes()}
    assert opened == {("to-obs", PROBLEM_STALLED), ("dropper", PROBLEM_DISCARDING)}


async def test_a_healthy_stream_costs_only_its_list_read_until_a_deep_slot_is_due(make_rig: MakeRig) -> None:
    """Tasks that transferred recently are not read in detail by every cycle: each is read once per
    WATCH_DEEP_INTERVAL_SECONDS, in its own slot, with one stream description per cycle that reads any."""
    rig = make_rig(WATCH_DEEP_INTERVAL_SECONDS=60)
    stream_with_data(rig, *(f"t{i}" for i in range(5)))
    await rig.watch("orders")
    rig.sim.reset_counts()
    quiet = 0
    for _ in range(60):  # one whole interval at 1 s cycles
        rig.clock.advance(1)
        before = rig.sim.count()
        await rig.cycle()
        quiet += rig.sim.count() - before == 1  # only the list read
    assert requests(rig, "orders/transfer-tasks") == 60
    assert [requests(rig, f"orders/transfer-tasks/t{i}") for i in range(5)] == [1] * 5
    assert 1 <= requests(rig, "orders") <= 5 and quiet >= 55
    assert rig.posts() == []


async def test_an_open_stall_is_read_again_only_when_the_list_moves_and_a_failed_read_changes_nothing(
    make_rig: MakeRig,
) -> None:
    """A steady stall costs only the list read (its last transfer there has not moved); once it moves the task is
    read in detail, and a deep read DIS refuses neither ends the stall nor alerts anything."""
    rig = make_rig(WATCH_DEEP_INTERVAL_SECONDS=0)  # no deep slots: only what the stall itself needs
    stream_with_data(rig, "to-obs")
    await rig.watch("orders")
    await stalled_alert(rig)
    [post] = rig.posts()
    rig.sim.reset_counts()
    for _ in range(3):
        rig.clock.advance(MINUTE)
        await rig.cycle()
    assert requests(rig, "orders/transfer-tasks") == 3
    assert requests(rig, "orders/transfer-tasks/to-obs") == 0 and requests(rig, "orders") == 0
    # The data moves while DIS refuses the deep reads (every retry): the stall neither ends nor changes.
    rig.sim.stall("orders", "to-obs", on=False)
    rig.sim.flow()
    rig.sim.fail_next(4, status=503, path=f"/v2/{rig.sim.project_id}/streams/orders", exact=True)
    rig.clock.advance(MINUTE)
    await rig.cycle()
    rig.sim.fail_next(4, status=503, path="/transfer-tasks/to-obs")
    rig.clock.advance(MINUTE)
    await rig.cycle()
    assert requests(rig, "orders") == 5 and requests(rig, "orders/transfer-tasks/to-obs") == 4  # 4 tries each
    assert rig.updates() == [] and rig.replies() == []
    [ep] = await rig.store.open_episodes()
    assert ep.problem == PROBLEM_STALLED
    rig.clock.advance(MINUTE)
    await rig.cycle()  # read again: it ends now
    assert len(rig.replies(post.response["ts"])) == 1 and len(rig.posts()) == 1


async def test_with_both_settings_0_nothing_is_read_in_detail_or_alerted(make_rig: MakeRig) -> None:
    """WATCH_STALL_MINUTES=0 and WATCH_DEEP_INTERVAL_SECONDS=0 turn the silent problems off: list reads only."""
    rig = make_rig(WATCH_STALL_MINUTES=0, WATCH_DEEP_INTERVAL_SECONDS=0)
    stream_with_data(rig, "to-obs")
    await rig.watch("orders")
    rig.sim.reset_counts()
    await stalled_alert(rig, after=5 * HOUR)
    rig.sim.discard("orders", "to-obs", 100)
    rig.sim.fail_partition("orders", "to-obs", 0)
    await rig.cycle()
    assert rig.posts() == []
    assert requests(rig, "orders/transfer-tasks") == 2
    assert requests(rig, "orders") == 0 and requests(rig, "orders/transfer-tasks/to-obs") == 0


async def test_problems_of_two_kinds_in_one_cycle_share_one_message(make_rig: MakeRig) -> None:
    """A stalled task and a task with a failed partition found in the same cycle make one message that names
    both ("2 dump tasks need attention")."""
    rig = make_rig(WATCH_DEEP_INTERVAL_SECONDS=1)
    stream_with_data(rig, "to-obs", "to-dws")
    await rig.watch("orders")
    rig.sim.fail_partition("orders", "to-dws", 1)
    await stalled_alert(rig)
    [post] = rig.posts()
    blocks = str(rig.message(post)["blocks"])
    assert "2 dump tasks need attention in orders" in blocks
    assert "to-obs" in blocks and "1 of 2 partitions ERROR" in blocks
    problems = {e.problem for e in await rig.store.open_episodes()}
    assert problems == {PROBLEM_STALLED, PROBLEM_PARTITIONS}


async def test_lag_gauges_follow_deep_reads_and_leave_with_the_task(rig: Rig) -> None:
    """/metrics has each deep-read task's backlog and discards; a task that goes away leaves the gauges."""
    stream_with_data(rig, "to-obs", "gone")
    await rig.watch("orders")
    rig.sim.discard("orders", "gone", 7)
    await stalled_alert(rig, waiting=300)
    text = metrics.render().decode()
    assert 'disbot_task_backlog_records{stream="orders",task="to-obs"} 300.0' in text
    assert 'disbot_task_discarded_records{stream="orders",task="gone"} 7.0' in text
    assert 'disbot_alerts_total{event="raised",problem="stalled"}' in text
    rig.sim.remove_task("orders", "gone")
    rig.clock.advance(MINUTE)
    await rig.cycle()
    assert 'task="gone"' not in metrics.render().decode()


async def test_a_deposed_leader_records_no_silent_recovery(make_rig: MakeRig) -> None:
    """A leader whose term moved on cannot end a stall (a recovery no state change accompanies): the poll is
    refused, the watcher steps down, and the stall stays open for the next leader."""
    rig = make_rig(WATCH_DEEP_INTERVAL_SECONDS=0)
    stream_with_data(rig, "to-obs")
    await rig.watch("orders")
    await stalled_alert(rig)
    async with rig.store.engine.begin() as conn:
        await conn.execute(sa.text("UPDATE leadership SET term = 3 WHERE id = 1"))
    rig.store.fence(3)
    rig.watcher.leading = True  # as lead(3) would leave it, without starting the loop
    async with rig.store.engine.begin() as conn:
        await conn.execute(sa.text("UPDATE leadership SET term = 4 WHERE id = 1"))
    rig.sim.stall("orders", "to-obs", on=False)
    rig.sim.flow()
    rig.clock.advance(MINUTE)
    await rig.watcher.run_cycle()
    assert not rig.watcher.leading
    [ep] = await rig.store.open_episodes()
    assert ep.problem == PROBLEM_STALLED and await rig.store.outbox(state="pending") == []


async def test_a_stalled_alert_is_reminded_until_acknowledged(make_rig: MakeRig) -> None:
    """Like an ERROR alert, a stalled one gets a reminder in its thread every WATCH_REPEAT_MINUTES, saying how long
    it has been stalled, until someone presses Acknowledge."""
    rig = make_rig(WATCH_REPEAT_MINUTES=60, WATCH_DEEP_INTERVAL_SECONDS=0)
    stream_with_data(rig, "to-obs")
    await rig.watch("orders")
    await stalled_alert(rig)
    [post] = rig.posts()
    rig.clock.advance(61 * MINUTE)
    await rig.cycle()
    [reminder] = rig.replies(post.response["ts"])
    assert (
        "Still needs attention" in reminder.text
        and "`to-obs` (orders) stalled 1 h 48 min, 400 waiting" in reminder.text
    )
    alert_id = int(post.payload["blocks"][-1]["elements"][0]["value"])
    await rig.service.acknowledge(alert_id, "U0BOB")
    rig.clock.advance(61 * MINUTE)
    await rig.cycle()
    assert not any("Still needs attention" in r.text for r in rig.replies(post.response["ts"])[1:])


async def test_a_snoozed_stall_that_relapses_is_announced_only_when_the_snooze_ends(make_rig: MakeRig) -> None:
    """Snooze on a stalled alert silences the task in that channel: a new stall during the snooze posts nothing,
    and is announced once the snooze is over if it still lasts."""
    rig = make_rig(WATCH_DEEP_INTERVAL_SECONDS=0, WATCH_REPEAT_MINUTES=0)
    stream_with_data(rig, "to-obs")
    await rig.watch("orders")
    await stalled_alert(rig)
    [post] = rig.posts()
    alert_id = int(post.payload["blocks"][-1]["elements"][0]["value"])
    await rig.service.snooze(alert_id, "U0BOB", HOUR)
    rig.sim.stall("orders", "to-obs", on=False)
    rig.sim.flow()
    await rig.cycle()  # the stall ends: its reply
    await stalled_alert(rig, after=40 * MINUTE)  # and comes back while snoozed
    assert len(rig.posts()) == 1
    rig.clock.advance(21 * MINUTE)
    await rig.cycle()
    posts = rig.posts()
    assert len(posts) == 2 and "orders: dump task to-obs is stalled" in str(posts[1].payload["blocks"])


async def test_a_task_discarding_all_the_time_edits_its_alert_a_bounded_number_of_times(make_rig: MakeRig) -> None:
    """A task that drops records on every poll for 6 h keeps one alert: it is edited when the total shown has
    doubled or an hour after the last edit (not on every poll), and the recovery has the full total."""
    rig = make_rig(WATCH_DEEP_INTERVAL_SECONDS=1, WATCH_STALL_MINUTES=10)
    stream_with_data(rig, "to-obs")
    await rig.watch("orders")
    rig.clock.advance(2)
    await rig.cycle()  # the baseline
    for _ in range(6 * 12):  # a poll every 5 min, 50 more records dropped each time
        rig.sim.discard("orders", "to-obs", 50)
        rig.clock.advance(5 * MINUTE)
        await rig.cycle()
    [post] = rig.posts()
    edits = len(rig.updates(post.response["ts"]))
    assert 6 <= edits <= 10  # 8 measured: the doublings (50 → 3,200), then hourly; not 71
    shown = re.search(r"discarded ([\d,]+) records", str(rig.message(post)["blocks"]))
    assert shown is not None and 3_600 - 12 * 50 <= int(shown.group(1).replace(",", "")) <= 3_600  # ≤ 1 h behind
    rig.clock.advance(10 * MINUTE)
    await rig.cycle()
    [reply] = [r for r in rig.replies(post.response["ts"]) if "Still needs attention" not in r.text]
    assert "3,600 records discarded" in reply.text
    assert len(rig.posts()) == 1


async def test_a_replica_that_steps_down_stops_publishing_the_lag_gauges(make_rig: MakeRig) -> None:
    """A deposed leader no longer reads DIS: its /metrics must not keep the backlog (or the task states) it read
    last, or a dashboard over every replica shows a stall the new leader has long seen end."""
    rig = make_rig(WATCH_DEEP_INTERVAL_SECONDS=0)
    stream_with_data(rig, "to-obs")
    await rig.watch("orders")
    await stalled_alert(rig, waiting=300)
    assert 'disbot_task_backlog_records{stream="orders",task="to-obs"} 300.0' in metrics.render().decode()
    async with rig.store.engine.begin() as conn:
        await conn.execute(sa.text("UPDATE leadership SET term = 3 WHERE id = 1"))
    rig.store.fence(3)
    rig.watcher.leading = True
    async with rig.store.engine.begin() as conn:
        await conn.execute(sa.text("UPDATE leadership SET term = 4 WHERE id = 1"))
    rig.sim.stall("orders", "to-obs", on=False)
    rig.sim.flow()  # a change to record: the refused write is how this leader learns it was deposed
    rig.clock.advance(MINUTE)
    await rig.watcher.run_cycle()
    assert not rig.watcher.leading
    text = metrics.render().decode()
    assert 'task="to-obs"' not in text
    assert 'disbot_watched_tasks{state="RUNNING",stream="orders"}' not in text


async def test_a_stalled_task_restarted_keeps_its_alert_through_starting(make_rig: MakeRig) -> None:
    """Someone restarts a stalled task (STARTING for a poll, then RUNNING): the alert does not claim the task was
    "alerted on its own" (nothing alerts STARTING); still stalled after the restart, it is the same alert, not a
    second one; once data moves, the one alert gets its "transferring again" reply."""
    rig = make_rig(WATCH_DEEP_INTERVAL_SECONDS=0)
    stream_with_data(rig, "to-obs")
    await rig.watch("orders")
    await stalled_alert(rig)
    [post] = rig.posts()
    rig.sim.set_state("orders", "to-obs", "STARTING")
    rig.clock.advance(MINUTE)
    await rig.cycle()
    assert "alerted on its own" not in str(rig.message(post)["blocks"])
    rig.sim.set_state("orders", "to-obs", "RUNNING")
    for _ in range(3):
        rig.clock.advance(MINUTE)
        await rig.cycle()
    assert len(rig.posts()) == 1  # the same stall, not a new alert
    assert "alerted on its own" not in str(rig.message(post)["blocks"])
    rig.sim.stall("orders", "to-obs", on=False)
    rig.sim.flow()
    rig.clock.advance(MINUTE)
    await rig.cycle()
    [reply] = rig.replies(post.response["ts"])
    assert "`to-obs` (orders) transferring again" in reply.text
    assert len(rig.posts()) == 1 and await rig.store.open_episodes() == []


async def test_a_flapping_partition_is_one_alert_that_ends_once_it_stays_ok(make_rig: MakeRig) -> None:
    """A partition that fails and heals on alternate polls for 20 min is one alert (before: 10 posts, 10 edits,
    10 replies); it ends, with one reply, once every partition has stayed OK for WATCH_STALL_MINUTES, and the
    reply counts the time until they were OK, not the wait that confirmed it."""
    rig = make_rig(WATCH_DEEP_INTERVAL_SECONDS=1, WATCH_STALL_MINUTES=10)
    stream_with_data(rig, "to-obs", partitions=4)
    await rig.watch("orders")
    for i in range(20):
        rig.sim.fail_partition("orders", "to-obs", 1, state="ERROR" if i % 2 == 0 else None)
        rig.clock.advance(MINUTE)
        await rig.cycle()
    [post] = rig.posts()
    assert rig.updates() == [] and rig.replies() == []
    for _ in range(9):
        rig.clock.advance(MINUTE)
        await rig.cycle()
    assert rig.replies() == []  # OK for 10 min of polls, confirmed at the 10th
    rig.clock.advance(MINUTE)
    await rig.cycle()
    [reply] = rig.replies(post.response["ts"])
    assert "`to-obs` (orders) all partitions OK again after 19 min (was 1 of 4 partitions ERROR)" in reply.text
    assert len(rig.posts()) == 1


@pytest.mark.parametrize(("minutes", "warned"), [("2", True), ("4.5", True), ("5", False), ("30", False), ("0", False)])
async def test_a_stall_threshold_below_the_obs_delivery_interval_is_warned_at_start(
    make_rig: MakeRig, caplog: pytest.LogCaptureFixture, minutes: str, warned: bool
) -> None:
    """WATCH_STALL_MINUTES under an OBS task's default delivery interval (300 s) makes healthy tasks look stalled
    between two deliveries: the watcher says so when it starts, naming the variable (0, off, says nothing)."""
    rig = make_rig(WATCH_STALL_MINUTES=minutes)
    with caplog.at_level(logging.WARNING, logger="bot.watcher"):
        await rig.watcher.start()
        assert await rig.watcher.stop(timeout=5)
    found = [r for r in caplog.records if r.getMessage() == "watch.stall_threshold_short"]
    assert bool(found) is warned
    if warned:
        assert "WATCH_STALL_MINUTES" in found[0].hint  # type: ignore[attr-defined]


async def test_no_reminder_claims_partitions_failed_while_they_are_ok_and_waiting_to_end(make_rig: MakeRig) -> None:
    """Between healing and the end (WATCH_STALL_MINUTES later) the partitions are OK: no reminder, mention and
    all, says "1 of 4 partitions ERROR" then; the end is one reply."""
    rig = make_rig(WATCH_DEEP_INTERVAL_SECONDS=1, WATCH_REPEAT_MINUTES=10, WATCH_STALL_MINUTES=30)
    stream_with_data(rig, "to-obs", partitions=4)
    await rig.watch("orders")
    rig.sim.fail_partition("orders", "to-obs", 1)
    rig.clock.advance(MINUTE)
    await rig.cycle()
    [post] = rig.posts()
    rig.sim.fail_partition("orders", "to-obs", 1, state=None)
    for _ in range(31):  # OK from the next poll; 30 min later it ends
        rig.clock.advance(MINUTE)
        await rig.cycle()
    [reply] = rig.replies(post.response["ts"])
    assert "all partitions OK again after 1 min" in reply.text
