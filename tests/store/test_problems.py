"""Problem kinds in the store, on both engines: one open episode per task, channel and problem; a silent problem's
detail kept with its episode; a task's discard baseline kept across a restart; a schema-v1 file migrated to it."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.store import SqlStore, connect_store
from bot.store.base import (
    KIND_TASK,
    PROBLEM_DISCARDING,
    PROBLEM_STALLED,
    PROBLEM_STATE,
    KnownTask,
)
from tests.store.test_migrations import V1_FILE

NOW = 1_700_000_000.0


async def _open(store: SqlStore, problem: str, **detail: object) -> tuple[int, bool]:
    ep, created = await store.open_episode(
        channel_id="C1",
        stream="orders",
        task_name="to-obs",
        kind=KIND_TASK,
        state=problem if problem != PROBLEM_STATE else "ERROR",
        started_at=NOW,
        problem=problem,
        detail=dict(detail) or None,
    )
    return ep.id, created


async def test_one_open_episode_per_problem_of_a_task(store: SqlStore) -> None:
    """A task may have a stalled and a state problem open at once, but never two open stalled episodes."""
    state_id, created_state = await _open(store, PROBLEM_STATE)
    stalled_id, created_stalled = await _open(store, PROBLEM_STALLED, backlog=5)
    again_id, created_again = await _open(store, PROBLEM_STALLED, backlog=9)
    assert created_state and created_stalled and not created_again
    assert again_id == stalled_id != state_id
    assert {e.problem for e in await store.open_episodes(stream="orders")} == {PROBLEM_STATE, PROBLEM_STALLED}
    [state] = await store.open_episodes(stream="orders", problem=PROBLEM_STATE)
    assert state.id == state_id and not state.is_silent


async def test_a_silent_problem_keeps_its_detail_through_updates_and_its_end(store: SqlStore) -> None:
    """The detail is stored with the episode, replaced by an update and by the close that ends it."""
    ep_id, _ = await _open(store, PROBLEM_DISCARDING, total=10, since=NOW)
    alert = await store.create_alert("C1", KIND_TASK, now=NOW)
    await store.attach_episodes([ep_id], alert.id)
    await store.update_episode(ep_id, detail={"total": 25, "since": NOW})
    [ep] = await store.open_episodes(problem=PROBLEM_DISCARDING)
    assert ep.detail == {"total": 25, "since": NOW} and ep.state == PROBLEM_DISCARDING
    await store.close_episode(ep_id, ended_at=NOW + 60, end_state="RUNNING", detail={"total": 30, "since": NOW})
    [ended] = await store.episodes_for_alert(alert.id)
    assert (ended.end_state, ended.detail) == ("RUNNING", {"total": 30, "since": NOW})
    assert await store.open_episodes(problem=PROBLEM_DISCARDING) == []


async def test_discard_baselines_survive_a_new_store_and_state_writes(store_url: str) -> None:
    """The discard count recorded for a task is read back by a new store, and a later state write keeps it."""
    first = await connect_store(store_url)
    await first.save_task_states("orders", [KnownTask("orders", "to-obs", "RUNNING", "t1", since=NOW)])
    await first.set_discards("orders", {"to-obs": (1204, NOW + 5)})
    await first.close()
    second = await connect_store(store_url)
    try:
        known = (await second.task_states())["orders"]["to-obs"]
        assert (known.discarded, known.discarded_at) == (1204, NOW + 5)
        await second.save_task_states(
            "orders", [KnownTask("orders", "to-obs", "ERROR", "t1", since=NOW, discarded=1204)]
        )
        assert (await second.task_states())["orders"]["to-obs"].discarded == 1204
    finally:
        await second.close()


async def test_a_schema_v1_files_episodes_become_state_problems(tmp_path: Path) -> None:
    """After migrating the pre-Alembic file, its open ERROR episode is a state problem, and a stalled episode of
    the same task can open beside it."""
    db = tmp_path / "bot.db"
    shutil.copy(V1_FILE, db)
    store = await connect_store(f"sqlite:///{db}")
    try:
        [old] = await store.open_episodes()
        assert old.problem == PROBLEM_STATE and old.detail is None
        ep, created = await store.open_episode(
            channel_id=old.channel_id,
            stream=old.stream,
            task_name=old.task_name,
            kind=KIND_TASK,
            state=PROBLEM_STALLED,
            started_at=NOW,
            problem=PROBLEM_STALLED,
        )
        assert created and ep.id != old.id
    finally:
        await store.close()
