"""Alert messages with silent problems (bot/blocks/problems.py through bot/blocks/alerts.py): headers and fallbacks
for one kind and a mix, the retention clause only under 6 h, recovery and reminder lines, Block Kit limits."""

from __future__ import annotations

from typing import Any

from bot.blocks.alerts import alert_message, recovery_reply, reminder_reply
from bot.store.base import (
    KIND_TASK,
    PROBLEM_DISCARDING,
    PROBLEM_PARTITIONS,
    PROBLEM_STALLED,
    Alert,
    Episode,
)
from tests.slack.blockkit import validate_message

NOW = 1_700_000_000.0
ALERT = Alert(id=3, channel_id="C1")


def silent(i: int, problem: str, task: str | None = None, stream: str = "orders", **kw: Any) -> Episode:
    values: dict[str, Any] = {
        "id": i,
        "channel_id": "C1",
        "stream": stream,
        "task_name": task or f"task-{i}",
        "kind": KIND_TASK,
        "state": problem,
        "problem_state": problem,
        "problem": problem,
        "started_at": NOW - 600,
        "alert_id": 3,
    }
    values.update(kw)
    return Episode(**values)


def stalled(i: int, *, idle: float = 47 * 60, left: float = 20 * 3600, bucket: str = "ok", **kw: Any) -> Episode:
    detail = {"backlog": 12_340, "last_transfer_ms": int((NOW - idle) * 1000), "loss_at": NOW + left, "bucket": bucket}
    return silent(i, PROBLEM_STALLED, detail=detail, **kw)


def text_of(message: Any) -> str:
    return message.text + str(message.blocks)


def test_a_stalled_alert_says_how_long_and_how_much_and_not_yet_the_retention() -> None:
    """One stalled task: header, "stalled 47 min, 12,340 waiting", no loss clause with more than 6 h left."""
    msg = alert_message(ALERT, [stalled(1, task="to-obs")], now=NOW)
    validate_message(msg.to_dict())
    shown = text_of(msg)
    assert "⏳ orders: dump task to-obs is stalled" in shown
    assert "*stalled 47 min*, 12,340 waiting" in shown and "lost" not in shown
    # The alert is not edited while the stall holds: the last transfer is a date token that stays true.
    assert f"12,340 waiting · last transfer <!date^{int(NOW - 47 * 60)}^" in shown
    assert msg.text == "⏳ stalled: orders/to-obs"


def test_a_partitions_alert_just_found_says_since_when_without_0_s() -> None:
    """A partitions problem found this cycle says since when, not "(0 s)"; later renders add how long."""
    detail = {"summary": "2 of 8 partitions ERROR"}
    fresh = text_of(alert_message(ALERT, [silent(1, PROBLEM_PARTITIONS, started_at=NOW, detail=detail)], now=NOW))
    assert f"since <!date^{int(NOW)}^" in fresh and "(0 s)" not in fresh
    older = text_of(alert_message(ALERT, [silent(1, PROBLEM_PARTITIONS, detail=detail)], now=NOW))
    assert "(10 min)" in older


def test_the_retention_clause_under_6_h_and_once_loss_began() -> None:
    """Under 6 h left it says when unsent records start to be lost; past the retention, that they are."""
    soon = text_of(alert_message(ALERT, [stalled(1, left=5 * 3600, bucket="6h")], now=NOW))
    assert "unsent records start to be lost in about 5 h" in soon
    lost = text_of(alert_message(ALERT, [stalled(1, left=-60, bucket="lost")], now=NOW))
    assert "unsent records are being lost" in lost


def test_partitions_and_discards_lines() -> None:
    """ "2 of 8 partitions ERROR" and "discarded 1,204 records since <date>"."""
    parts = silent(1, PROBLEM_PARTITIONS, task="to-dws", detail={"summary": "2 of 8 partitions ERROR"})
    drops = silent(2, PROBLEM_DISCARDING, task="to-dli", detail={"total": 1204, "since": NOW - 900})
    one = text_of(alert_message(ALERT, [parts], now=NOW))
    assert "orders: dump task to-dws has 2 of 8 partitions ERROR" in one
    two = text_of(alert_message(ALERT, [drops], now=NOW))
    assert "discarding records" in two and f"discarded 1,204 records* since <!date^{int(NOW - 900)}^" in two


def test_a_mix_of_kinds_needs_attention_and_counts_tasks_not_problems() -> None:
    """An ERROR task, a stalled one and one with two problems: "3 dump tasks need attention", red for the ERROR."""
    error = Episode(4, "C1", "orders", "to-mrs", kind=KIND_TASK, state="ERROR", problem_state="ERROR", alert_id=3)
    episodes = [
        error,
        stalled(1, task="to-obs"),
        silent(2, PROBLEM_PARTITIONS, task="to-dws", detail={"summary": "1 of 2 partitions ERROR"}),
        silent(3, PROBLEM_DISCARDING, task="to-dws", detail={"total": 5, "since": NOW}),
    ]
    msg = alert_message(ALERT, episodes, now=NOW)
    validate_message(msg.to_dict())
    assert msg.blocks[0]["text"]["text"] == "🔴 3 dump tasks need attention in orders"
    assert msg.text.count("orders/to-dws") == 1
    assert msg.text.startswith("🔴 3 dump tasks need attention (")


def test_the_notification_text_of_one_task_with_two_problems_is_plain_english() -> None:
    """The fallback text (what a phone's notification shows) says "1 dump task needs attention", not
    "1 dump task(s) need attention"."""
    episodes = [
        stalled(1, task="to-obs"),
        silent(2, PROBLEM_DISCARDING, task="to-obs", detail={"total": 5, "since": NOW}),
    ]
    msg = alert_message(ALERT, episodes, now=NOW)
    assert msg.text.startswith("⚠️ 1 dump task needs attention (stalled, discarding records): orders/to-obs"), msg.text


def test_a_stall_superseded_by_error_says_so_instead_of_resolved() -> None:
    """A stall that ended because the task turned ERROR is not shown as resolved: it points to the ERROR alert."""
    ended = stalled(1, task="to-obs", ended_at=NOW, end_state="ERROR")
    shown = text_of(alert_message(ALERT, [ended], now=NOW))
    assert "Resolved" not in shown and "is now ERROR: alerted on its own" in shown


def test_recovery_and_reminder_lines() -> None:
    """Recoveries say how the problem ended; reminders how long it has lasted."""
    cleared = stalled(1, task="to-obs", ended_at=NOW, end_state="RUNNING")
    cleared = Episode(**{**cleared.__dict__, "detail": {**(cleared.detail or {}), "cleared": True}})
    waiting = stalled(2, task="to-dws", ended_at=NOW, end_state="RUNNING")
    waiting = Episode(**{**waiting.__dict__, "detail": {**(waiting.detail or {}), "backlog": 250, "cleared": False}})
    reply = recovery_reply([cleared, waiting]).text
    assert "`to-obs` (orders) transferring again, backlog cleared in 10 min" in reply
    assert "`to-dws` (orders) transferring again (250 still waiting)" in reply
    reminder = reminder_reply(ALERT, [stalled(3, task="to-obs")], now=NOW).text
    assert "Still needs attention" in reminder and "`to-obs` (orders) stalled 47 min, 12,340 waiting" in reminder


def test_a_storm_of_stalls_stays_within_block_kit_limits() -> None:
    """120 stalled tasks in 40 streams make one valid message listing 40 and counting the rest."""
    episodes = [stalled(i, stream=f"stream-{i % 40:02d}", left=3 * 3600, bucket="6h") for i in range(120)]
    msg = alert_message(ALERT, episodes, now=NOW)
    validate_message(msg.to_dict())
    assert "120 dump tasks need attention in 40 streams" in msg.blocks[0]["text"]["text"]
    assert "…and 80 more" in str(msg.blocks)
