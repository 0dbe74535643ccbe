"""Every id shared by the block builders and the listeners that answer them, so the two never drift apart.

Button values carry a "view": the command words that produced a message (plus a page offset), so Refresh,
Share and paging re-run the same command instead of trusting data stored in the message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

COMMAND = "/dis"

# --- action_id of buttons ---
REFRESH = "dis.refresh"
SHARE = "dis.share"
PAGE_PREV = "dis.page.prev"
PAGE_NEXT = "dis.page.next"
DETAILS = "dis.details"
TASKS = "dis.tasks"  # "Back to tasks" / a stream's "Tasks" button
TASK_START = "dis.task.start"
TASK_STOP = "dis.task.stop"

# --- block_id ---
VIEW_ACTIONS = "dis.view.actions"
TASK_ACTIONS = "dis.task.actions"
ACTION_RESULT = "dis.task.result"


@dataclass(frozen=True)
class View:
    """What a message shows: a command word, its arguments and a page offset (e.g. tasks orders-prod, offset 40)."""

    command: str
    args: tuple[str, ...] = field(default_factory=tuple)
    offset: int = 0

    def encode(self) -> str:
        """A compact button value (Slack allows 2000 characters; names are at most 64)."""
        out: dict[str, object] = {"c": self.command, "a": list(self.args)}
        if self.offset:
            out["o"] = self.offset
        return json.dumps(out, separators=(",", ":"))

    @classmethod
    def decode(cls, value: str) -> View:
        """Read a button value; raises ValueError for anything that is not a view we wrote."""
        data = json.loads(value)
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            raise ValueError("not a view")
        args = data.get("a") or []
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ValueError("bad view arguments")
        offset = data.get("o", 0)
        if not isinstance(offset, int) or offset < 0:
            raise ValueError("bad view offset")
        return cls(data["c"], tuple(args), offset)

    @property
    def text(self) -> str:
        """The words a person would type for this view."""
        return " ".join((self.command, *self.args))


@dataclass(frozen=True)
class TaskRef:
    """The task a Details/Start/Stop button is about."""

    stream: str
    task: str
    task_id: str | None = None

    def encode(self) -> str:
        out = {"s": self.stream, "t": self.task}
        if self.task_id:
            out["i"] = self.task_id
        return json.dumps(out, separators=(",", ":"))

    @classmethod
    def decode(cls, value: str) -> TaskRef:
        data = json.loads(value)
        if not isinstance(data, dict) or not isinstance(data.get("s"), str) or not isinstance(data.get("t"), str):
            raise ValueError("not a task reference")
        task_id = data.get("i")
        return cls(data["s"], data["t"], task_id if isinstance(task_id, str) else None)
