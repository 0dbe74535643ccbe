"""The watcher and the outbox while the database refuses writes: a real SQLite file whose write lock another
connection holds (`database is locked`), the DIS simulator and the fake Slack. Nothing stops, nothing is sent
twice, and what could not be recorded is recorded (and alerted) once writes work again."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.devtools.fake_slack import Call
from bot.dis.simulator import SimTask
from bot.store.base import DONE, PENDING
from tests.conftest import WriteLock, eventually
from tests.watcher.conftest import MakeRig, Rig

#: A store that gives up on a held lock at once (the bot's default waits 1 s, on the event loop).
FAST_STORE = {"busy_timeout": 0.01}


async def watched(rig: Rig, *tasks: str) -> None:
    rig.sim.add_stream("orders", [SimTask(name) for name in tasks])
    await rig.watch("orders")


def texts(calls: list[Call]) -> list[str]:
    return [c.payload.get("text", "") for c in calls]


async def test_a_write_refused_after_slack_took_the_post_does_not_stop_delivery(make_rig: MakeRig) -> None:
    """The store refuses to record a post Slack accepted: the sender keeps running, records it once writes work
    (the post is not sent again), and delivers the next alert without a restart."""
    rig = make_rig(rig_clock=time.time, store_options=FAST_STORE, options={"store_retry": 0.02})
    await watched(rig, "to-obs", "to-dws")
    lock = WriteLock(rig.db)

    def lock_after_first_post(call: Call) -> None:
        if call.method == "chat.postMessage" and "to-obs" in call.payload.get("text", ""):
            lock.hold()  # Slack has the message; the bot's "delivered" write will meet the lock

    rig.fake.on_message = lock_after_first_post
    sender = asyncio.create_task(rig.watcher.sender.run())
    try:
        rig.sim.set_state("orders", "to-obs", "ERROR")
        await rig.watcher.run_cycle()
        await eventually(lambda: bool(rig.watcher.sender.unrecorded))
        assert rig.store.faults.failing
        assert not sender.done()
        lock.release()
        await eventually(lambda: not rig.watcher.sender.unrecorded)
        assert [row.state for row in await rig.store.outbox()] == [DONE]
        rig.sim.set_state("orders", "to-dws", "ERROR")
        await rig.watcher.run_cycle()
        await rig.fake.wait_for("chat.postMessage", 2)
    finally:
        lock.release()
        rig.watcher.sender.request_stop()
        await sender
    first, second = rig.posts()
    assert "to-obs" in first.payload["text"] and "to-dws" in second.payload["text"]
    assert sum("to-obs" in t for t in texts(rig.fake.calls_to("chat.postMessage"))) == 1
    [alert, _] = await rig.store.open_alerts()
    assert alert.ts == first.response["ts"]  # recorded late, but recorded: updates and replies find it
    assert not rig.store.faults.failing


async def test_a_row_that_could_not_be_marked_sending_is_not_sent_until_writes_work(make_rig: MakeRig) -> None:
    """A refused "sending" mark means the row was not sent; the next pass after `store_retry` sends it once."""
    rig = make_rig(store_options=FAST_STORE, options={"store_retry": 5.0})
    await watched(rig, "to-obs")
    rig.sim.set_state("orders", "to-obs", "ERROR")
    await rig.watcher.run_cycle()
    with WriteLock(rig.db):
        await rig.watcher.flush()
        assert rig.fake.calls_to("chat.postMessage") == []
        [row] = await rig.store.outbox(state=PENDING)
        assert row.attempts == 0
    rig.clock.advance(4.9)
    await rig.watcher.flush()
    assert rig.posts() == []  # the pause after a refused write is not over yet
    rig.clock.advance(0.1)
    await rig.watcher.flush()
    assert len(rig.posts()) == 1 and rig.fake.count("chat.postMessage") == 1
    assert await rig.store.outbox(state=PENDING) == []


async def test_the_outbox_pause_ends_as_soon_as_a_write_works_elsewhere(make_rig: MakeRig) -> None:
    """After a refused write the outbox does not wait out `store_retry` once the poll loop has written again."""
    rig = make_rig(store_options=FAST_STORE, options={"store_retry": 300.0})
    await watched(rig, "to-obs")
    rig.sim.set_state("orders", "to-obs", "ERROR")
    await rig.watcher.run_cycle()
    with WriteLock(rig.db):
        await rig.watcher.flush()
    assert rig.posts() == []
    await rig.store.check_writable()  # what the next cycle does while the store is failing
    await rig.watcher.flush()
    assert len(rig.posts()) == 1


async def test_a_problem_seen_while_writes_fail_is_alerted_once_they_work(
    make_rig: MakeRig, caplog: pytest.LogCaptureFixture
) -> None:
    """Cycles go on while writes fail, logging one WARNING (not one per poll, not the problem again each poll) and
    no error; the next cycle that can write alerts the problem seen meanwhile, once."""
    rig = make_rig(store_options=FAST_STORE)
    await watched(rig, "to-obs", "to-dws", "to-dli")
    caplog.set_level(logging.DEBUG)
    with WriteLock(rig.db):
        rig.sim.set_state("orders", "to-obs", "ERROR")
        for _ in range(3):
            report = await rig.cycle()
            rig.clock.advance(1)
        assert report.streams == 1 and rig.posts() == []
        assert rig.store.faults.failing
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("bot")]
    assert [r.getMessage() for r in warnings] == ["store.write_failing"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await rig.cycle()
    [post] = rig.posts()
    assert "to-obs" in post.payload["text"]
    assert not rig.store.faults.failing
    await rig.cycle()
    assert len(rig.posts()) == 1
    assert [r.getMessage() for r in caplog.records].count("watch.problem") == 1  # logged when recorded, once


async def test_a_problem_over_before_writes_work_is_not_alerted(make_rig: MakeRig) -> None:
    """A task that failed and recovered while nothing could be recorded raises nothing afterwards."""
    rig = make_rig(store_options=FAST_STORE)
    await watched(rig, "to-obs")
    with WriteLock(rig.db):
        rig.sim.set_state("orders", "to-obs", "ERROR")
        await rig.cycle()
        rig.sim.set_state("orders", "to-obs", "RUNNING")
    await rig.cycle()
    await rig.cycle()
    assert rig.posts() == [] and await rig.store.open_episodes() == []


async def test_a_quiet_bot_proves_writes_work_again(make_rig: MakeRig) -> None:
    """With nothing to record, a cycle after the lock is gone still clears the fault (a harmless write)."""
    rig = make_rig(store_options=FAST_STORE)
    await watched(rig, "to-obs")
    with WriteLock(rig.db):
        with pytest.raises(Exception, match="database is locked"):
            await rig.store.set_baseline_done("C0OPS", "orders")
        assert rig.store.faults.failing
    await rig.watcher._safe_cycle()
    assert not rig.store.faults.failing
    ready, detail = rig.store.faults.check(0.0)
    assert ready and detail == {"ok": True}


async def test_a_start_while_the_database_is_locked_goes_on_and_catches_up(make_rig: MakeRig) -> None:
    """start() with the lock held raises nothing; once the lock is gone DIS_WATCH is recorded, the outbox starts
    and the task already failing is reported, without a restart."""
    rig = make_rig(
        rig_clock=time.time,
        store_options=FAST_STORE,
        options={"store_retry": 0.02},
        WATCH_INTERVAL_SECONDS=0.02,
        DIS_WATCH="orders=C0OPS",
    )
    rig.sim.add_stream("orders", [SimTask("to-obs", state="ERROR")])
    lock = WriteLock(rig.db)
    lock.hold()
    try:
        await rig.watcher.start()
        await eventually(lambda: rig.store.faults.failures >= 3)  # cycles keep trying
        assert await rig.store.subscriptions() == [] and rig.fake.calls_to("chat.postMessage") == []
        lock.release()
        [post] = await rig.fake.wait_for("chat.postMessage")
    finally:
        lock.release()
        assert await rig.watcher.stop(timeout=5)
    assert "to-obs" in post.payload["text"]
    assert [s.stream for s in await rig.store.subscriptions()] == ["orders"]
