"""Messages for things that went wrong: what happened and what to do, never a trace or a secret."""

from __future__ import annotations

from bot.blocks.limits import Message, context, escape, section, truncate


def error_message(title: str, detail: str = "", *, hint: str | None = None, emoji: str = ":warning:") -> Message:
    """A short error answer. `title` and `detail` are mrkdwn written by us; pass user text through `escape()`."""
    text = f"{emoji} *{title}*"
    if detail:
        text += f"\n{detail}"
    blocks = [section(text)]
    if hint:
        blocks.append(context(hint))
    # The fallback is title and detail without code spans; not without '*': ours only wraps the title, which is
    # left out here, and a '*' in a detail is what someone typed ('a*b' is not a valid stream name).
    plain = title + (f" {detail}" if detail else "")
    return Message(truncate(plain.replace("`", ""), 3000), blocks)


def store_refused_message() -> Message:
    """The bot's database refuses writes (locked, full, read-only): nothing was recorded, so the user retries."""
    return error_message(
        "I cannot record that right now.",
        "My database refuses writes at the moment, so nothing was changed. Please try again in a minute.",
        emoji=":floppy_disk:",
    )


def usage_message(problem: str, usage: str, prefix: str) -> Message:
    """The answer to a command typed with the wrong arguments."""
    return error_message(
        escape(problem), f"Usage: `{prefix} {escape(usage)}`", hint=f"`{prefix} help` lists every command."
    )
