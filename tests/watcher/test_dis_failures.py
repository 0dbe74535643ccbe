"""DIS trouble is not a task failure: silence for transient errors, one warning after N failed polls, one note after."""

from __future__ import annotations

import json

from bot.dis.simulator import SimTask
from bot.store.base import KIND_TASK
from tests.watcher.conftest import CHANNEL, OTHER, Rig


async def test_transient_failures_raise_nothing(rig: Rig) -> None:
    """Two failed polls in a row (below WATCH_FAILURES_BEFORE_WARNING=3), then success: no message at all."""
    rig.sim.add_stream("orders", [SimTask("to-obs")])
    await rig.watch("orders")
    rig.sim.fail_next(2, status=403, path="/streams/orders/")
    await rig.cycle()
    await rig.cycle()
    assert rig.watcher.last_cycle.failures == 1
    assert rig.service.last_poll("orders").failures == 2
    await rig.cycle()
    assert rig.fake.calls_to("chat.postMessage") == []
    assert rig.service.last_poll("orders").ok and await rig.store.stream_health() == {}


async def test_warning_once_then_note_when_readable(rig: Rig) -> None:
    """A vanished stream: one warning (reason: not found) after 3 failed polls, none after; one note when back."""
    rig.sim.add_stream("orders", [SimTask("to-obs")])
    await rig.watch("orders")
    rig.sim.remove_stream("orders")
    for _ in range(2):
        await rig.cycle()
    assert rig.posts() == []
    await rig.cycle()
    [warning] = rig.posts()
    assert warning.blocks[0]["text"]["text"] == "⚠️ I cannot read orders"
    assert "not found" in json.dumps(warning.blocks)
    for _ in range(3):
        await rig.cycle()
    assert len(rig.posts()) == 1
    rig.clock.advance(300)
    rig.sim.add_stream("orders", [SimTask("to-obs")])
    await rig.cycle()
    [note] = rig.replies(warning.response["ts"])
    assert "I can read *orders* again" in note.text
    assert rig.message(warning)["blocks"][0]["text"]["text"] == "✅ I can read orders again"
    assert len(rig.posts()) == 1


async def test_blind_everywhere_is_one_warning_per_channel(rig: Rig) -> None:
    """Credentials revoked for every stream: each channel gets one warning listing its streams."""
    for name in ("a", "b", "c", "d"):
        rig.sim.add_stream(name, [SimTask("t")])
        await rig.watch(name)
    await rig.watch("a", channel=OTHER)
    rig.sim.fail_next(100, status=403, path="/transfer-tasks")
    for _ in range(4):
        await rig.cycle()
    [mine] = rig.posts(CHANNEL)
    [theirs] = rig.posts(OTHER)
    assert mine.blocks[0]["text"]["text"] == "⚠️ I cannot read 4 streams"
    assert "authentication or permission refused" in json.dumps(mine.blocks)
    assert theirs.blocks[0]["text"]["text"] == "⚠️ I cannot read a"


async def test_open_problems_survive_blindness(rig: Rig) -> None:
    """While a stream cannot be read its open problem stays open: no false recovery, no new alert after."""
    rig.sim.add_stream("orders", [SimTask("to-obs")])
    await rig.watch("orders")
    rig.sim.set_state("orders", "to-obs", "ERROR")
    await rig.cycle()
    rig.sim.fail_next(3, status=403, path="/streams/orders/")
    for _ in range(3):
        await rig.cycle()
    assert [e.task_name for e in await rig.store.open_episodes(kind=KIND_TASK)] == ["to-obs"]
    await rig.cycle()
    alert, warning = rig.posts()
    assert "orders/to-obs" in alert.text and "cannot read" in warning.text
    assert rig.replies(alert.response["ts"]) == [] and rig.updates(alert.response["ts"]) == []


async def test_stream_list_failure_for_wildcard(rig: Rig) -> None:
    """`*` watches warn once when the streams list cannot be read, and note when it can again."""
    rig.sim.add_stream("orders", [SimTask("to-obs")])
    await rig.watch("*")
    rig.sim.fail_next(3, status=403, path="/streams")
    for _ in range(3):
        await rig.cycle()
    [warning] = rig.posts()
    assert warning.blocks[0]["text"]["text"] == "⚠️ I cannot read the project's stream list"
    await rig.cycle()
    assert "I can read *the project's stream list* again" in rig.replies(warning.response["ts"])[0].text
