"""While a problem lasts: reminders in the thread until Acknowledge, and Snooze per task per channel."""

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


def alert_id(rig: Rig) -> int:
    [alert] = rig.store.open_alerts()
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

    alert, first = rig.service.acknowledge(alert_id(rig), "U0BOB")
    assert first and alert is not None and alert.acked_by == "U0BOB"
    await rig.watcher.flush()
    ack_reply = rig.replies(ts)[-1]
    assert "<@U0BOB> acknowledged" in ack_reply.text
    current = json.dumps(rig.fake.messages[(CHANNEL, ts)]["blocks"])
    assert "Acknowledged by <@U0BOB>" in current and ALERT_ACK not in current
    for _ in range(3):
        rig.clock.advance(3600)
        await rig.cycle()
    assert len(rig.replies(ts)) == 3


async def test_second_acknowledge_changes_nothing(rig: Rig) -> None:
    """The first press wins; a second one is reported as already acknowledged and sends nothing."""
    await failing(rig)
    rig.service.acknowledge(alert_id(rig), "U0BOB")
    await rig.watcher.flush()
    calls = len(rig.fake.calls)
    alert, first = rig.service.acknowledge(alert_id(rig), "U0CAROL")
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
    [alert] = [a for a in rig.store.open_alerts() if a.channel_id == CHANNEL]
    seconds = ALERT_SNOOZE["dis_alert_snooze_1h"]
    result = rig.service.snooze(alert.id, "U0BOB", seconds)
    assert [e.task_name for e in result.episodes] == ["to-obs"]
    await rig.watcher.flush()
    assert "snoozed until" in json.dumps(rig.message(mine)["blocks"])
    assert "<@U0BOB> snoozed `to-obs`" in rig.replies(mine.response["ts"])[-1].text

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
    rig.service.snooze(alert_id(rig), "U0BOB", 3600)
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
    rig.service.snooze(alert_id(rig), "U0BOB", 4 * 3600)
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
    [alert] = rig.store.open_alerts()
    rig.sim.set_state("orders", "to-obs", "RUNNING")
    await rig.cycle()
    calls = len(rig.fake.calls)
    result = rig.service.snooze(alert.id, "U0BOB", 3600)
    await rig.watcher.flush()
    assert result.episodes == [] and len(rig.fake.calls) == calls
