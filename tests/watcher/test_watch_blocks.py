"""`/dis watching` and `/dis watch` answers: what they say, within Block Kit limits."""

from __future__ import annotations

from bot.blocks.watches import unwatch_answer, watch_added, watching_message
from bot.store.base import SOURCE_CONFIG, Snooze, Subscription
from bot.watcher.status import PollStatus, WatchStatus
from tests.slack.blockkit import all_text, validate_message

NOW = 1_700_000_000.0


def test_watching_shows_polls_errors_and_snoozes() -> None:
    """Each watch shows its last poll (or its failure), the delivery error, snoozes and the config source."""
    statuses = [
        WatchStatus(
            Subscription(
                "C1", "orders", mention="<!subteam^S1>", delivery_error="not_in_channel", delivery_error_at=NOW
            ),
            [PollStatus("orders", NOW - 30, True, {"ERROR": 1, "RUNNING": 4})],
            open_problems=1,
            snoozes=[Snooze("C1", "orders", "to-obs", NOW + 3600, "U1")],
        ),
        WatchStatus(
            Subscription("C1", "billing", source=SOURCE_CONFIG),
            [PollStatus("billing", NOW - 5, False, error_kind="auth", error="DIS refused", failures=6)],
            blind_since=NOW - 300,
        ),
        WatchStatus(
            Subscription("C1", "*"),
            [PollStatus("a", NOW - 10, True, {"RUNNING": 2}), PollStatus("b", NOW - 12, False, error_kind="not_found")],
        ),
        WatchStatus(Subscription("C1", "fresh")),
    ]
    msg = watching_message(statuses, interval_seconds=60, now=NOW)
    validate_message(msg)
    text = all_text(msg)
    assert "I cannot post alerts here" in text and "not_in_channel" in text
    assert "Last poll 30 s ago: 5 tasks" in text and "1 ERROR" in text and "mentions `@S1`" in text
    assert "failed (6 in a row): authentication or permission refused — DIS refused" in text
    assert "from `DIS_WATCH`" in text and "Cannot be read since" in text
    assert "`to-obs` (orders) snoozed until" in text and "by `@U1`" in text
    assert "Every stream (*)" in text and "2 streams polled" in text and "1 could not be read: `b`" in text
    assert "Not polled yet" in text


def test_watching_many_watches_stays_within_limits() -> None:
    """Hundreds of watches in one channel: under 50 blocks, with a count of the rest."""
    statuses = [WatchStatus(Subscription("C1", f"s{i}")) for i in range(300)]
    msg = watching_message(statuses, now=NOW)
    validate_message(msg)
    assert "more watches" in all_text(msg)


def test_nothing_watched() -> None:
    """An empty channel says how to start."""
    assert "watches nothing" in watching_message([], now=NOW).text


def test_watch_and_unwatch_answers() -> None:
    """The answers name the stream, the mention, old failures and where a watch comes from."""
    msg = watch_added(
        Subscription("C1", "orders", mention="<@U1>"),
        created=True,
        failing=[type("T", (), {"task_name": "a", "state": "ERROR"})()],
        counts={"ERROR": 1, "RUNNING": 1},
    )
    validate_message(msg)
    text = all_text(msg)
    assert "Watching `orders`" in text and "Already failing: `a` (ERROR)" in text and "Alerts mention `@U1`" in text
    assert "DIS_WATCH" in unwatch_answer("orders", "from_config").text
    assert "comes back when the bot restarts" in unwatch_answer("orders", "removed", in_config=True).text
