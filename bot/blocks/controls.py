"""Buttons shared by every view: Refresh, Share in channel, paging, Details; and adding Share to a message."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot import ids
from bot.blocks.limits import MAX_ACTIONS_ELEMENTS, MAX_BLOCKS, Message, actions, button
from bot.ids import TaskRef, View


def refresh_button(view: View) -> dict[str, Any]:
    return button("Refresh", ids.REFRESH, view.encode())


def share_button(view: View) -> dict[str, Any]:
    return button("Share in channel", ids.SHARE, view.encode(), style="primary")


def details_button(ref: TaskRef) -> dict[str, Any]:
    return button("Details", ids.DETAILS, ref.encode())


def tasks_button(stream: str, text: str = "Tasks") -> dict[str, Any]:
    return button(text, ids.TASKS, View("tasks", (stream,)).encode())


def page_buttons(view: View, total: int, page_size: int) -> list[dict[str, Any]]:
    """Previous/Next buttons for a paged view (none when everything fits on one page)."""
    out = []
    if view.offset > 0:
        prev = replace(view, offset=max(0, view.offset - page_size))
        out.append(button("◀ Previous", ids.PAGE_PREV, prev.encode()))
    if view.offset + page_size < total:
        nxt = replace(view, offset=view.offset + page_size)
        out.append(button("Next ▶", ids.PAGE_NEXT, nxt.encode()))
    return out


def view_actions(view: View, *extra: dict[str, Any]) -> dict[str, Any]:
    """The actions row that ends a view: Refresh first, then whatever the view adds."""
    return actions(refresh_button(view), *extra, block_id=ids.VIEW_ACTIONS)


def view_of(message: Message) -> View | None:
    """The view a message was built from (read from its Refresh button), or None for help and errors."""
    for block in message.blocks:
        if block.get("type") == "actions":
            for element in block.get("elements", []):
                if element.get("action_id") == ids.REFRESH:
                    try:
                        return View.decode(element.get("value", ""))
                    except ValueError:
                        return None
    return None


def add_share(message: Message) -> Message:
    """The same message with a "Share in channel" button next to its Refresh button (for ephemeral answers)."""
    view = view_of(message)
    if view is None:
        return message
    blocks = []
    for block in message.blocks:
        if block.get("block_id") == ids.VIEW_ACTIONS and len(block["elements"]) < MAX_ACTIONS_ELEMENTS:
            block = {**block, "elements": [*block["elements"], share_button(view)]}
        blocks.append(block)
    return Message(message.text, blocks)


def without_share(message: Message) -> Message:
    """The same message minus its Share button (what everyone sees once shared)."""
    blocks = []
    for block in message.blocks:
        if block.get("type") == "actions":
            elements = [e for e in block["elements"] if e.get("action_id") != ids.SHARE]
            if not elements:
                continue
            block = {**block, "elements": elements}
        blocks.append(block)
    return Message(message.text, blocks)


def append_blocks(message: Message, *blocks: dict[str, Any]) -> Message:
    """Add blocks at the end while staying within Slack's 50-block limit (drops the added ones that do not fit)."""
    room = MAX_BLOCKS - len(message.blocks)
    return Message(message.text, [*message.blocks, *list(blocks)[: max(0, room)]])
