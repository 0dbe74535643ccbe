"""Slack's Block Kit limits and the few helpers every block builder needs.

Builders are pure: domain data in, `Message` out, no I/O. Untrusted text (names from DIS, user input) goes
through `escape()`, in the blocks and in the `text` fallback alike; anything that could grow goes through
`truncate()`. Only alerts and their reminders may page people: every other message names the people and groups
it mentions with `quiet_mentions()`.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

from bot.message import Message as Message  # the builders' return type, imported from here by most

MAX_BLOCKS = 50  # per message
MAX_HOME_BLOCKS = 100  # per Home tab / modal
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_FALLBACK_TEXT = 3000  # notifications show far less; keep the fallback short

STATE_EMOJI = {
    "ERROR": ":red_circle:",
    "ABNORMAL": ":large_orange_circle:",
    "STARTING": ":large_blue_circle:",
    "PAUSED": ":double_vertical_bar:",
    "RUNNING": ":large_green_circle:",
    "DELETE": ":wastebasket:",
}
UNKNOWN_STATE_EMOJI = ":grey_question:"


#: Control characters (C0, DEL, C1) other than newline and tab: NUL and friends from users or DIS are dropped; so
#: are the bidirectional overrides and isolates, which make echoed text read in another order than it was typed.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def drop_control(text: str) -> str:
    """`text` without control characters: what a person or DIS sent, as it reads on screen."""
    return _CONTROL.sub("", str(text))


def escape(text: str) -> str:
    """Untrusted text made inert for mrkdwn: `&`, `<`, `>` escaped (so `<!channel>` cannot ping), control
    characters dropped."""
    return drop_control(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


#: A live mention in Slack markup: a user, a user group, or @here/@channel/@everyone, with an optional label.
_MENTION = re.compile(r"<(?:@([UW][A-Z0-9]+)|!subteam\^([A-Z0-9]+)|!(here|channel|everyone))(?:\|([^<>]*))?>")
_LABEL_JUNK = re.compile(r"[^\w.' -]")


def quiet_mentions(text: str) -> str:
    """Every mention in `text` (our own markup) as a name that notifies nobody: `@jane`, `@oncall`, `@here`.

    Slack has no markup that names a person or group without notifying them (`<@U…>` pings, in blocks and in the
    `text` fallback alike; a rich_text `user` element is a mention too), so the name is written as plain text in
    a code span, which Slack never parses. The label Slack puts in an escaped mention (`<@U123|jane>`) is used
    when there is one, else the id (`@U123`): the bot has no `users:read` scope to look names up.
    """

    def name(m: re.Match[str]) -> str:
        ident = m.group(1) or m.group(2) or m.group(3)
        label = _LABEL_JUNK.sub("", m.group(4) or "").strip().lstrip("@")[:40]
        return f"`@{label or ident}`"

    return _MENTION.sub(name, text)


def quiet_user(user_id: str) -> str:
    """A user named without a notification (`@U123`), for "acknowledged by", "shared by" and the like."""
    return quiet_mentions(f"<@{user_id}>") if re.fullmatch(r"[UW][A-Z0-9]+", user_id) else f"`{escape(user_id)}`"


def truncate(text: str, limit: int = MAX_SECTION_TEXT) -> str:
    """Cut `text` to at most `limit` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def chunk_lines(lines: list[str], limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Join lines into as few texts as possible, each at most `limit` characters (one section block per text).

    A line longer than `limit` is truncated; lines are never split across texts.
    """
    out: list[str] = []
    current = ""
    for line in lines:
        line = truncate(line, limit)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            out.append(current)
            current = line
        else:
            current = candidate
    if current:
        out.append(current)
    return out


def state_emoji(state: str) -> str:
    return STATE_EMOJI.get(state, UNKNOWN_STATE_EMOJI)


def plain_time(ms: int | None) -> str:
    """UTC text for an epoch-ms timestamp, used as the fallback of date tokens and in terminals."""
    if not ms:
        return "never"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def epoch_ms(seconds: float) -> int:
    """Epoch seconds as the epoch milliseconds that `slack_date` and `age` take (the unit DIS uses)."""
    return int(seconds * 1000)


def slack_date(ms: int | None, fmt: str = "{date_short_pretty} {time}") -> str:
    """A `<!date^…>` token so each reader sees their own time zone, with a UTC fallback."""
    if not ms:
        return "never"
    return f"<!date^{int(ms // 1000)}^{fmt}|{plain_time(ms)}>"


def age(ms: int | None, now: float | None = None) -> str:
    """How long ago an epoch-ms timestamp was, like "3 min ago" ("never" for none)."""
    if not ms:
        return "never"
    seconds = (now if now is not None else time.time()) - ms / 1000
    return duration(seconds) + " ago" if seconds >= 1 else "just now"


def duration(seconds: float) -> str:
    """A short human duration: "45 s", "3 min", "2 h 5 min", "3 d 4 h"."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(s // 3600, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": truncate(text)}


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text), **extra}


def header(text: str) -> dict[str, Any]:
    # plain_text is never parsed (no escaping), but a NUL from DIS has no place in it either.
    clean = _CONTROL.sub("", text)
    return {"type": "header", "text": {"type": "plain_text", "text": truncate(clean, MAX_HEADER_TEXT), "emoji": True}}


def context(*texts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts[:MAX_CONTEXT_ELEMENTS]]}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def button(
    text: str, action_id: str, value: str = "", *, style: str | None = None, confirm: dict[str, Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": truncate(text, MAX_BUTTON_TEXT), "emoji": True},
        "action_id": action_id,
    }
    if value:
        out["value"] = truncate(value, MAX_BUTTON_VALUE)
    if style:
        out["style"] = style
    if confirm:
        out["confirm"] = confirm
    return out


def confirm_dialog(
    title: str, text: str, confirm: str, deny: str = "Cancel", *, danger: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "title": {"type": "plain_text", "text": truncate(title, 100)},
        "text": {"type": "mrkdwn", "text": truncate(text, 300)},
        "confirm": {"type": "plain_text", "text": truncate(confirm, 30)},
        "deny": {"type": "plain_text", "text": truncate(deny, 30)},
    }
    if danger:
        out["style"] = "danger"
    return out


def actions(*elements: dict[str, Any], block_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "actions", "elements": list(elements[:MAX_ACTIONS_ELEMENTS])}
    if block_id:
        out["block_id"] = block_id
    return out
