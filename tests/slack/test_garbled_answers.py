"""Commands facing a DIS 200 without a usable task list: the user reads that the answer was unreadable, never
"no tasks"."""

from __future__ import annotations

from bot.dis.simulator import SimTask
from tests.slack.blockkit import all_text, validate_message


async def test_tasks_command_says_the_answer_was_unreadable(bot):
    """`/dis tasks` answered `{"tasks": null}` four times: an error saying DIS's answer could not be read and how
    often we tried, not an empty task list."""
    bot.sim.add_stream("orders", [SimTask("to-obs", state="ERROR")])
    bot.sim.fail_next(4, status=200, body={"tasks": None}, path="/streams/orders/transfer-tasks")
    answer = await bot.answer(await bot.command("tasks orders"), timeout=10)
    validate_message(answer.payload)
    text = all_text(answer.payload)
    assert "DIS answered, but not with anything the bot can read" in text and "tried 4 times" in text
    assert "Dump tasks of orders" not in text and "0 dump tasks" not in text


async def test_status_marks_a_garbled_stream_unreadable(bot):
    """`/dis status` with one stream answering a 200 of tasks without names: that stream is a line saying its
    answer could not be read, the others are listed as usual."""
    bot.sim.add_stream("a", [SimTask("a-bad", state="ERROR")])
    bot.sim.add_stream("b", [SimTask("b-ok")])
    bot.sim.fail_next(4, status=200, body={"tasks": [1, 2], "total_number": 2}, path="/streams/b/transfer-tasks")
    answer = await bot.answer(await bot.command("status"), timeout=10)
    text = all_text(answer.payload)
    assert "a-bad" in text
    assert "*b*: DIS's answer could not be read (tried 4 times)" in text
