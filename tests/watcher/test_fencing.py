"""A watcher whose term was taken by another replica steps down: a poll that finds the fence moved stops the
cycles, an outbox row is not sent, nothing crashes or retries; the store is left as the new leader needs it."""

from __future__ import annotations

import sqlalchemy as sa

from bot.dis.simulator import SimTask
from bot.store.base import OUT_MESSAGE, PENDING
from tests.conftest import eventually
from tests.watcher.conftest import CHANNEL, Rig


async def set_term(rig: Rig, term: int) -> None:
    """What another replica's election does to the leadership row."""
    async with rig.store.engine.begin() as conn:
        await conn.execute(sa.text("UPDATE leadership SET term = :t WHERE id = 1"), {"t": term})


async def test_a_poll_fenced_out_steps_the_watcher_down_without_an_alert(rig: Rig) -> None:
    """Leading term 3 when another replica takes term 4: the next poll that records a change is refused, the
    watcher stops leading (no crash, no retry loop) and Slack hears nothing."""
    rig.sim.add_stream("orders", [SimTask("to-obs", state="RUNNING")])
    await rig.watch("orders")
    await set_term(rig, 3)
    await rig.watcher.lead(3)
    try:
        await set_term(rig, 4)
        rig.sim.set_state("orders", "to-obs", "ERROR")
        rig.watcher.poke()
        await eventually(lambda: not rig.watcher.leading)
        assert await rig.watcher.flush() == 0
        assert rig.posts() == []
        assert await rig.store.open_episodes() == []
    finally:
        assert await rig.watcher.stop(timeout=2)


async def test_an_outbox_row_fenced_out_is_left_for_the_next_leader(rig: Rig) -> None:
    """A queued row whose delivery mark finds another leader's term is not sent and stays pending; the outbox
    halts instead of retrying it."""
    await set_term(rig, 3)
    rig.store.fence(3)
    item = await rig.store.enqueue("test:1", CHANNEL, OUT_MESSAGE, now=rig.clock(), payload={"text": "hi"})
    assert item is not None
    await set_term(rig, 4)
    fenced: list[object] = []
    rig.watcher.sender.on_fenced = fenced.append
    assert await rig.watcher.sender.deliver_due() == 1  # attempted: refused before any Slack call
    assert await rig.watcher.sender.deliver_due() == 0  # halted
    assert len(fenced) == 1
    assert rig.fake.calls_to("chat.postMessage") == []
    assert (await rig.store.outbox_item(item.id)).state == PENDING
