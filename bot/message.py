"""`Message`: what the bot sends to Slack, as the block builders make it and the outbox delivers it.

A leaf value type, so the outbox (watcher layer) can carry messages without importing the builders above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Message:
    """A Slack message: Block Kit `blocks` plus the plain `text` fallback every message must carry."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}
