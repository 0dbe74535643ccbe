"""While a problem lasts: reminders until Acknowledge, Snooze per task per channel, alerts of several tasks."""

from __future__ import annotations

import json

from bot.dis.simulator import SimTask
from bot.watcher.ids import ALERT_ACK, ALERT_SNOOZE
from tests.watcher.conftest import CHANNEL, ONCALL, OTHER, MakeRig, Rig


async def failing(rig: Rig, mention: str | None = ONCALL) -> str:
    """Watch `orders`, make `to-obs` fail, return the alert's ts."""
    rig.sim.add_stream("orders", [SimTask("to-obs"), SimTask("to-dws")])
    await rig.watch("orders", mention=mention)
    rig.sim.set_state("orders", "to-obs", "ERROR")
    await rig.cycle()
    [post] = rig.posts()
    return str(post.response["ts"])


async def alert_id(rig: Rig) -> int:
    [alert] = await rig.store.open_alerts()
    return alert.id


async def test_reminders_until_acknowledged(rig: Rig) -> None:
    """Every WATCH_REPEAT_MINUTES a reminder with the mention goes to the thread; Acknowledge stops them."""
    ts = await failing(rig)
    rig.clock.advance(59 * 60)
    await rig.cycle()
    assert rig.replies(ts) == []
    rig.clock.advance(61)
    await rig.cycle()
    [reminder] = rig.replies(ts)
    assert (
        ONCALL in reminder.text
        and "Still failing" in reminder.text
        and "`to-obs` (orders) ERROR for 1 h" in reminder.text
    )
    await rig.cycle()
    assert len(rig.replies(ts)) == 1
    rig.clock.advance(3600)
    await rig.cycle()
    assert len(rig.replies(ts)) == 2

    alert, first = await rig.service.acknowledge(await alert_id(rig), "U0BOB")
    assert first and alert is not None and alert.acked_by == "U0BOB"
    await rig.watcher.flush()
    ack_reply = rig.replies(ts)[-1]
    assert "`@U0BOB` acknowledged" in ack_reply.text
    current = json.dumps(rig.fake.messages[(CHANNEL, ts)]["blocks"])
    assert "Acknowledged by <@U0BOB>" in current and ALERT_ACK not in current
    for _ in range(3):
        rig.clock.advance(3600)
        await rig.cycle()
    assert len(rig.replies(ts)) == 3


async def test_second_acknowledge_changes_nothing(rig: Rig) -> None:
    """The first press wins; a second one is reported as already acknowledged and sends nothing."""
    await failing(rig)
    await rig.service.acknowledge(await alert_id(rig), "U0BOB")
    await rig.watcher.flush()
    calls = len(rig.fake.calls)
    alert, first = await rig.service.acknowledge(await alert_id(rig), "U0CAROL")
    await rig.watcher.flush()
    assert not first and alert.acked_by == "U0BOB" and len(rig.fake.calls) == calls


async def test_reminders_off_with_zero(make_rig: MakeRig) -> None:
    """WATCH_REPEAT_MINUTES=0 turns reminders off."""
    rig = make_rig(WATCH_REPEAT_MINUTES=0)
    ts = await failing(rig)
    rig.clock.advance(10 * 3600)
    await rig.cycle()
    assert rig.replies(ts) == []


async def test_snooze_silences_the_task_in_that_channel(rig: Rig) -> None:
    """Snooze 1 h: the alert says so, no reminders, a relapse stays quiet; the other channel still hears."""
    rig.sim.add_stream("orders", [SimTask("to-obs")])
    await rig.watch("orders")
    await rig.watch("orders", channel=OTHER)
    rig.sim.set_state("orders", "to-obs", "ERROR")
    await rig.cycle()
    mine = rig.posts(CHANNEL)[0]
    [alert] = [a for a in await rig.store.open_alerts() if a.channel_id == CHANNEL]
    seconds = ALERT_SNOOZE["dis_alert_snooze_1h"]
    result = await rig.service.snooze(alert.id, "U0BOB", seconds)
    assert [e.task_name for e in result.episodes] == ["to-obs"]
    await rig.watcher.flush()
    assert "snoozed until" in json.dumps(rig.message(mine)["blocks"])
    assert "`@U0BOB` snoozed `to-obs`" in rig.replies(mine.response["ts"])[-1].text

    rig.sim.set_state("orders", "to-obs", "RUNNING")
    await rig.cycle()
    rig.sim.set_state("orders", "to-obs", "ERROR")
    await rig.cycle()
    assert len(rig.posts(CHANNEL)) == 1
    assert len(rig.posts(OTHER)) == 2
    rig.clock.advance(seconds - 60)
    await rig.cycle()
    assert len(rig.posts(CHANNEL)) == 1


async def test_problem_outlasting_the_snooze_is_announced(rig: Rig) -> None:
    """A relapse during the snooze is posted once the snooze ends, if the task is still failing."""
    ts = await failing(rig, mention=None)
    await rig.service.snooze(await alert_id(rig), "U0BOB", 3600)
    rig.sim.set_state("orders", "to-obs", "RUNNING")
    await rig.cycle()
    rig.sim.set_state("orders", "to-obs", "ABNORMAL")
    await rig.cycle()
    assert len(rig.posts()) == 1
    rig.clock.advance(3601)
    await rig.cycle()
    first, later = rig.posts()
    assert first.response["ts"] == ts and "ABNORMAL" in later.text


async def test_snooze_stops_reminders_until_it_ends(rig: Rig) -> None:
    """A snoozed task gets no reminders; when the snooze ends without an acknowledgement they resume."""
    ts = await failing(rig)
    await rig.service.snooze(await alert_id(rig), "U0BOB", 4 * 3600)
    await rig.watcher.flush()
    replies = len(rig.replies(ts))
    for _ in range(3):
        rig.clock.advance(3600)
        await rig.cycle()
    assert len(rig.replies(ts)) == replies
    rig.clock.advance(3601)
    await rig.cycle()
    assert "Still failing" in rig.replies(ts)[-1].text


async def test_nothing_to_snooze_after_recovery(rig: Rig) -> None:
    """Snoozing a resolved alert snoozes nothing and sends nothing."""
    await failing(rig)
    [alert] = await rig.store.open_alerts()
    rig.sim.set_state("orders", "to-obs", "RUNNING")
    await rig.cycle()
    calls = len(rig.fake.calls)
    result = await rig.service.snooze(alert.id, "U0BOB", 3600)
    await rig.watcher.flush()
    assert result.episodes == [] and len(rig.fake.calls) == calls


async def storm(rig: Rig) -> str:
    """Streams a, b, c fail in one cycle (one alert, the first posted at once, the others joined); its ts."""
    for name in ("a", "b", "c"):
        rig.sim.add_stream(name, [SimTask("t")])
        await rig.watch(name, mention=ONCALL)
        rig.sim.set_state(name, "t", "ERROR")
    rig.hold_reads_until_posted("a")
    await rig.cycle_live()
    [post] = rig.posts()
    assert rig.updates(post.response["ts"])
    return str(post.response["ts"])


async def test_joined_alert_recovers_task_by_task(rig: Rig) -> None:
    """One message for three tasks: a partial recovery is struck through with one thread reply, reminders
    name only what still fails, and the last recovery resolves it."""
    ts = await storm(rig)
    rig.clock.advance(600)
    rig.sim.set_state("b", "t", "RUNNING")
    await rig.cycle()
    blocks = json.dumps(rig.fake.messages[(CHANNEL, ts)]["blocks"])
    assert (
        rig.fake.messages[(CHANNEL, ts)]["blocks"][0]["text"]["text"]
        == "🔴 2 of 3 dump tasks still failing in 3 streams"
    )
    assert "~`t`~ RUNNING again" in blocks and ALERT_ACK in blocks
    [reply] = rig.replies(ts)
    assert reply.text == ":white_check_mark: `t` (b) is RUNNING again after 10 min in ERROR"
    rig.clock.advance(3000)
    await rig.cycle()
    [_, reminder] = rig.replies(ts)
    assert "(a) ERROR" in reminder.text and "(c) ERROR" in reminder.text and "(b)" not in reminder.text
    for name in ("a", "c"):
        rig.sim.set_state(name, "t", "RUNNING")
    await rig.cycle()
    assert rig.fake.messages[(CHANNEL, ts)]["blocks"][0]["text"]["text"] == "✅ Resolved: 3 dump tasks in 3 streams"
    assert rig.replies(ts)[-1].text.startswith("2 problems ended:")
    assert len(rig.posts()) == 1 and await rig.store.open_alerts() == []


async def test_buttons_of_a_joined_alert_cover_every_task(rig: Rig) -> None:
    """Snooze on the one message silences all three tasks; Acknowledge stops reminders for all of them."""
    ts = await storm(rig)
    result = await rig.service.snooze(await alert_id(rig), "U0BOB", 3600)
    assert sorted(e.stream for e in result.episodes) == ["a", "b", "c"]
    await rig.watcher.flush()
    assert json.dumps(rig.fake.messages[(CHANNEL, ts)]["blocks"]).count("snoozed until") == 3
    rig.clock.advance(3601)
    await rig.cycle()
    assert "Still failing" in rig.replies(ts)[-1].text
    await rig.service.acknowledge(await alert_id(rig), "U0BOB")
    await rig.watcher.flush()
    replies = len(rig.replies(ts))
    for _ in range(2):
        rig.clock.advance(3600)
        await rig.cycle()
    assert len(rig.replies(ts)) == replies and len(rig.posts()) == 1


async def test_relapse_after_snooze_joins_the_cycles_alert(rig: Rig) -> None:
    """A relapse kept quiet by a snooze that has ended, and a new failure, in one cycle: one new message for both."""
    await failing(rig, mention=None)
    await rig.service.snooze(await alert_id(rig), "U0BOB", 3600)
    rig.sim.set_state("orders", "to-obs", "RUNNING")
    await rig.cycle()
    rig.sim.set_state("orders", "to-obs", "ABNORMAL")
    await rig.cycle()
    rig.clock.advance(3601)
    rig.sim.set_state("orders", "to-dws", "ERROR")
    await rig.cycle()
    _, later = rig.posts()
    assert later.blocks[0]["text"]["text"] == "🔴 2 dump tasks failing in orders"
    assert "to-obs" in json.dumps(later.blocks) and "to-dws" in json.dumps(later.blocks)
    await rig.cycle()
    assert len(rig.posts()) == 2
