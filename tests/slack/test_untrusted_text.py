"""Text typed by users or sent by DIS is inert everywhere in an answer, the `text` fallback included: no live
mention, no control characters, and the "did you mean" echo stays short."""

from __future__ import annotations

import re

from bot.dis.simulator import SimTask
from tests.slack.blockkit import all_text

#: Anything Slack would turn into a notification.
LIVE = re.compile(r"<(?:@[UW][A-Z0-9]+|!subteam\^|!here|!channel|!everyone)")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _everything(payload: dict) -> str:
    """Every text Slack renders (fallback and blocks; button values are not rendered)."""
    return all_text(payload)


async def test_dis_names_and_states_are_inert_in_blocks_and_fallback(bot):
    """A task DIS names `<!channel>` (with a NUL) in a state `<!here>`: shown as text, pinging nobody."""
    bot.sim.add_stream(
        "orders", [SimTask("<!channel>\x00evil", state="ERROR"), SimTask("ok\x07-task", state="<!here>")]
    )
    answer = await bot.answer(await bot.command("tasks orders"))
    everything = _everything(answer.payload)
    assert "evil" in answer.text and "&lt;!channel&gt;" in answer.text  # named in the fallback, escaped
    assert not LIVE.search(everything), everything
    assert not CONTROL.search(everything), repr(everything)


async def test_typed_text_is_inert_and_the_did_you_mean_echo_is_short(bot):
    """`/dis taks orders <!channel> …5000 characters…`: the suggestion is cut to a line, no ping, no NUL."""
    typed = "taks orders &lt;!channel&gt; \x00\u202egnp.exe" + "x" * 5000  # Slack sends typed `<` escaped
    answer = await bot.answer(await bot.command(typed))
    everything = _everything(answer.payload)
    assert "Did you mean" in answer.text
    assert len(answer.text) < 300, len(answer.text)
    assert len(answer.payload["blocks"][0]["text"]["text"]) < 300
    assert not LIVE.search(everything) and not CONTROL.search(everything), repr(everything)
