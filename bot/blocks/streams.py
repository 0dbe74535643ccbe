"""The project's streams as a Slack message, paged within Slack's limits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.blocks.controls import page_buttons, view_actions
from bot.blocks.limits import Message, chunk_lines, context, escape, header, section, truncate
from bot.dis.models import StreamInfo
from bot.ids import View

PAGE_SIZE = 100  # ~70 characters a line: 3 sections of text per page


def stream_line(s: StreamInfo) -> str:
    parts = [f"*{escape(s.stream_name)}*"]
    if s.status:
        parts.append(escape(truncate(s.status, 30)))
    if s.stream_type:
        parts.append(escape(truncate(s.stream_type, 30)))
    if s.partition_count is not None:
        parts.append(f"{s.partition_count} partition{'s' if s.partition_count != 1 else ''}")
    return "• " + " · ".join(parts)


def stream_list(
    streams: Sequence[StreamInfo],
    *,
    project: str,
    view: View | None = None,
    prefix: str = "/dis",
    page_size: int = PAGE_SIZE,
) -> Message:
    """The message for `/dis streams`."""
    view = view or View("streams")
    ordered = sorted(streams, key=lambda s: s.stream_name)
    total = len(ordered)
    offset = min(view.offset, max(0, total - 1)) if total else 0
    page = ordered[offset : offset + page_size]
    blocks: list[dict[str, Any]] = [
        header("Streams"),
        context(f"Project `{escape(project)}` · {total} stream{'s' if total != 1 else ''}"),
    ]
    if not ordered:
        blocks.append(section("This project has no streams."))
    blocks.extend(section(text) for text in chunk_lines([stream_line(s) for s in page]))
    if total > len(page):
        blocks.append(context(f"Showing {offset + 1}-{offset + len(page)} of {total}. Use *Next* / *Previous*."))
    blocks.append(context(f"`{prefix} tasks STREAM` lists a stream's dump tasks; `{prefix} status` checks them all."))
    blocks.append(
        view_actions(View("streams", (), offset), *page_buttons(View("streams", (), offset), total, page_size))
    )
    names = ", ".join(s.stream_name for s in ordered[:20]) + (f" and {total - 20} more" if total > 20 else "")
    text = f"{total} stream(s) in project {project}" + (f": {names}" if names else "")
    return Message(truncate(escape(text), 3000), blocks)  # names come from DIS: inert in the fallback too
