"""Button values are data, not commands: crafted values through the real endpoint get a polite answer, and
nothing runs (no DIS call, no command other than the read-only views the buttons draw)."""

from __future__ import annotations

import json
import logging

import pytest

from bot.dis.simulator import SimTask
from tests.slack.blockkit import all_text

FORTY_DIGITS = "1" * 40


@pytest.mark.parametrize(
    ("action_id", "value"),
    [
        ("dis.refresh", json.dumps({"c": "tasks", "a": ["orders"], "x": 1})),  # an unknown field
        ("dis.refresh", json.dumps({"c": "tasks", "a": ["orders"], "o": int(FORTY_DIGITS)})),
        ("dis.refresh", json.dumps({"c": "tasks", "a": ["orders", "extra"]})),  # wrong number of words
        ("dis.refresh", json.dumps({"c": "tasks", "a": ["../../etc"]})),  # a name DIS would refuse
        ("dis.page.next", json.dumps({"c": "tasks", "a": ["orders"], "o": True})),
        ("dis.share", json.dumps({"c": "unwatch", "a": ["orders"]})),  # a command that changes state
        ("dis.share", json.dumps({"c": "watch", "a": ["orders"]})),
        ("dis.share", "[1, 2]"),
        ("dis.details", json.dumps({"s": "orders", "t": "<!channel>"})),
        ("dis.details", json.dumps({"s": "orders", "t": "to-obs", "q": "?"})),
        ("dis.task.start", json.dumps({"s": "orders", "t": "to-obs", "i": "x" * 300})),
        ("dis.task.stop", FORTY_DIGITS),
        ("dis.tasks", ""),
    ],
)
async def test_values_we_did_not_write_get_a_polite_answer(make_bot, caplog, action_id, value):
    """A value that is not one the builders write is answered politely to the clicker; DIS is not called."""
    bot = await make_bot(DIS_ACTIONS_ENABLED="true", DIS_ADMIN_USER_IDS="U0ALICE")
    bot.sim.add_stream("orders", [SimTask("to-obs")])
    bot.sim.reset_counts()
    caplog.set_level(logging.INFO)
    click = await bot.click(action_id, value)
    assert click.response.status_code == 200
    answer = await bot.answer(click)
    assert "could not read that button" in all_text(answer.payload)
    assert answer.payload["response_type"] == "ephemeral" and answer.payload["replace_original"] is False
    assert bot.sim.count("/transfer-tasks") == 0  # (readiness probes may list the streams meanwhile)
    assert not [r for r in caplog.records if r.getMessage() == "slack.listener_failed"]
    [refused] = [r for r in caplog.records if r.getMessage() == "slack.button_refused"]
    assert refused.action == action_id
    assert not value or value not in caplog.text  # the log names the button, never its value


async def test_a_value_we_wrote_still_works(bot):
    """The strict reading accepts what the builders write: Refresh of a task list reads DIS again."""
    bot.sim.add_stream("orders", [SimTask("to-obs")])
    value = json.dumps({"c": "tasks", "a": ["orders"]}, separators=(",", ":"))
    answer = await bot.answer(await bot.click("dis.refresh", value))
    assert "to-obs" in all_text(answer.payload)
