"""Check a message against Slack's limits with slack_sdk's own block models, plus the limits the SDK skips."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement

from bot.blocks.limits import MAX_BLOCKS, Message


def validate_blocks(blocks: list[dict[str, Any]], *, max_blocks: int = MAX_BLOCKS) -> None:
    """Raise (AssertionError or SlackObjectFormationError) unless every block is valid and within limits."""
    assert len(blocks) <= max_blocks, f"{len(blocks)} blocks > {max_blocks}"
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(block_ids) == len(set(block_ids)), f"duplicate block_id: {block_ids}"
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None, f"unknown block type {raw.get('type')}"
        block.to_dict()  # slack_sdk validates lengths and counts here (SlackObjectFormationError)
        for field in raw.get("fields", []):
            assert len(field["text"]) <= 2000, "section field over 2000 characters"
        if isinstance(block, ActionsBlock):
            action_ids = [e.get("action_id") for e in raw["elements"]]
            assert len(action_ids) == len(set(action_ids)), f"duplicate action_id in one block: {action_ids}"
            for element in block.elements:
                if isinstance(element, ButtonElement) and element.value is not None:
                    assert len(element.value) <= 2000


def validate_message(message: Message | dict[str, Any]) -> None:
    """A message payload: a non-empty plain `text` fallback and valid blocks."""
    payload = message.to_dict() if isinstance(message, Message) else message
    text = payload.get("text")
    assert isinstance(text, str) and text.strip(), "every message needs a text fallback"
    assert len(text) <= 3000
    validate_blocks(payload.get("blocks") or [])


def all_text(message: Message | dict[str, Any], *, parsed_only: bool = False) -> str:
    """Every piece of text in a message (fallback, blocks, buttons), for 'does it say X' assertions.

    `parsed_only`: only what Slack parses for mentions, the fallback and mrkdwn text objects (plain_text is shown
    as it is, so markup there pings nobody).
    """
    payload = message.to_dict() if isinstance(message, Message) else message
    parts = [str(payload.get("text", ""))]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    if not parsed_only or node.get("type") == "mrkdwn":
                        parts.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(payload.get("blocks") or [])
    return "\n".join(parts)


def buttons(message: Message | dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Buttons of a message by action_id (the last one wins for repeated ids such as Details)."""
    payload = message.to_dict() if isinstance(message, Message) else message
    out: dict[str, dict[str, Any]] = {}
    for block in payload.get("blocks") or []:
        elements = list(block.get("elements", []))
        if "accessory" in block:
            elements.append(block["accessory"])
        for element in elements:
            if element.get("type") == "button":
                out[element["action_id"]] = element
    return out
