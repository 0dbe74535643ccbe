"""Restart on the same database: no duplicate alerts, changes made while down are found, the outbox resumes."""

from __future__ import annotations

from bot.dis.simulator import SimTask
from bot.store.base import OUT_REPLY, PENDING
from bot.watcher.ids import ALERT_METADATA_EVENT
from tests.watcher.conftest import CHANNEL, MakeRig, Rig


async def test_no_duplicates_and_missed_transitions_found(make_rig: MakeRig) -> None:
    """After a restart an alerted problem is not alerted again; changes made while down are found."""
    first = make_rig()
    first.sim.add_stream("orders", [SimTask("a"), SimTask("b"), SimTask("c")])
    await first.watch("orders")
    first.sim.set_state("orders", "a", "ERROR")
    first.sim.set_state("orders", "c", "ERROR")
    await first.cycle()
    [alert] = first.posts()
    await first.store.close()

    # While the bot is down: a recovers, b fails, c stays in ERROR.
    first.sim.set_state("orders", "a", "RUNNING")
    first.sim.set_state("orders", "b", "ABNORMAL")

    second = make_rig(db=first.db)
    await second.watcher.start()
    try:
        await second.cycle()
    finally:
        await second.watcher.stop(timeout=5)
    posts = second.posts()
    assert len(posts) == 2 and "orders/b" in posts[1].text and "orders/a" not in posts[1].text
    [reply] = second.replies(alert.response["ts"])
    assert "`a` (orders) is RUNNING again" in reply.text
    assert "orders/c" not in posts[1].text
    assert {e.task_name for e in await second.store.open_episodes()} == {"b", "c"}


async def test_baseline_is_not_repeated_after_restart(make_rig: MakeRig) -> None:
    """An "already failing" report from before the restart is not repeated after it."""
    first = make_rig()
    first.sim.add_stream("orders", [SimTask("a", state="ERROR")])
    await first.watch("orders")
    assert len(first.posts()) == 1
    await first.store.close()
    second = make_rig(db=first.db)
    for _ in range(2):
        await second.cycle()
    assert len(second.posts()) == 1


async def test_outbox_is_delivered_after_restart(make_rig: MakeRig) -> None:
    """An alert whose delivery failed before the restart is delivered once by the next process."""
    first = make_rig()
    first.sim.add_stream("orders", [SimTask("a")])
    await first.watch("orders")
    first.sim.set_state("orders", "a", "ERROR")
    first.fake.fail_next("chat.postMessage", 1, status=503)
    await first.cycle()
    assert first.posts() == [] and len(await first.store.outbox(state=PENDING)) == 1
    await first.store.close()
    first.clock.advance(60)  # the restart happens after the retry delay

    second = make_rig(db=first.db)
    await second.watcher.start()
    await second.fake.wait_for("chat.postMessage", timeout=5)
    await second.cycle()
    assert await second.watcher.stop(timeout=5)
    [post] = second.posts()
    assert "orders/a" in post.text


async def test_row_caught_mid_send_is_sent_again(make_rig: MakeRig) -> None:
    """A crash between sending and recording: the row goes again (at least once), marked by its key."""
    first = make_rig()
    first.sim.add_stream("orders", [SimTask("a")])
    await first.watch("orders")
    first.sim.set_state("orders", "a", "ERROR")
    await first.watcher.run_cycle()
    [item] = await first.store.outbox(state=PENDING)
    await first.store.mark_sending(item.id)  # the process dies here, mid-send
    await first.store.close()

    second = make_rig(db=first.db)
    await second.watcher.start()
    [post] = await second.fake.wait_for("chat.postMessage", timeout=5)
    assert await second.watcher.stop(timeout=5)
    assert post.payload["metadata"]["event_payload"]["key"] == item.key
    assert post.payload["channel"] == CHANNEL


async def test_thread_replies_carry_their_key_too(rig: Rig) -> None:
    """Replies go out with their idempotency key in the message metadata, like alert posts, so a resent one shows."""
    rig.sim.add_stream("orders", [SimTask("a")])
    await rig.watch("orders")
    rig.sim.set_state("orders", "a", "ERROR")
    await rig.cycle()
    rig.sim.set_state("orders", "a", "RUNNING")
    await rig.cycle()
    [post] = rig.posts()
    [reply] = rig.replies(post.response["ts"])
    [row] = [r for r in await rig.store.outbox() if r.kind == OUT_REPLY]
    assert reply.payload["metadata"] == {"event_type": ALERT_METADATA_EVENT, "event_payload": {"key": row.key}}
    assert rig.message(reply)["metadata"]["event_payload"]["key"] == row.key
