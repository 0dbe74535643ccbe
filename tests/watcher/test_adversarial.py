"""Adversarial cases: crashes and restarts at awkward moments, flapping, re-created tasks, vanished streams,
states DIS may add later, a 120-task storm checked against Block Kit, and reads spread over the interval."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from bot.dis.simulator import SimTask
from bot.errors import Unavailable
from bot.store import SqlStore
from bot.store.base import KIND_BLIND, KIND_TASK, PENDING
from bot.watcher.engine import Cycle
from tests.slack.blockkit import validate_message
from tests.watcher.conftest import CHANNEL, ONCALL, OTHER, MakeRig, Rig

#: The id DIS gives a task re-created under an old name (the simulator would derive the old one from the name).
NEW_ID = "Nw0TaskIdAfterRedo1"


async def failing(rig: Rig, state: str = "ERROR") -> None:
    rig.sim.add_stream("orders", [SimTask("to-obs")])
    await rig.watch("orders")
    rig.sim.set_state("orders", "to-obs", state)


# ---------------------------------------------------------------------- crashes and restarts


async def test_crash_inside_the_poll_transaction_loses_nothing(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process fails while queueing the alert: nothing of that poll is kept, the next poll alerts once."""
    await failing(rig)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk gone")

    monkeypatch.setattr(rig.store, "enqueue", crash)
    await rig.cycle()
    assert (
        await rig.store.open_episodes() == []
        and (await rig.store.task_states()).get("orders", {})["to-obs"].state == "RUNNING"
    )
    monkeypatch.undo()
    await rig.cycle()
    await rig.cycle()
    [post] = rig.posts()
    assert "orders/to-obs" in post.text


async def test_crash_between_enqueue_and_delivery(make_rig: MakeRig) -> None:
    """Alert queued and committed, process gone before any Slack call: the next process posts it exactly once."""
    first = make_rig()
    await failing(first)
    await first.watcher.run_cycle()  # queued, not delivered
    assert first.fake.calls == [] and len(await first.store.outbox(state=PENDING)) == 1
    await first.store.close()

    second = make_rig(db=first.db)
    await second.watcher.start()
    await second.fake.wait_for("chat.postMessage", timeout=5)
    await second.cycle()
    await second.cycle()
    assert await second.watcher.stop(timeout=5)
    [post] = second.posts()
    assert "orders/to-obs" in post.text and second.fake.count("chat.postMessage") == 1


async def test_crash_before_finish_cycle(make_rig: MakeRig) -> None:
    """Problems left for `finish_cycle()` (a new watch's "already failing" report), process gone before it: the
    next start posts them once."""
    first = make_rig()
    first.sim.add_stream("orders", [SimTask("to-obs", state="ERROR")])
    await first.store.upsert_subscription(CHANNEL, "orders", now=first.clock.now)  # its baseline is not taken yet
    engine = first.watcher.engine
    result = await first.watcher.tasks.tasks("orders", fresh=True)
    await engine.record_poll("orders", result, await engine.subscribers("orders"), Cycle())
    assert [e.alert_id for e in await first.store.open_episodes()] == [None]
    await first.store.close()  # no finish_cycle(): the process died mid-cycle

    second = make_rig(db=first.db)
    await second.cycle()
    await second.cycle()
    [post] = second.posts()
    assert post.blocks[0]["text"]["text"] == "🔴 orders: dump task to-obs was already ERROR"


@pytest.mark.parametrize("mid_send", [False, True], ids=["queued", "mid-send"])
async def test_crash_between_the_post_and_its_update(make_rig: MakeRig, mid_send: bool) -> None:
    """The cycle's first alert is posted, a later problem of the cycle joins it, the process dies before the
    update went (or while it was going): the next start edits the same message once; nothing is posted again."""
    first = make_rig()
    for name in ("a", "b"):
        first.sim.add_stream(name, [SimTask("t")])
        await first.watch(name)
        first.sim.set_state(name, "t", "ERROR")
    engine = first.watcher.engine
    cycle = Cycle()
    for name in ("a", "b"):
        result = await first.watcher.tasks.tasks(name, fresh=True)
        await engine.record_poll(name, result, await engine.subscribers(name), cycle)
        if name == "a":
            await first.watcher.flush()  # the first problem is posted at once
    [post] = first.posts()
    [update] = await first.store.outbox(state=PENDING)
    assert update.kind == "update" and "b/t" not in post.text
    if mid_send:
        await first.store.mark_sending(update.id)
    await first.store.close()  # gone before finish_cycle() and before the update was delivered

    second = make_rig(db=first.db)
    await second.watcher.start()
    try:
        [edit] = await second.fake.wait_for("chat.update", timeout=5)
        await second.cycle()
        await second.cycle()
    finally:
        assert await second.watcher.stop(timeout=5)
    assert edit.payload["ts"] == post.response["ts"] and len(second.updates()) == 1
    assert second.fake.count("chat.postMessage") == 1 and second.replies() == []
    assert edit.blocks[0]["text"]["text"] == "🔴 2 dump tasks failing in 2 streams"
    validate_message(edit.payload)
    assert second.message(post)["blocks"] == edit.blocks


async def test_crash_after_the_cycle_before_delivery(make_rig: MakeRig) -> None:
    """A storm recorded by a whole cycle (post and update queued), process gone before any Slack call: the next
    start posts one message listing everything and skips the update the post already shows."""
    first = make_rig()
    for name in ("a", "b", "c"):
        first.sim.add_stream(name, [SimTask("t")])
        await first.watch(name)
        first.sim.set_state(name, "t", "ERROR")
    await first.watcher.run_cycle()
    assert first.fake.calls == [] and [r.kind for r in await first.store.outbox(state=PENDING)] == ["post", "update"]
    await first.store.close()

    second = make_rig(db=first.db)
    await second.watcher.start()
    try:
        [post] = await second.fake.wait_for("chat.postMessage", timeout=5)
        await second.cycle()
    finally:
        assert await second.watcher.stop(timeout=5)
    assert post.blocks[0]["text"]["text"] == "🔴 3 dump tasks failing in 3 streams"
    assert second.fake.count("chat.postMessage") == 1 and second.updates() == []
    assert await second.store.outbox(state=PENDING) == []


async def test_restart_while_a_429_wait_is_pending(make_rig: MakeRig) -> None:
    """A Retry-After is still honoured by the next process, which then posts once and does not alert again."""
    first = make_rig()
    await failing(first)
    first.fake.fail_next("chat.postMessage", 1, status=429, retry_after=30)
    await first.cycle()
    assert first.posts() == []
    await first.store.close()

    second = make_rig(db=first.db)
    await second.watcher.sync_config()
    assert await second.store.recover_sending() == 0
    second.clock.advance(10)
    await second.cycle()  # the restart's first poll: the problem is known, its alert waits for Retry-After
    assert second.fake.count("chat.postMessage") == 1
    second.clock.advance(20)
    await second.cycle()
    [post] = second.posts()
    assert "orders/to-obs" in post.text
    await second.cycle()
    assert second.fake.count("chat.postMessage") == 2 and len(second.posts()) == 1


async def test_restart_with_a_reminder_due_sends_one(make_rig: MakeRig) -> None:
    """A reminder that fell due while the bot was down is sent once, not once per missed hour."""
    first = make_rig()
    await failing(first)
    await first.cycle()
    [post] = first.posts()
    await first.store.close()
    first.clock.advance(5 * 3600)
    second = make_rig(db=first.db)
    await second.cycle()
    await second.cycle()
    [reminder] = second.replies(post.response["ts"])
    assert "Still failing" in reminder.text and len(second.posts()) == 1


# ---------------------------------------------------------------------- what DIS does between polls


async def test_flap_within_one_interval_stays_one_problem(rig: Rig) -> None:
    """ERROR -> RUNNING -> ERROR between two polls is invisible to polling: the open problem simply continues."""
    await failing(rig)
    await rig.cycle()
    [post] = rig.posts()
    rig.sim.set_state("orders", "to-obs", "RUNNING")
    rig.sim.set_state("orders", "to-obs", "ERROR")
    await rig.cycle()
    assert len(rig.posts()) == 1 and rig.updates() == [] and rig.replies() == []
    [episode] = await rig.store.open_episodes()
    assert episode.alert_id is not None and (await rig.store.alert(episode.alert_id)).ts == post.response["ts"]


async def test_flap_seen_by_polls_is_two_problems(rig: Rig) -> None:
    """ERROR, RUNNING, ERROR on three polls: the first alert resolves, the relapse gets its own alert."""
    await failing(rig)
    await rig.cycle()
    rig.sim.set_state("orders", "to-obs", "RUNNING")
    await rig.cycle()
    rig.sim.set_state("orders", "to-obs", "ERROR")
    await rig.cycle()
    first, relapse = rig.posts()
    assert rig.message(first)["blocks"][0]["text"]["text"].startswith("✅ Resolved")
    assert "orders/to-obs" in relapse.text and rig.updates(relapse.response["ts"]) == []


async def test_recreated_task_in_error_is_a_new_problem(rig: Rig) -> None:
    """Deleted and re-created under the same name (new task_id) and failing: the old alert ends as deleted,
    the new task gets its own alert."""
    await failing(rig)
    await rig.cycle()
    [old] = rig.posts()
    old_id = rig.sim.task("orders", "to-obs").task_id
    rig.sim.remove_task("orders", "to-obs")
    rig.sim.add_task("orders", SimTask("to-obs", state="ERROR", task_id=NEW_ID))  # DIS gives a new id
    assert old_id != NEW_ID
    await rig.cycle()
    _, new = rig.posts()
    assert "orders/to-obs" in new.text and "was RUNNING" not in json.dumps(new.blocks)
    assert "deleted" in json.dumps(rig.message(old)["blocks"])
    [reply] = rig.replies(old.response["ts"])
    assert "was deleted" in reply.text
    [episode] = await rig.store.open_episodes()
    assert episode.task_id == rig.sim.task("orders", "to-obs").task_id


async def test_recreated_task_running_ends_the_old_problem_as_deleted(rig: Rig) -> None:
    """Re-created healthy under the same name: the old problem ended because its task was deleted."""
    await failing(rig)
    await rig.cycle()
    [old] = rig.posts()
    rig.sim.remove_task("orders", "to-obs")
    rig.sim.add_task("orders", SimTask("to-obs", task_id=NEW_ID))
    await rig.cycle()
    [reply] = rig.replies(old.response["ts"])
    assert "was deleted" in reply.text and "RUNNING again" not in reply.text
    assert len(rig.posts()) == 1 and await rig.store.open_episodes() == []


async def test_stream_deleted_while_watched(rig: Rig) -> None:
    """An explicitly watched stream vanishes with a task failing: one "not found" warning, the task's alert
    stays open (no false recovery, no reminder about a state nobody can see); the stream comes back healthy:
    the warning and the alert both resolve."""
    await failing(rig)
    await rig.cycle()
    [alert] = rig.posts()
    rig.sim.remove_stream("orders")
    for _ in range(3):
        await rig.cycle()
    _, warning = rig.posts()
    assert "not found" in json.dumps(warning.blocks)
    rig.clock.advance(2 * 3600)
    await rig.cycle()
    assert rig.replies(alert.response["ts"]) == []
    assert [e.kind for e in await rig.store.open_episodes()] == [KIND_TASK, KIND_BLIND]
    rig.sim.add_stream("orders", [SimTask("to-obs", task_id=NEW_ID)])
    await rig.cycle()
    assert len(rig.posts()) == 2
    assert rig.message(alert)["blocks"][0]["text"]["text"].startswith("✅ Resolved")
    assert rig.message(warning)["blocks"][0]["text"]["text"].startswith("✅ I can read orders again")
    assert await rig.store.open_episodes() == []


async def test_unknown_state_is_neither_a_problem_nor_a_recovery(rig: Rig) -> None:
    """A state DIS may add later ("FROZEN"): entering it from health raises nothing; entering it from ERROR
    keeps the problem open (edited to show the state); RUNNING after it resolves as usual."""
    rig.sim.add_stream("orders", [SimTask("to-obs"), SimTask("cold", state="FROZEN")])
    await rig.watch("orders")
    rig.sim.set_state("orders", "to-obs", "FROZEN")
    await rig.cycle()
    assert rig.fake.calls == []
    assert rig.service.last_poll("orders").counts == {"FROZEN": 2}
    rig.sim.set_state("orders", "to-obs", "ERROR")
    await rig.cycle()
    [post] = rig.posts()
    rig.sim.set_state("orders", "to-obs", "FROZEN")
    await rig.cycle()
    assert "FROZEN* (was ERROR)" in json.dumps(rig.message(post)["blocks"]) and rig.replies() == []
    assert [e.state for e in await rig.store.open_episodes()] == ["FROZEN"]
    rig.sim.set_state("orders", "to-obs", "RUNNING")
    await rig.cycle()
    assert rig.message(post)["blocks"][0]["text"]["text"].startswith("✅ Resolved")
    assert len(rig.posts()) == 1


async def test_older_read_finishing_after_a_newer_one_is_ignored(rig: Rig) -> None:
    """A cycle's read of a failing task whose answer arrives after a new watch's newer read saw it RUNNING:
    the older result is ignored, so the channel already watching gets no spurious alert (nor its recovery)."""
    rig.sim.add_stream("orders", [SimTask("to-obs")])
    await rig.watch("orders", channel=OTHER)
    rig.sim.set_state("orders", "to-obs", "ERROR")
    read = rig.watcher.tasks.tasks
    answered, deliver = asyncio.Event(), asyncio.Event()

    async def late(stream: str, **kwargs: Any) -> Any:
        result = await read(stream, **kwargs)
        if not answered.is_set():  # the cycle's read: DIS answered, the answer reaches the engine late
            answered.set()
            await deliver.wait()
        return result

    rig.watcher.tasks.tasks = late  # type: ignore[method-assign]
    cycle = asyncio.create_task(rig.watcher.run_cycle())
    await asyncio.wait_for(answered.wait(), 5)
    rig.sim.set_state("orders", "to-obs", "RUNNING")
    await rig.watch("orders")  # a new watch's first read: RUNNING, applied at once
    deliver.set()
    await cycle
    await rig.cycle()
    assert rig.fake.calls == [] and await rig.store.open_episodes() == []
    assert rig.service.last_poll("orders").counts == {"RUNNING": 1}


async def test_stale_read_failure_is_not_counted(rig: Rig) -> None:
    """A failed read that started before the newest applied one adds nothing to the stream's failures; a shared
    (single-flight) result is applied for every caller, whatever their tickets."""
    rig.sim.add_stream("orders", [SimTask("to-obs", state="ERROR")])
    await rig.store.upsert_subscription(CHANNEL, "orders", now=rig.clock.now)
    engine = rig.watcher.engine
    subs = await engine.subscribers("orders")
    older, newer = engine.read_started("orders"), engine.read_started("orders")
    result = await rig.watcher.tasks.tasks("orders", fresh=True)
    await engine.record_poll("orders", result, subs, read=newer)
    await engine.record_poll_failure("orders", Unavailable("late"), subs, read=older)
    assert engine.health == {} and rig.service.last_poll("orders").ok
    await rig.store.upsert_subscription(OTHER, "orders", now=rig.clock.now)
    await engine.record_poll("orders", result, await engine.subscribers("orders"), read=older)  # the same read's result
    assert sorted(e.channel_id for e in await rig.store.open_episodes()) == sorted([CHANNEL, OTHER])


# ---------------------------------------------------------------------- storm


async def test_storm_posts_per_channel_within_block_kit(rig: Rig) -> None:
    """120 tasks in 40 streams fail together, watched explicitly in one channel and through `*` in another:
    exactly one chat.postMessage per channel, every message (posts, updates, replies, reminders) valid for
    slack_sdk's Block Kit models; Snooze covers every task of the message."""
    streams = [f"stream-{i:02d}" for i in range(40)]
    for name in streams:
        rig.sim.add_stream(name, [SimTask(f"{name}-dump-to-obs-{j}") for j in range(3)])
        await rig.watch(name, mention=ONCALL)
    await rig.watch("*", channel=OTHER)
    await rig.cycle()
    assert rig.fake.calls == []
    for name in streams:
        for j in range(3):
            rig.sim.set_state(name, f"{name}-dump-to-obs-{j}", "ERROR")
    rig.hold_reads_until_posted("stream-00", posts=2)
    await rig.cycle_live()
    for channel in (CHANNEL, OTHER):
        [post] = [c for c in rig.fake.calls_to("chat.postMessage") if c.payload["channel"] == channel]
        assert "3 dump tasks failing" in post.blocks[0]["text"]["text"], channel
        updates = rig.updates(post.response["ts"])
        assert updates, channel
        for call in (post, *updates):
            validate_message(call.payload)
        assert "120 dump tasks failing in 40 streams" in rig.message(post, channel)["blocks"][0]["text"]["text"]
    [theirs] = [a for a in await rig.store.open_alerts() if a.channel_id == OTHER]
    assert len((await rig.service.snooze(theirs.id, "U0BOB", 4 * 3600)).episodes) == 120
    rig.clock.advance(3600)
    await rig.cycle()
    for name in streams:
        for j in range(3):
            rig.sim.set_state(name, f"{name}-dump-to-obs-{j}", "RUNNING")
    await rig.cycle()
    assert len(rig.posts()) == 2
    # Snoozed in OTHER: no reminder there. Per alert: one recovery reply; CHANNEL's also had a reminder.
    mine, other = (p.response["ts"] for p in rig.posts())
    assert ["Still failing" in r.text for r in rig.replies(mine)] == [True, False]
    assert ["snoozed" in r.text for r in rig.replies(other)] == [True, False]
    for call in rig.updates() + rig.replies():
        validate_message(call.payload)
    for post in rig.posts():
        assert rig.message(post, post.payload["channel"])["blocks"][0]["text"]["text"].startswith("✅ Resolved")


# ---------------------------------------------------------------------- timing of polls


async def test_poll_starts_are_spread_over_the_interval(make_rig: MakeRig) -> None:
    """With spread 0.5, ten reads of a 1 s cycle start ~50 ms apart over the first half second, not at once."""
    rig = make_rig(WATCH_INTERVAL_SECONDS=1, rig_clock=time.time, options={"spread": 0.5})  # type: ignore[arg-type]
    for i in range(10):
        rig.sim.add_stream(f"s{i}", [SimTask("t")])
        await rig.watch(f"s{i}")
    loop = asyncio.get_running_loop()
    starts: list[float] = []
    read = rig.watcher.tasks.tasks

    async def timed(stream: str, **kwargs: Any) -> Any:
        starts.append(loop.time())
        return await read(stream, **kwargs)

    rig.watcher.tasks.tasks = timed  # type: ignore[method-assign]
    before = loop.time()
    await rig.watcher.run_cycle()
    assert len(starts) == 10
    # Read i starts no sooner than i x 50 ms into the cycle (sleeps never end early), and all within the interval.
    assert all(at - before >= 0.05 * i - 0.001 for i, at in enumerate(starts)), [round(t - before, 3) for t in starts]
    assert starts[-1] - before < 1.0


async def test_no_watches_is_quiet(rig: Rig) -> None:
    """A bot nobody asked to watch anything reads nothing from DIS and posts nothing, cycle after cycle."""
    rig.sim.add_stream("orders", [SimTask("to-obs", state="ERROR")])
    rig.sim.reset_counts()
    for _ in range(3):
        report = await rig.cycle()
        assert report.streams == 0
    assert rig.sim.count() == 0 and rig.fake.calls == []
    assert isinstance(rig.store, SqlStore) and await rig.store.outbox() == []


async def test_stop_with_a_poll_stuck_in_dis(make_rig: MakeRig) -> None:
    """A read hanging past the shutdown budget: stop() gives up on it in time, applies none of it, and the next
    start alerts the problem once."""
    first = make_rig(WATCH_INTERVAL_SECONDS=3600, rig_clock=time.time)  # type: ignore[arg-type]
    await failing(first)
    first.sim.latency = 2.0
    await first.watcher.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await first.watcher.stop(timeout=0.5)
    assert loop.time() - started < 1.5  # the read alone takes 2 s
    assert first.watcher.cycles == 0 and await first.store.open_episodes() == [] and first.fake.calls == []
    await first.store.close()

    first.sim.latency = 0.0
    second = make_rig(db=first.db)
    await second.cycle()
    await second.cycle()
    [post] = second.posts()
    assert "orders/to-obs" in post.text
