"""The terminal rendering of Block Kit messages used by the demo and the README pictures."""

from __future__ import annotations

from bot.blocks.limits import Message, actions, button, context, divider, header, section, slack_date
from bot.devtools.render import display_width, mrkdwn_to_plain, render_message


def test_date_tokens_show_their_fallback() -> None:
    """A `<!date^…|fallback>` token reads as its fallback text."""
    token = slack_date(1_782_000_000_000)
    assert mrkdwn_to_plain(f"as of {token}") == "as of 2026-06-21 00:00 UTC"


def test_mentions_groups_and_links_show_their_labels() -> None:
    """User, channel and group mentions, special mentions and links read as people see them."""
    text = "<@U1> <@U2|ana> <#C9|dis-alerts> <!subteam^S1|@oncall> <!subteam^S2> <!here> <https://x.test/a|runbook>"
    assert mrkdwn_to_plain(text) == "@U1 @ana #dis-alerts @oncall @S2 @here runbook"


def test_bare_links_and_escapes_are_unwrapped() -> None:
    """`<url>` shows the url and mrkdwn escapes turn back into characters."""
    assert mrkdwn_to_plain("<https://x.test/p> a &lt;b&gt; &amp; c") == "https://x.test/p a <b> & c"


def test_emoji_codes_become_symbols_and_unknown_ones_stay() -> None:
    """Known emoji codes become symbols; unknown codes stay readable as `:code:`; *bold* is kept."""
    assert mrkdwn_to_plain(":red_circle: *ERROR* :no_such_emoji:") == "🔴 *ERROR* :no_such_emoji:"


def test_message_renders_every_block_kind() -> None:
    """Header, section text and fields, accessory, divider, actions and context all appear, in order."""
    blocks = [
        header(":red_circle: orders-prod / obs-dump is ERROR"),
        section("Task *obs-dump* went RUNNING → ERROR", accessory=button("Details", "d")),
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": "*Stream*\norders-prod"},
                {"type": "mrkdwn", "text": "*State*\nERROR"},
            ],
        },
        divider(),
        actions(button("Refresh", "r"), button("Stop", "s", style="danger")),
        context("as of " + slack_date(1_782_000_000_000), "<!subteam^S1|@oncall>"),
    ]
    out = render_message(Message("fallback", blocks), title="#dis-alerts")
    lines = out.splitlines()
    assert lines[0].startswith("╭─ #dis-alerts ")
    assert lines[1] == "│ 🔴 orders-prod / obs-dump is ERROR"
    assert "Task *obs-dump* went RUNNING → ERROR  [ Details ]" in out
    assert any(line.startswith("│ *Stream*") and "*State*" in line for line in lines)
    assert "[ Refresh ]  [ Stop! ]" in out
    assert "as of 2026-06-21 00:00 UTC  @oncall" in out
    assert "fallback" not in out  # blocks win over the notification text
    assert lines[-1].startswith("╰")


def test_text_only_message_renders_its_text() -> None:
    """A message without blocks shows its mrkdwn text, wrapped."""
    out = render_message({"text": "hello <@U1> " + "word " * 30}, width=40)
    body = [line[2:] for line in out.splitlines()[1:-1]]
    assert body[0].startswith("hello @U1 word")
    assert all(display_width(line) <= 40 for line in body)


def test_long_text_wraps_within_the_width() -> None:
    """No content line is wider than the requested width."""
    out = render_message([section("x" * 200), section("a " * 100)], width=50)
    assert all(display_width(line) <= 52 for line in out.splitlines())


def test_unknown_blocks_are_named_not_dropped() -> None:
    """A block type the renderer does not know is still visible."""
    assert "[video block]" in render_message([{"type": "video"}])
