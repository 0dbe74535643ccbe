"""`*` watches follow the streams list; DIS_WATCH watches come from configuration; the real loop end to end."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.dis.simulator import SimTask
from bot.errors import ConfigError
from bot.services.watches import Unwatched
from bot.store.base import SOURCE_CONFIG
from tests.watcher.conftest import CHANNEL, OTHER, MakeRig, Rig


async def test_wildcard_follows_new_and_deleted_streams(rig: Rig) -> None:
    """New streams join a `*` watch (their failures alert); deleted ones leave quietly."""
    rig.sim.add_stream("a", [SimTask("t")])
    result = await rig.watch("*")
    assert result.streams == 1
    await rig.cycle()
    rig.sim.add_stream("b", [SimTask("t", state="ERROR")])
    rig.sim.set_state("a", "t", "ERROR")
    await rig.cycle()
    [post] = rig.posts()
    assert "a/t" in post.text and "b/t" in post.text
    rig.sim.remove_stream("b")
    for _ in range(5):
        await rig.cycle()
    assert len(rig.posts()) == 1 and rig.replies() == []
    assert "b" not in rig.watcher.engine.polls
    blocks = rig.message(post)["blocks"]
    assert blocks[0]["text"]["text"] == "🔴 1 of 2 dump tasks still failing in 2 streams"
    assert ":wastebasket: ~`t`~ deleted" in str(blocks)


async def test_wildcard_baseline_reports_old_problems_once(rig: Rig) -> None:
    """A new `*` watch reports what is already failing in every stream, once, in one message."""
    rig.sim.add_stream("a", [SimTask("t", state="ERROR")])
    rig.sim.add_stream("b", [SimTask("t", state="ABNORMAL"), SimTask("u")])
    await rig.watch("*")
    await rig.cycle()
    await rig.cycle()
    [post] = rig.posts()
    assert "already failing" in post.blocks[0]["text"]["text"]
    assert not (await rig.store.subscriptions(channel_id=CHANNEL))[0].baseline_pending


async def test_explicit_watch_wins_over_wildcard_in_a_channel(rig: Rig) -> None:
    """A channel with both `*` and `a` hears about `a` once, with the explicit watch's mention."""
    rig.sim.add_stream("a", [SimTask("t")])
    await rig.watch("*", mention="<!subteam^SALL>")
    await rig.watch("a", mention="<@U0A>")
    rig.sim.set_state("a", "t", "ERROR")
    await rig.cycle()
    [post] = rig.posts()
    assert post.text.startswith("<@U0A>")


async def test_dis_watch_config(make_rig: MakeRig) -> None:
    """DIS_WATCH creates watches (several channels per stream); removed pairs go away; they cannot be unwatched."""
    rig = make_rig(DIS_WATCH=f"orders={CHANNEL},orders={OTHER}")
    rig.sim.add_stream("orders", [SimTask("to-obs", state="ERROR")])
    await rig.watcher.sync_config()
    subs = await rig.store.subscriptions()
    assert [(s.channel_id, s.source) for s in subs] == [(CHANNEL, SOURCE_CONFIG), (OTHER, SOURCE_CONFIG)]
    await rig.cycle()
    assert sorted(p.payload["channel"] for p in rig.posts()) == sorted([CHANNEL, OTHER])
    assert await rig.service.unwatch(CHANNEL, "orders") is Unwatched.FROM_CONFIG
    await rig.store.close()
    again = make_rig(db=rig.db, DIS_WATCH=f"orders={CHANNEL}")
    await again.watcher.sync_config()
    assert [s.channel_id for s in await again.store.subscriptions()] == [CHANNEL]
    await again.cycle()
    assert len(again.posts()) == 2


def test_bad_dis_watch_stops_the_watcher(make_rig: MakeRig) -> None:
    """A malformed DIS_WATCH is a ConfigError naming it, raised when the watcher is built."""
    with pytest.raises(ConfigError, match="DIS_WATCH"):
        make_rig(DIS_WATCH="orders=#ops")


async def test_unwatch_ends_open_problems_quietly(rig: Rig) -> None:
    """Unwatch: the open alert is marked "no longer watched" in place, no reply, no reminders, no new alerts."""
    rig.sim.add_stream("orders", [SimTask("to-obs")])
    await rig.watch("orders")
    rig.sim.set_state("orders", "to-obs", "ERROR")
    await rig.cycle()
    [post] = rig.posts()
    assert await rig.service.unwatch(CHANNEL, "orders") is Unwatched.REMOVED
    await rig.cycle()
    assert "no longer watched" in str(rig.message(post)["blocks"])
    assert rig.replies() == [] and await rig.service.unwatch(CHANNEL, "orders") is Unwatched.NOT_WATCHED
    rig.clock.advance(7200)
    await rig.cycle()
    assert len(rig.posts()) == 1 and rig.replies() == []


async def test_real_loop_end_to_end(make_rig: MakeRig) -> None:
    """started watcher, real clock: an ERROR is posted, its recovery updates the alert, stop() exits cleanly."""
    rig = make_rig(WATCH_INTERVAL_SECONDS=0.2, rig_clock=time.time, options={"spread": 0.5})  # type: ignore[arg-type]
    rig.sim.add_stream("orders", [SimTask("to-obs")])
    await rig.watch("orders")
    await rig.watcher.start()
    try:
        rig.sim.set_state("orders", "to-obs", "ERROR")
        [post] = await rig.fake.wait_for("chat.postMessage", timeout=5)
        rig.sim.set_state("orders", "to-obs", "RUNNING")
        [update] = await rig.fake.wait_for("chat.update", timeout=5)
        await rig.fake.wait_for("chat.postMessage", count=2, timeout=5)
    finally:
        assert await rig.watcher.stop(timeout=5)
    assert update.payload["ts"] == post.response["ts"]
    assert rig.watcher.cycles >= 2


async def test_stream_deleted_between_listings_leaves_quietly(make_rig: MakeRig) -> None:
    """A `*` stream gone before the next listing: no "cannot read" warning, it is re-listed and forgotten."""
    rig = make_rig(WATCH_FAILURES_BEFORE_WARNING=1, options={"discovery_interval": 3600.0})
    rig.sim.add_stream("a", [SimTask("t")])
    rig.sim.add_stream("b", [SimTask("t")])
    await rig.watch("*")
    await rig.cycle()
    rig.sim.remove_stream("b")
    for _ in range(3):
        await rig.cycle()
    assert rig.fake.calls == []
    assert "b" not in rig.watcher.engine.polls and "a" in rig.watcher.engine.polls


async def test_unwatch_during_a_poll_in_flight(rig: Rig) -> None:
    """A watch removed while its stream is being read gets no alert from that read."""
    rig.sim.add_stream("orders", [SimTask("to-obs", state="RUNNING")])
    await rig.watch("orders")
    rig.sim.set_state("orders", "to-obs", "ERROR")
    rig.sim.latency = 0.1
    cycle = asyncio.create_task(rig.watcher.run_cycle())
    await asyncio.sleep(0)  # let the cycle route its polls and send the read
    await rig.service.unwatch(CHANNEL, "orders")
    await cycle
    await rig.watcher.flush()
    assert rig.fake.calls == [] and await rig.store.open_episodes() == []


async def test_stop_finishes_the_poll_in_flight(make_rig: MakeRig) -> None:
    """stop() lets the running cycle finish and delivers its alert before returning."""
    rig = make_rig(WATCH_INTERVAL_SECONDS=3600, WATCH_CONCURRENCY=1, rig_clock=time.time)  # type: ignore[arg-type]
    for name in ("a", "b", "c", "d"):
        rig.sim.add_stream(name, [SimTask("t")])
        await rig.watch(name)
    rig.sim.set_state("d", "t", "ERROR")
    rig.sim.latency = 0.1
    await rig.watcher.start()
    assert await rig.watcher.stop(timeout=8)
    [post] = rig.posts()
    assert "d/t" in post.text and rig.watcher.cycles == 1


async def test_watch_again_right_after_unwatch(rig: Rig) -> None:
    """Unwatch then watch again within one cycle: the new watch takes its baseline at once."""
    rig.sim.add_stream("orders", [SimTask("to-obs", state="ERROR")])
    await rig.watch("orders")
    await rig.service.unwatch(CHANNEL, "orders")
    await rig.watch("orders")
    first, again = rig.posts()
    assert "already" in again.blocks[0]["text"]["text"]
    assert "no longer watched" in str(rig.message(first)["blocks"])
