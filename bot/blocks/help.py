"""The help message: every command with an example, adapted to how the user invoked the bot."""

from __future__ import annotations

from typing import Any

from bot.blocks.limits import Message, context, escape, header, section

#: Longest echo of a "did you mean" suggestion (the command word and its arguments as typed).
ECHO_MAX = 100

#: (usage, what it does), in the order people need them.
COMMAND_HELP: tuple[tuple[str, str], ...] = (
    ("status", "the whole project at a glance: unhealthy tasks listed, the rest counted"),
    ("tasks STREAM", "a stream's dump tasks, problems first"),
    ("task STREAM TASK", "one task: partitions, offsets, discarded records, destination"),
    ("streams", "the project's streams"),
    ("watch STREAM", "alert this channel when a task of STREAM fails"),
    ("unwatch STREAM", "stop those alerts"),
    ("watching", "what this channel watches"),
    ("help", "this message"),
)


def help_message(
    prefix: str = "/dis",
    *,
    unknown: str | None = None,
    suggestion: str | None = None,
    example_stream: str = "orders-prod",
    actions_enabled: bool = False,
) -> Message:
    """The message for `help`, empty text, and anything the bot did not understand.

    Args:
        prefix: "/dis" or "@dis-bot".
        unknown: the word the user typed that is not a command.
        suggestion: the command it most likely meant (full words, e.g. "tasks orders-prod").
        example_stream: a stream name for the examples.
        actions_enabled: whether admins can start/stop tasks from the Details view.
    """
    blocks: list[dict[str, Any]] = []
    # Echoes of what was typed are cut short: `/dis taks` followed by a page of text gets one line back.
    suggestion = _cut(suggestion, ECHO_MAX) if suggestion else suggestion
    if unknown is not None:
        shown = escape(_cut(unknown, 60))
        lead = f":thinking_face: I don't know `{shown}`."
        if suggestion:
            lead += f" Did you mean `{prefix} {escape(suggestion)}`?"
        blocks.append(section(lead))
    blocks.append(header("dis-bot: DIS dump tasks in Slack"))
    lines = [f"`{prefix} {usage}`: {what}" for usage, what in COMMAND_HELP]
    blocks.append(section("\n".join(lines)))
    ex = escape(example_stream)
    blocks.append(
        context(
            f"Examples: `{prefix} status` · `{prefix} tasks {ex}` · `{prefix} task {ex} dump-to-obs` · "
            f"`{prefix} watch {ex}`"
        )
    )
    tips = "Slash-command answers are only visible to you until you press *Share in channel*."
    tips += " Mention @dis-bot in a channel or thread to answer everyone there."
    if actions_enabled:
        tips += " Admins can start and stop tasks from a task's *Details*."
    blocks.append(context(tips))
    if unknown is not None:
        # Escaped here too: the fallback is mrkdwn, and typed text may hold <!channel> or <@U…> (should_escape).
        text = f"I don't know '{escape(_cut(unknown, 60))}'."
        if suggestion:
            text += f" Did you mean {prefix} {escape(suggestion)}?"
        text += f" Try {prefix} help."
    else:
        text = f"dis-bot commands: {', '.join(f'{prefix} {u}' for u, _ in COMMAND_HELP)}"
    return Message(text, blocks)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def home_view(*, actions_enabled: bool = False, watching: list[str] | None = None) -> dict[str, Any]:
    """The App Home tab: what the bot does and how to ask it (within the Home tab's 100 blocks)."""
    message = help_message("/dis", actions_enabled=actions_enabled)
    blocks: list[dict[str, Any]] = [
        header("dis-bot"),
        section(
            "I answer questions about Huawei Cloud DIS dump tasks and warn channels when a task fails.\n"
            "Type `/dis status` anywhere, or mention *@dis-bot* in a channel or thread."
        ),
        *message.blocks[1:],
    ]
    if watching:
        shown = ", ".join(f"`{escape(s)}`" for s in watching[:50])
        blocks.append(context(f"Streams watched somewhere in this workspace: {shown}"))
    return {"type": "home", "blocks": blocks}
