"""A readable terminal rendering of Block Kit messages.

The demo prints every message the bot would post to Slack with this, and the README's pictures of an alert and of
a task list are produced by it from the real builders' output, so what people read is what Slack would show:

    ╭─ #dis-alerts ─────────────────────────────────────
    │ 🔴 orders-prod / obs-dump is ERROR
    │ Stream: orders-prod           State: 🔴 ERROR
    │ [ Refresh ]  [ Details ]
    │ as of 2026-07-01 12:03 UTC
    ╰───────────────────────────────────────────────────

mrkdwn becomes plain text: date tokens show their fallback, mentions and links their label, a few emoji codes
become the symbol (unknown ones stay `:code:`), and `*bold*` is kept as typed.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

EMOJI = {
    "red_circle": "🔴",
    "large_orange_circle": "🟠",
    "large_yellow_circle": "🟡",
    "large_blue_circle": "🔵",
    "large_green_circle": "🟢",
    "white_circle": "⚪",
    "black_circle": "⚫",
    "double_vertical_bar": "⏸",
    "pause_button": "⏸",
    "arrow_forward": "▶",
    "black_square_for_stop": "⏹",
    "wastebasket": "🗑",
    "grey_question": "❔",
    "question": "❓",
    "white_check_mark": "✅",
    "heavy_check_mark": "✔",
    "x": "❌",
    "warning": "⚠",
    "rotating_light": "🚨",
    "bell": "🔔",
    "no_bell": "🔕",
    "zzz": "💤",
    "eyes": "👀",
    "mag": "🔍",
    "arrows_counterclockwise": "🔄",
    "repeat": "🔁",
    "hourglass": "⌛",
    "hourglass_flowing_sand": "⏳",
    "information_source": "ℹ",
    "link": "🔗",
    "memo": "📝",
    "bar_chart": "📊",
    "satellite": "📡",
    "construction": "🚧",
    "lock": "🔒",
    "house": "🏠",
    "busts_in_silhouette": "👥",
    "speech_balloon": "💬",
    "point_right": "👉",
    "heavy_minus_sign": "➖",
    "arrow_right": "→",
    "clock3": "🕒",
    "stopwatch": "⏱",
    "tada": "🎉",
    "+1": "👍",
    "thumbsup": "👍",
    "package": "📦",
    "inbox_tray": "📥",
    "outbox_tray": "📤",
    "fire": "🔥",
    "sparkles": "✨",
}

_DATE = re.compile(r"<!date\^[^|>]*\|([^>]*)>")
_DATE_NO_FALLBACK = re.compile(r"<!date\^(\d+)[^>]*>")
_USER = re.compile(r"<@([A-Z0-9]+)(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#([A-Z0-9]+)(?:\|([^>]*))?>")
_SUBTEAM = re.compile(r"<!subteam\^([A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_LINK = re.compile(r"<([^<>|]+)\|([^<>]*)>")
_BARE_LINK = re.compile(r"<((?:https?|mailto|slack):[^<>|]*)>")
_EMOJI = re.compile(r":([a-z0-9_+\-]+):")

_BUTTON_MARKS = {"danger": "!", "primary": ""}


def emoji(code: str) -> str:
    """The symbol for an emoji code like `red_circle` (the `:code:` itself when unknown)."""
    return EMOJI.get(code, f":{code}:")


def mrkdwn_to_plain(text: str) -> str:
    """Slack mrkdwn to what a reader sees: `<!date^…|fallback>` → fallback, `<url|label>` → label, and so on."""
    text = _DATE.sub(lambda m: m.group(1), text)
    text = _DATE_NO_FALLBACK.sub(lambda m: m.group(1), text)
    text = _USER.sub(lambda m: "@" + (m.group(2) or m.group(1)), text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group(2) or m.group(1)), text)
    text = _SUBTEAM.sub(lambda m: _at(m.group(2) or m.group(1)), text)
    text = _SPECIAL.sub(lambda m: "@" + m.group(1), text)
    text = _LINK.sub(lambda m: m.group(2), text)
    text = _BARE_LINK.sub(lambda m: m.group(1), text)
    text = _EMOJI.sub(lambda m: emoji(m.group(1)), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _at(handle: str) -> str:
    return handle if handle.startswith("@") else "@" + handle


def text_of(obj: Any) -> str:
    """The plain text of a text object (`plain_text` or `mrkdwn`), or of a bare string."""
    if obj is None:
        return ""
    if isinstance(obj, str):
        return mrkdwn_to_plain(obj)
    if isinstance(obj, Mapping):
        raw = str(obj.get("text", ""))
        if obj.get("type") == "plain_text":
            return _EMOJI.sub(lambda m: emoji(m.group(1)), raw) if obj.get("emoji", True) else raw
        return mrkdwn_to_plain(raw)
    return str(obj)


def display_width(text: str) -> int:
    """Terminal columns `text` takes (wide characters and most emoji take two)."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or ch in "\ufe0f\u200d":
            continue
        width += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
    return width


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for para in text.split("\n"):
        if not para.strip():
            lines.append("")
            continue
        lines += textwrap.wrap(para, width=width, break_long_words=True, break_on_hyphens=False) or [""]
    return lines


def element(el: Mapping[str, Any]) -> str:
    """An interactive element as the terminal shows it: buttons as `[ Refresh ]`, menus with a `▾`."""
    kind = el.get("type")
    if kind == "button":
        label = text_of(el.get("text"))
        mark = _BUTTON_MARKS.get(str(el.get("style", "")), "")
        if "url" in el and "text" in el:
            label += " ↗"
        return f"[ {label}{mark} ]"
    if kind == "overflow":
        return "[ ⋯ ]"
    if kind in ("static_select", "external_select", "users_select", "conversations_select", "channels_select"):
        chosen = el.get("initial_option") or {}
        label = text_of(chosen.get("text")) if chosen else text_of(el.get("placeholder")) or "choose"
        return f"[ {label} ▾ ]"
    if kind == "image":
        return f"[image: {el.get('alt_text', '')}]"
    if kind in ("mrkdwn", "plain_text"):
        return text_of(el)
    return f"[ {kind} ]"


def _rich_text(elements: Iterable[Mapping[str, Any]]) -> str:
    out: list[str] = []
    for part in elements:
        kind = part.get("type")
        if kind in ("rich_text_section", "rich_text_quote", "rich_text_preformatted"):
            out.append(_rich_inline(part.get("elements", [])))
        elif kind == "rich_text_list":
            for i, item in enumerate(part.get("elements", []), 1):
                bullet = f"{i}." if part.get("style") == "ordered" else "•"
                out.append(f"{bullet} {_rich_inline(item.get('elements', []))}")
    return "\n".join(out)


def _rich_inline(elements: Iterable[Mapping[str, Any]]) -> str:
    out = []
    for el in elements:
        kind = el.get("type")
        if kind == "text":
            out.append(str(el.get("text", "")))
        elif kind == "link":
            out.append(str(el.get("text") or el.get("url", "")))
        elif kind == "emoji":
            out.append(emoji(str(el.get("name", ""))))
        elif kind == "user":
            out.append("@" + str(el.get("user_id", "")))
        elif kind == "channel":
            out.append("#" + str(el.get("channel_id", "")))
        elif kind == "usergroup":
            out.append("@" + str(el.get("usergroup_id", "")))
        elif kind == "broadcast":
            out.append("@" + str(el.get("range", "")))
        elif kind == "date":
            out.append(str(el.get("fallback", el.get("timestamp", ""))))
    return "".join(out)


def _fields(fields: list[Any], width: int) -> list[str]:
    """Section fields in two columns, as Slack lays them out on a wide screen."""
    col = (width - 2) // 2
    lines: list[str] = []
    for i in range(0, len(fields), 2):
        left = _wrap(text_of(fields[i]), col)
        right = _wrap(text_of(fields[i + 1]), col) if i + 1 < len(fields) else []
        for j in range(max(len(left), len(right))):
            a = left[j] if j < len(left) else ""
            b = right[j] if j < len(right) else ""
            lines.append((_pad(a, col) + "  " + b).rstrip())
    return lines


def render_block(block: Mapping[str, Any], width: int = 72) -> list[str]:
    """The lines one block takes (without the frame)."""
    kind = block.get("type")
    if kind == "header":
        title = text_of(block.get("text"))
        lines = _wrap(title, width)
        return [*lines, "═" * min(width, max(display_width(line) for line in lines))]
    if kind == "section":
        lines = _wrap(text_of(block.get("text")), width) if block.get("text") else []
        if block.get("fields"):
            lines += _fields(list(block["fields"]), width)
        accessory = block.get("accessory")
        if accessory:
            shown = element(accessory)
            if lines and display_width(lines[0]) + 2 + display_width(shown) <= width:
                lines[0] = f"{lines[0]}  {shown}"
            else:
                lines.append(shown)
        return lines
    if kind == "context":
        parts = [element(el) for el in block.get("elements", [])]
        return [f"  {line}" for line in _wrap("  ".join(p for p in parts if p), width - 2)]
    if kind == "actions":
        return _wrap("  ".join(element(el) for el in block.get("elements", [])), width)
    if kind == "divider":
        return ["─" * width]
    if kind == "image":
        title = text_of(block.get("title")) if block.get("title") else block.get("alt_text", "")
        return [f"[image: {title}]"]
    if kind == "markdown":
        return _wrap(str(block.get("text", "")), width)
    if kind == "rich_text":
        return _wrap(_rich_text(block.get("elements", [])), width)
    if kind == "input":
        return [f"{text_of(block.get('label'))}: {element(block.get('element') or {})}"]
    return [f"[{kind} block]"]


def render_blocks(blocks: Iterable[Mapping[str, Any]], width: int = 72) -> list[str]:
    """Every block's lines, in order."""
    lines: list[str] = []
    for block in blocks:
        lines += render_block(block, width)
    return lines


def render_message(message: Any, *, title: str | None = None, width: int = 72) -> str:
    """A framed, readable rendering of a message.

    Args:
        message: a dict with `blocks` and/or `text` (a Web API payload, a `Message.to_dict()`), an object with
            `blocks`/`text` attributes (`bot.blocks.limits.Message`), or a list of blocks.
        title: what the top rule names, such as "#dis-alerts · new message".
        width: columns of the content (the frame adds two).
    """
    if isinstance(message, list):
        blocks, text = message, ""
    elif isinstance(message, Mapping):
        blocks, text = list(message.get("blocks") or []), str(message.get("text") or "")
    else:
        blocks, text = list(getattr(message, "blocks", None) or []), str(getattr(message, "text", "") or "")
    body = render_blocks(blocks, width) if blocks else _wrap(mrkdwn_to_plain(text), width)
    head = f"╭─ {title} " if title else "╭"
    out = [head + "─" * max(3, width + 1 - display_width(head))]
    out += [f"│ {line}".rstrip() for line in body]
    out.append("╰" + "─" * width)
    return "\n".join(out)
