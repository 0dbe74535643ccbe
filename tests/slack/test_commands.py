"""Slash commands through the real HTTP endpoint: ack at once, answer via response_url, errors in words."""

from __future__ import annotations

from bot.dis.simulator import SimTask
from tests.slack.blockkit import all_text, buttons, validate_message


async def test_tasks_command_acks_then_answers_ephemerally(bot):
    """`/dis tasks STREAM` gets an empty 200 and then the task list, ephemeral, with a Share button."""
    bot.sim.add_stream("orders-prod", [SimTask("to-obs"), SimTask("to-dli", state="ERROR")])
    sent = await bot.command("tasks orders-prod")
    assert sent.response.status_code == 200
    assert sent.response.text == ""
    answer = await bot.answer(sent)
    assert answer.payload["response_type"] == "ephemeral"
    validate_message(answer.payload)
    text = all_text(answer.payload)
    assert "Dump tasks of orders-prod" in text
    assert text.index("to-dli") < text.index("to-obs")  # problems first
    assert {"dis.refresh", "dis.share", "dis.details"} <= set(buttons(answer.payload))
