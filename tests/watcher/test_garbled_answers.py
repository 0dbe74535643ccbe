"""A 200 from DIS without a usable task (or stream) list is a failed read, never "no tasks": open alerts stay
open, nothing is alerted twice, and enough of them in a row make the "cannot read" warning."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.dis.simulator import SimTask
from bot.store.base import KIND_BLIND, KIND_TASK
from tests.conftest import FAST_RETRY
from tests.watcher.conftest import Rig

#: Bodies a 200 may carry that claim success and hold no task list we can trust.
NO_TASK_LIST: dict[str, Any] = {
    "tasks-null": {"tasks": None, "total_number": 0},
    "other-shape": {"data": {"tasks": [{"task_name": "to-obs", "state": "ERROR"}]}},
    "not-objects": {"tasks": [1, 2], "total_number": 2},
    "no-names": {"tasks": [{"state": "ERROR"}, {"task_name": "", "state": "RUNNING"}], "total_number": 2},
    "fewer-than-total": {"tasks": [], "total_number": 1},
}
#: One poll is this many HTTP attempts (the rig's client retries a garbled read like a 503).
ATTEMPTS = FAST_RETRY.attempts


def tasks_path(rig: Rig, stream: str) -> str:
    return f"/v2/{rig.sim.project_id}/streams/{stream}/transfer-tasks"


def streams_path(rig: Rig) -> str:
    return f"/v2/{rig.sim.project_id}/streams"


async def alerted(rig: Rig, watch: str = "orders") -> None:
    """Task orders/to-obs is watched (by `orders` or `*`), failing, and alerted once."""
    rig.sim.add_stream("orders", [SimTask("to-obs")])
    await rig.watch(watch)
    rig.sim.set_state("orders", "to-obs", "ERROR")
    await rig.cycle()
    assert len(rig.posts()) == 1


@pytest.mark.parametrize("body", NO_TASK_LIST.values(), ids=NO_TASK_LIST.keys())
async def test_garbled_read_neither_ends_nor_repeats_an_alert(rig: Rig, body: Any) -> None:
    """One poll answered 200 without a usable task list, then good reads: the open alert stays open and is not
    edited, nobody is told it ended, and the failure is not alerted a second time."""
    await alerted(rig)
    [alert] = rig.posts()
    rig.sim.fail_next(ATTEMPTS, status=200, body=body, path=tasks_path(rig, "orders"), exact=True)
    report = await rig.cycle()
    assert report.failures == 1 and not rig.service.last_poll("orders").ok
    await rig.cycle()
    await rig.cycle()
    assert rig.posts() == [alert]
    assert rig.updates(alert.response["ts"]) == [] and rig.replies() == []
    [episode] = await rig.store.open_episodes(kind=KIND_TASK)
    assert episode.task_name == "to-obs" and episode.alert_id is not None


async def test_garbled_reads_in_a_row_make_the_cannot_read_warning(rig: Rig) -> None:
    """Three polls answered `{"tasks": null}` count like any failed read: one "cannot read" warning naming the
    garbled answer, the task's alert untouched; the next good read ends the warning, not the alert."""
    await alerted(rig)
    [alert] = rig.posts()
    rig.sim.fail_next(3 * ATTEMPTS, status=200, body={"tasks": None}, path=tasks_path(rig, "orders"), exact=True)
    for _ in range(3):
        await rig.cycle()
    _, warning = rig.posts()
    assert warning.blocks[0]["text"]["text"] == "⚠️ I cannot read orders"
    assert "not the JSON we expect" in json.dumps(warning.blocks) and "no task list" in json.dumps(warning.blocks)
    assert rig.service.last_poll("orders").failures == 3
    rig.clock.advance(300)
    await rig.cycle()
    assert "I can read *orders* again" in rig.replies(warning.response["ts"])[0].text
    assert rig.updates(alert.response["ts"]) == [] and rig.replies(alert.response["ts"]) == []
    assert [e.task_name for e in await rig.store.open_episodes(kind=KIND_TASK)] == ["to-obs"]
    assert await rig.store.open_episodes(kind=KIND_BLIND) == []
    assert len(rig.posts()) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"stream_info_list": {"x": 1}},
        {"stream_names": [1, 2]},
        {"stream_info_list": None, "stream_names": None},
        {"total_number": 1, "stream_names": [], "has_more_streams": False, "stream_info_list": []},
        {"total_number": 1, "stream_names": [], "has_more_streams": True, "stream_info_list": []},
    ],
    ids=["info-not-a-list", "names-not-strings", "both-null", "fewer-than-total", "empty-page-claiming-more"],
)
async def test_garbled_stream_list_keeps_wildcard_streams(rig: Rig, body: Any) -> None:
    """A `*` watch whose streams list comes back 200 without a usable list: the streams known are still polled,
    their open alert is neither ended as deleted nor posted again."""
    await alerted(rig, watch="*")
    [alert] = rig.posts()
    rig.sim.fail_next(ATTEMPTS, status=200, body=body, path=streams_path(rig), exact=True)
    await rig.cycle()
    assert rig.service.last_poll("orders").ok
    await rig.cycle()
    assert rig.posts() == [alert]
    assert rig.updates(alert.response["ts"]) == [] and rig.replies() == []
    assert [e.task_name for e in await rig.store.open_episodes(kind=KIND_TASK)] == ["to-obs"]


async def test_garbled_stream_lists_in_a_row_warn_for_the_wildcard(rig: Rig) -> None:
    """Three streams lists in a row answered 200 with `{"stream_info_list": "?"}` make the "cannot read the
    project's stream list" warning, as a refused list does."""
    rig.sim.add_stream("orders", [SimTask("to-obs")])
    await rig.watch("*")
    rig.sim.fail_next(3 * ATTEMPTS, status=200, body={"stream_info_list": "?"}, path=streams_path(rig), exact=True)
    for _ in range(3):
        await rig.cycle()
    [warning] = rig.posts()
    assert warning.blocks[0]["text"]["text"] == "⚠️ I cannot read the project's stream list"
    assert "not the JSON we expect" in json.dumps(warning.blocks)
