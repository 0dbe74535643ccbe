"""Alert message builders: current state, buttons, mentions, and Block Kit limits in a storm."""

from __future__ import annotations

import json

from bot.blocks.alerts import alert_message, recovery_reply, reminder_reply
from bot.blocks.limits import MAX_BLOCKS, MAX_HEADER_TEXT, MAX_SECTION_TEXT
from bot.store.base import KIND_BLIND, KIND_TASK, Alert, Episode, Snooze
from bot.watcher.ids import ALERT_ACK, ALERT_SNOOZE
from tests.slack.blockkit import validate_message

NOW = 1_700_000_000.0


def ep(i: int, stream: str = "orders", task: str | None = None, **kw: object) -> Episode:
    values: dict[str, object] = {
        "id": i,
        "channel_id": "C1",
        "stream": stream,
        "task_name": task or f"task-{i}",
        "kind": KIND_TASK,
        "state": "ERROR",
        "problem_state": "ERROR",
        "previous_state": "RUNNING",
        "started_at": NOW - 600,
        "alert_id": 1,
    }
    values.update(kw)
    return Episode(**values)  # type: ignore[arg-type]


def action_ids(blocks: list[dict]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_single_alert_has_buttons_and_mention() -> None:
    """One failing task: header names it, the mention is in text and blocks, Acknowledge and Snooze are there."""
    alert = Alert(id=7, channel_id="C1", mention="<!subteam^S1>")
    msg = alert_message(alert, [ep(1, task="to-obs")], now=NOW, repeat_minutes=60)
    validate_message(msg)
    assert msg.blocks[0]["text"]["text"] == "🔴 orders: dump task to-obs is ERROR"
    assert msg.text.startswith("<!subteam^S1> ") and "orders/to-obs" in msg.text
    assert "<!subteam^S1>" in json.dumps(msg.blocks)
    assert action_ids(msg.blocks) == [ALERT_ACK, *ALERT_SNOOZE]
    assert all(e["value"] == "7" for b in msg.blocks if b["type"] == "actions" for e in b["elements"])
    assert "was RUNNING" in json.dumps(msg.blocks) and "<!date^" in json.dumps(msg.blocks)


def test_resolved_alert_has_no_buttons_nor_mention() -> None:
    """Resolved: green header with how long it was down, struck-through task, no buttons, no mention."""
    alert = Alert(id=7, channel_id="C1", mention="<@U1>")
    msg = alert_message(alert, [ep(1, task="to-obs", ended_at=NOW, end_state="RUNNING")], now=NOW)
    assert msg.blocks[0]["text"]["text"] == "✅ Resolved: orders / to-obs (down 10 min)"
    assert "<@U1>" not in msg.text and "<@U1>" not in json.dumps(msg.blocks)
    assert action_ids(msg.blocks) == []
    assert "~`to-obs`~" in json.dumps(msg.blocks)


def test_acknowledged_alert_shows_who_and_hides_the_button() -> None:
    """After Acknowledge the message names who, and only the Snooze buttons remain."""
    alert = Alert(id=7, channel_id="C1", acked_by="U42", acked_at=NOW)
    msg = alert_message(alert, [ep(1)], now=NOW)
    assert "Acknowledged by <@U42>" in json.dumps(msg.blocks)
    assert action_ids(msg.blocks) == list(ALERT_SNOOZE)


def test_snoozed_task_is_marked() -> None:
    """A snoozed open task says until when."""
    alert = Alert(id=7, channel_id="C1")
    snoozes = {("orders", "task-1"): Snooze("C1", "orders", "task-1", NOW + 3600, "U1")}
    msg = alert_message(alert, [ep(1)], now=NOW, snoozes=snoozes)
    assert ":no_bell: snoozed until" in json.dumps(msg.blocks)


def test_storm_stays_within_block_kit_limits() -> None:
    """120 tasks across 40 streams: one message under 50 blocks, sections under 3000 chars, "and N more"."""
    episodes = [ep(i, stream=f"stream-{i % 40:02d}-{'x' * 50}", task=f"task-{i:03d}-{'y' * 50}") for i in range(120)]
    msg = alert_message(Alert(id=1, channel_id="C1", mention="<!subteam^S1>"), episodes, now=NOW)
    validate_message(msg)
    assert len(msg.blocks) <= MAX_BLOCKS
    assert len(msg.blocks[0]["text"]["text"]) <= MAX_HEADER_TEXT
    assert msg.blocks[0]["text"]["text"] == "🔴 120 dump tasks failing in 40 streams"
    for block in msg.blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= MAX_SECTION_TEXT
    assert "more in" in json.dumps(msg.blocks)
    assert len(json.dumps(msg.blocks)) < 13_000
    assert len(msg.text) < 500


def test_partly_resolved_group() -> None:
    """A group with some tasks back shows how many still fail, open ones first."""
    episodes = [ep(1), ep(2, ended_at=NOW, end_state="RUNNING"), ep(3, state="ABNORMAL", problem_state="ABNORMAL")]
    msg = alert_message(Alert(id=1, channel_id="C1"), episodes, now=NOW)
    assert msg.blocks[0]["text"]["text"] == "🔴 2 of 3 dump tasks still failing in orders"
    body = json.dumps(msg.blocks)
    assert body.index("task-3") < body.index("task-2")


def test_blind_warning_and_recovery() -> None:
    """A stream that cannot be read gives a warning with the reason, then a note when it is readable again."""
    blind = Episode(
        id=1,
        channel_id="C1",
        stream="orders",
        task_name="",
        kind=KIND_BLIND,
        state="auth",
        reason="DIS refused the credentials",
        started_at=NOW - 300,
    )
    msg = alert_message(Alert(id=1, channel_id="C1", kind=KIND_BLIND), [blind], now=NOW)
    validate_message(msg)
    assert msg.blocks[0]["text"]["text"] == "⚠️ I cannot read orders"
    assert "authentication or permission refused" in json.dumps(msg.blocks)
    assert action_ids(msg.blocks) == []
    ended = Episode(**{**blind.__dict__, "ended_at": NOW, "end_state": "READABLE"})
    assert recovery_reply([ended]).text.startswith(":white_check_mark: I can read *orders* again (after 5 min)")


def test_recovery_and_reminder_replies() -> None:
    """Recovery replies never mention anyone; reminders do and say how long it has been failing."""
    alert = Alert(id=1, channel_id="C1", mention="<!subteam^S1>")
    back = recovery_reply([ep(1, ended_at=NOW, end_state="RUNNING")])
    assert "<!subteam" not in back.text and "is RUNNING again after 10 min in ERROR" in back.text
    many = recovery_reply([ep(i, ended_at=NOW, end_state="RUNNING") for i in range(15)])
    assert many.text.startswith("15 problems ended") and "…and 5 more" in many.text
    remind = reminder_reply(alert, [ep(1)], now=NOW)
    assert "<!subteam^S1>" in remind.text and "ERROR for 10 min" in remind.text
