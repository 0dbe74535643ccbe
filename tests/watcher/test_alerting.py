"""Transitions to alerts: each kind, quiet steady states, one message per channel per cycle, recovery in place."""

from __future__ import annotations

import asyncio
import json

from bot.dis.simulator import SimTask
from bot.watcher.ids import ALERT_ACK
from tests.slack.blockkit import validate_message
from tests.watcher.conftest import CHANNEL, ONCALL, OTHER, Rig


def blocks_text(message: dict) -> str:
    return json.dumps(message.get("blocks", []))


async def test_error_raises_one_alert_then_quiet(rig: Rig) -> None:
    """RUNNING -> ERROR posts one alert with the mention and buttons; later cycles stay quiet."""
    rig.sim.add_stream("orders", [SimTask("to-obs"), SimTask("to-dws")])
    await rig.watch("orders", mention=ONCALL)
    await rig.cycle()
    assert rig.posts() == []
    rig.sim.set_state("orders", "to-obs", "ERROR")
    await rig.cycle()
    [post] = rig.posts()
    assert post.payload["channel"] == CHANNEL
    assert post.text.startswith(ONCALL) and "orders/to-obs" in post.text
    assert ALERT_ACK in json.dumps(post.blocks) and "was RUNNING" in json.dumps(post.blocks)
    assert post.payload["metadata"]["event_payload"]["key"].endswith(":post")
    for _ in range(3):
        await rig.cycle()
    assert len(rig.posts()) == 1 and rig.updates() == [] and rig.replies() == []


async def test_abnormal_from_starting_raises(rig: Rig) -> None:
    """STARTING -> ABNORMAL is a problem too."""
    rig.sim.add_stream("orders", [SimTask("to-obs", state="STARTING")])
    await rig.watch("orders")
    rig.sim.set_state("orders", "to-obs", "ABNORMAL")
    await rig.cycle()
    [post] = rig.posts()
    assert "ABNORMAL" in post.text


async def test_healthy_transitions_raise_nothing(rig: Rig) -> None:
    """RUNNING -> PAUSED -> STARTING -> RUNNING, new and deleted healthy tasks: no message at all."""
    rig.sim.add_stream("orders", [SimTask("to-obs"), SimTask("old")])
    await rig.watch("orders")
    for state in ("PAUSED", "STARTING", "RUNNING"):
        rig.sim.set_state("orders", "to-obs", state)
        await rig.cycle()
    rig.sim.add_task("orders", SimTask("new"))
    rig.sim.remove_task("orders", "old")
    await rig.cycle()
    assert rig.fake.calls_to("chat.postMessage") == [] and rig.fake.calls_to("chat.update") == []


async def test_already_failing_is_reported_once(rig: Rig) -> None:
    """Tasks already bad when the watch is created: one "already failing" alert for all of them, never again."""
    rig.sim.add_stream("orders", [SimTask("a", state="ERROR"), SimTask("b", state="ABNORMAL"), SimTask("c")])
    result = await rig.watch("orders")
    assert [t.task_name for t in result.already_failing] == ["a", "b"]
    [post] = rig.posts()
    assert "already failing" in post.blocks[0]["text"]["text"]
    assert "already failing when the watch began" in json.dumps(post.blocks)
    for _ in range(2):
        await rig.cycle()
    again = await rig.watch("orders")
    assert not again.created
    assert len(rig.posts()) == 1


async def test_several_channels_one_read(rig: Rig) -> None:
    """Three channels watching one stream: one DIS read per cycle, one alert per channel."""
    rig.sim.add_stream("orders", [SimTask("to-obs")])
    for channel in (CHANNEL, OTHER, "C0THIRD"):
        await rig.watch("orders", channel=channel)
    rig.sim.reset_counts()
    rig.sim.set_state("orders", "to-obs", "ERROR")
    await rig.cycle()
    assert rig.sim.count(path="/streams/orders/transfer-tasks") == 1
    assert sorted(p.payload["channel"] for p in rig.posts()) == sorted([CHANNEL, OTHER, "C0THIRD"])


async def test_poll_feeds_the_command_cache(rig: Rig) -> None:
    """A poll's result answers the next `/dis tasks` without another read."""
    rig.sim.add_stream("orders", [SimTask("to-obs")])
    await rig.watch("orders")
    rig.sim.set_state("orders", "to-obs", "ERROR")
    await rig.cycle()
    cached = rig.watcher.tasks.cached_tasks("orders")
    assert cached is not None and cached.tasks[0].state == "ERROR"


async def test_storm_is_one_message_edited_in_place(rig: Rig) -> None:
    """120 tasks in 40 streams fail at once: one chat.postMessage (the first stream, at once), then chat.update
    of that message until it lists the storm within Block Kit limits; nothing per task, nothing more later."""
    streams = [f"s{i:02d}" for i in range(40)]
    for name in streams:
        rig.sim.add_stream(name, [SimTask(f"{name}-t{j}") for j in range(3)])
        await rig.watch(name, mention=ONCALL)
    for name in streams:
        for j in range(3):
            rig.sim.set_state(name, f"{name}-t{j}", "ERROR")
    rig.hold_reads_until_posted("s00")
    await rig.cycle_live()
    [post] = rig.posts()
    assert rig.fake.count("chat.postMessage") == 1 and rig.replies() == []
    assert post.blocks[0]["text"]["text"] == "🔴 3 dump tasks failing in s00"
    updates = rig.updates(post.response["ts"])
    assert updates and len(rig.updates()) == len(updates)
    for call in [post, *updates]:
        validate_message(call.payload)
    final = rig.message(post)
    assert updates[-1].blocks == final["blocks"]
    assert final["blocks"][0]["text"]["text"] == "🔴 120 dump tasks failing in 40 streams"
    assert final["text"].startswith(ONCALL) and "120 dump tasks failing" in final["text"]
    [more] = [b["elements"][0]["text"] for b in final["blocks"] if "more in" in json.dumps(b)]
    assert len(final["blocks"]) <= 50 and more.startswith("…and 80 more in 27 stream(s)")
    assert len(await rig.store.open_episodes(channel_id=CHANNEL)) == 120
    assert {e.alert_id for e in await rig.store.open_episodes()} == {(await rig.store.open_alerts())[0].id}
    await rig.cycle()
    assert rig.fake.count("chat.postMessage") == 1 and len(rig.updates()) == len(updates)


async def test_first_problem_is_not_held_back(rig: Rig) -> None:
    """The first problem of a cycle reaches Slack while the rest of the cycle is still polling; a later one
    of the same cycle joins that message."""
    for i in range(8):
        rig.sim.add_stream(f"s{i}", [SimTask("t")])
        await rig.watch(f"s{i}")
    rig.sim.set_state("s0", "t", "ERROR")
    rig.sim.set_state("s7", "t", "ERROR")
    rig.sim.latency = 0.05
    rig.watcher.concurrency = 1
    sender = asyncio.create_task(rig.watcher.sender.run())
    cycle = asyncio.create_task(rig.watcher.run_cycle())
    try:
        [first] = await rig.fake.wait_for("chat.postMessage", timeout=5)
        assert "s0/t" in first.text and not cycle.done()
        await cycle
    finally:
        rig.watcher.sender.request_stop()
        await sender
    await rig.watcher.flush()
    [post] = rig.posts()
    assert post is first and rig.fake.count("chat.postMessage") == 1
    final = rig.message(post)
    assert "*s0*" in blocks_text(final) and "*s7*" in blocks_text(final)
    assert final["blocks"][0]["text"]["text"] == "🔴 2 dump tasks failing in 2 streams"


async def test_later_watchers_are_paged_in_the_thread(rig: Rig) -> None:
    """A problem joining a posted alert whose watch mentions someone else: the message names both, and the
    newcomer is paged by one thread reply (an edit notifies nobody)."""
    rig.sim.add_stream("a", [SimTask("t")])
    rig.sim.add_stream("b", [SimTask("u")])
    await rig.watch("a", mention=ONCALL)
    await rig.watch("b", mention="<@U0DBA>")
    rig.sim.set_state("a", "t", "ERROR")
    rig.sim.set_state("b", "u", "ERROR")
    rig.hold_reads_until_posted("a")
    await rig.cycle_live()
    [post] = rig.posts()
    assert post.text.startswith(ONCALL) and "<@U0DBA>" not in post.text
    assert rig.message(post)["text"].startswith(f"{ONCALL} <@U0DBA> ")
    [page] = rig.replies(post.response["ts"])
    assert page.text.startswith(":rotating_light: <@U0DBA> please take a look") and "`u` (b)" in page.text
    assert ONCALL not in page.text
    validate_message(page.payload)


async def test_mention_in_the_post_needs_no_page(rig: Rig) -> None:
    """The same join before the post went out: the post itself names both watchers, and no reply is sent."""
    rig.sim.add_stream("a", [SimTask("t")])
    rig.sim.add_stream("b", [SimTask("u")])
    await rig.watch("a", mention=ONCALL)
    await rig.watch("b", mention="<@U0DBA>")
    rig.sim.set_state("a", "t", "ERROR")
    rig.sim.set_state("b", "u", "ERROR")
    await rig.cycle()
    [post] = rig.posts()
    assert post.text.startswith(f"{ONCALL} <@U0DBA> ")
    assert rig.replies() == [] and rig.updates() == []
    assert [row.state for row in await rig.store.outbox()] == ["done"] * 3


async def test_recovery_updates_in_place_and_replies(rig: Rig) -> None:
    """Back to RUNNING: chat.update of the original alert (resolved, down for) and one reply, no mention."""
    rig.sim.add_stream("orders", [SimTask("to-obs")])
    await rig.watch("orders", mention=ONCALL)
    rig.sim.set_state("orders", "to-obs", "ERROR")
    await rig.cycle()
    [post] = rig.posts()
    rig.clock.advance(720)
    rig.sim.set_state("orders", "to-obs", "RUNNING")
    await rig.cycle()
    [update] = rig.updates(post.response["ts"])
    assert update.payload["channel"] == CHANNEL
    assert update.blocks[0]["text"]["text"] == "✅ Resolved: orders / to-obs (down 12 min)"
    assert "actions" not in [b["type"] for b in update.blocks]
    [reply] = rig.replies(post.response["ts"])
    assert "is RUNNING again after 12 min in ERROR" in reply.text and ONCALL not in reply.text
    assert len(rig.posts()) == 1
    rig.sim.set_state("orders", "to-obs", "ERROR")
    await rig.cycle()
    assert len(rig.posts()) == 2


async def test_paused_and_deleted_end_the_problem(rig: Rig) -> None:
    """PAUSED by a person and a deleted task both resolve the alert, each with its own words."""
    rig.sim.add_stream("orders", [SimTask("a"), SimTask("b")])
    await rig.watch("orders")
    rig.sim.set_state("orders", "a", "ERROR")
    rig.sim.set_state("orders", "b", "ABNORMAL")
    await rig.cycle()
    [post] = rig.posts()
    rig.sim.set_state("orders", "a", "PAUSED")
    rig.sim.remove_task("orders", "b")
    await rig.cycle()
    [reply] = rig.replies(post.response["ts"])
    assert "`a` (orders) was paused" in reply.text and "`b` (orders) was deleted" in reply.text
    final = rig.message(post)
    assert final["blocks"][0]["text"]["text"].startswith("✅ Resolved: 2 dump tasks in orders")


async def test_state_change_within_a_problem_updates_quietly(rig: Rig) -> None:
    """ERROR -> ABNORMAL -> STARTING keeps one alert, edited, with no new post until it is RUNNING."""
    rig.sim.add_stream("orders", [SimTask("to-obs")])
    await rig.watch("orders")
    rig.sim.set_state("orders", "to-obs", "ERROR")
    await rig.cycle()
    [post] = rig.posts()
    rig.sim.set_state("orders", "to-obs", "ABNORMAL")
    await rig.cycle()
    assert "ABNORMAL* (was ERROR)" in json.dumps(rig.message(post)["blocks"])
    rig.sim.set_state("orders", "to-obs", "STARTING")
    await rig.cycle()
    assert "STARTING* (was ERROR)" in json.dumps(rig.message(post)["blocks"])
    assert len(rig.posts()) == 1 and rig.replies() == []
