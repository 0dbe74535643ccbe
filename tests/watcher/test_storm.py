"""Alert storms: with a backlog of edits and replies queued for a channel, a new alert still goes out next."""

from __future__ import annotations

import asyncio

from bot.dis.simulator import SimTask
from tests.watcher.conftest import CHANNEL, MakeRig, Rig

#: Ten alerts, each with 19 reminders and one edit waiting: 200 rows queued for one channel.
ALERTS = 10
REMINDERS = 19


async def storm_backlog(rig: Rig) -> None:
    """Post ten alerts in CHANNEL, then queue 200 edits and reminders for them without sending any."""
    rig.sim.add_stream("old", [SimTask(f"t{i}") for i in range(ALERTS)])
    rig.sim.add_stream("new", [SimTask("fresh")])
    await rig.watch("old")
    await rig.watch("new")
    for i in range(ALERTS):  # one problem per cycle: one alert each
        rig.sim.set_state("old", f"t{i}", "ERROR")
        await rig.cycle()
    assert len(rig.posts()) == ALERTS
    for _ in range(REMINDERS):
        rig.clock.advance(60)  # WATCH_REPEAT_MINUTES=1: every alert is due a reminder
        await rig.watcher.run_cycle()  # queued, not delivered
    for i in range(ALERTS):
        rig.sim.set_state("old", f"t{i}", "ABNORMAL")  # every alert is due an edit
    await rig.watcher.run_cycle()
    assert await rig.store.outbox_depth() == ALERTS * (REMINDERS + 1)


async def test_new_alert_is_the_next_call_after_the_one_in_flight(make_rig: MakeRig) -> None:
    """200 edits and reminders queued for a channel: a new failure there is posted right after the call in flight."""
    rig = make_rig(WATCH_REPEAT_MINUTES=1)
    await storm_backlog(rig)
    before = len(rig.fake.calls)
    rig.fake.hold("chat.postMessage")
    sender = asyncio.create_task(rig.watcher.sender.run())
    try:
        await rig.fake.wait_for("chat.postMessage", count=rig.fake.count("chat.postMessage") + 1)
        [in_flight] = rig.fake.calls[before:]
        assert in_flight.payload.get("thread_ts")  # the oldest reminder is being sent
        rig.sim.set_state("new", "fresh", "ERROR")
        await rig.watcher.run_cycle()  # the poll that sees it queues the post behind the 199 left
        rig.fake.release("chat.postMessage")
        await rig.fake.wait_for("chat.postMessage", where=lambda c: "new/fresh" in c.text)
    finally:
        rig.watcher.sender.request_stop()
        await sender
    following = rig.fake.calls[before + 1]
    assert following.method == "chat.postMessage" and "new/fresh" in following.text
    assert not following.payload.get("thread_ts") and following.payload["channel"] == CHANNEL
    await rig.watcher.flush()
    assert await rig.store.outbox_depth() == 0  # and the backlog still goes out, nothing dropped


async def test_new_alerts_own_edit_and_reply_follow_its_post(make_rig: MakeRig) -> None:
    """Under the same backlog, the new alert's own edit and recovery reply come after its post, never before."""
    rig = make_rig(WATCH_REPEAT_MINUTES=1)
    await storm_backlog(rig)
    rig.sim.set_state("new", "fresh", "ERROR")
    await rig.watcher.run_cycle()
    rig.sim.set_state("new", "fresh", "RUNNING")
    await rig.watcher.run_cycle()  # its resolve edit and "RUNNING again" reply are queued too
    before = len(rig.fake.calls)
    await rig.watcher.flush()
    sent = rig.fake.calls[before:]
    post = next(i for i, c in enumerate(sent) if "new/fresh" in c.text and not c.payload.get("thread_ts"))
    assert post == 0
    ts = sent[post].response["ts"]
    own = [i for i, c in enumerate(sent) if c.payload.get("ts") == ts or c.payload.get("thread_ts") == ts]
    assert own and min(own) > post
