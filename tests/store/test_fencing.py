"""Fencing on both engines: once `fence(term)` is set, the leader's writes check `leadership.term` and a deposed
leader's transaction raises `FencedOut` and leaves nothing behind; without a fence nothing is checked."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from bot.errors import FencedOut, StoreUnavailable
from bot.store import SqlStore, connect_store
from bot.store.base import KIND_TASK, OUT_POST, KnownTask, StreamHealth

NOW = 1_700_000_000.0


async def take_term(store: SqlStore, term: int, holder: str = "replica-b") -> None:
    """What another replica's election does: a new term in the leadership row."""
    async with store.engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE leadership SET term = :t, holder = :h WHERE id = 1"), {"t": term, "h": holder}
        )


async def test_without_a_fence_no_term_is_checked(store: SqlStore) -> None:
    """A single instance (no fence) writes whatever the leadership row says."""
    await take_term(store, 7)
    await store.save_task_states("s", [KnownTask("s", "t", "ERROR")])
    _, created = await store.open_episode(
        channel_id="C1", stream="s", task_name="t", kind=KIND_TASK, state="ERROR", started_at=NOW
    )
    assert created


async def test_the_leader_writes_while_its_term_holds(store: SqlStore) -> None:
    """With the stored term equal to the fence, every fenced write goes through."""
    await take_term(store, 3, "me")
    store.fence(3)
    await store.save_task_states("s", [KnownTask("s", "t", "ERROR")])
    await store.put_stream_health(StreamHealth("s", failures=1))
    episode, _ = await store.open_episode(
        channel_id="C1", stream="s", task_name="t", kind=KIND_TASK, state="ERROR", started_at=NOW
    )
    await store.update_episode(episode.id, state="ABNORMAL")
    item = await store.enqueue("alert:1:post", "C1", OUT_POST, now=NOW)
    assert item is not None
    await store.mark_sending(item.id)
    await store.mark_done(item.id, NOW)
    assert (await store.outbox_item(item.id)).state == "done"


async def test_a_deposed_leader_is_fenced_out_and_its_transaction_rolls_back(store: SqlStore) -> None:
    """After another replica took a newer term, recording a poll, opening or updating an episode and marking an
    outbox row sent or done raise FencedOut (not StoreUnavailable: the store is healthy), and the whole
    transaction is undone; writes people make (a watch) still work."""
    await take_term(store, 3, "me")
    store.fence(3)
    episode, _ = await store.open_episode(
        channel_id="C1", stream="s", task_name="t", kind=KIND_TASK, state="ERROR", started_at=NOW
    )
    item = await store.enqueue("alert:1:post", "C1", OUT_POST, now=NOW)
    assert item is not None
    await take_term(store, 4)
    with pytest.raises(FencedOut) as caught:
        async with store.transaction():
            await store.upsert_subscription("C1", "orders", now=NOW)
            await store.save_task_states("s", [KnownTask("s", "t", "RUNNING")])
    assert not isinstance(caught.value, StoreUnavailable)
    assert (caught.value.term, caught.value.current) == (3, 4)
    assert await store.subscriptions() == [] and await store.task_states() == {}
    for write in (
        store.open_episode(channel_id="C2", stream="s", task_name="t", kind=KIND_TASK, state="ERROR", started_at=NOW),
        store.update_episode(episode.id, state="ABNORMAL"),
        store.mark_sending(item.id),
        store.mark_done(item.id, NOW),
    ):
        with pytest.raises(FencedOut):
            await write
    assert (await store.outbox_item(item.id)).state == "pending"
    assert [e.state for e in await store.open_episodes()] == ["ERROR"]
    assert not store.faults.failing
    await store.upsert_subscription("C1", "orders", now=NOW)  # not a leader's write: not fenced


async def test_a_new_term_waits_for_the_fenced_transaction_in_flight(postgres_url: str) -> None:
    """PostgreSQL: the fence's `FOR SHARE` holds the leadership row until the leader's transaction ends, so another
    replica cannot take the term half-way through a write it then makes stale."""
    store = await connect_store(postgres_url)
    other = await connect_store(postgres_url)
    try:
        store.fence(0)
        taken = asyncio.Event()

        async def elect() -> None:
            await take_term(other, 1)
            taken.set()

        async with store.transaction():
            await store.save_task_states("s", [KnownTask("s", "t", "ERROR")])
            election = asyncio.create_task(elect())
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.shield(taken.wait()), 0.2)  # blocked on the row lock
        await asyncio.wait_for(election, 5)
        assert (await store.task_states())["s"]["t"].state == "ERROR"  # committed under the old term
        with pytest.raises(FencedOut):
            await store.save_task_states("s", [KnownTask("s", "t", "RUNNING")])
    finally:
        await store.close()
        await other.close()
