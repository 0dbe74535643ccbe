"""Every id shared by the block builders and the listeners that answer them, so the two never drift apart.

Button values carry a "view": the command words that produced a message (plus a page offset), so Refresh,
Share and paging re-run the same command instead of trusting data stored in the message.

A value comes back inside a request, so it is data to check, never a command to run: `View.decode` and
`TaskRef.decode` accept only what the builders write (read-only views with their number of arguments, names that
pass the DIS name rule, known fields) and raise `ValueError` for anything else.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from bot.dis.names import is_valid_name

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


#: The views a button may show, with their number of arguments: read-only commands only, so a crafted value
#: cannot make a click run `watch`, `unwatch` or anything that changes state.
VIEW_COMMANDS: dict[str, int] = {"status": 0, "streams": 0, "tasks": 1, "task": 2}
#: Far beyond any real page offset (DIS has at most thousands of tasks per stream).
MAX_OFFSET = 100_000
#: DIS task ids are short base62-like strings ("As805BudhcH1lDs6gbn").
_TASK_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def _object(value: str, fields: set[str]) -> dict[str, Any]:
    """The JSON object of a button value, with no field outside `fields`."""
    if not isinstance(value, str) or len(value) > 2000:
        raise ValueError("not a button value")
    data = json.loads(value)
    if not isinstance(data, dict):
        raise ValueError("not an object")
    unknown = set(data) - fields
    if unknown:
        raise ValueError("unknown fields")
    return data


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
        data = _object(value, {"c", "a", "o"})
        command = data.get("c")
        if not isinstance(command, str) or command not in VIEW_COMMANDS:
            raise ValueError("not a view")
        args = data.get("a") or []
        if not isinstance(args, list) or len(args) != VIEW_COMMANDS[command]:
            raise ValueError("bad view arguments")
        if not all(isinstance(a, str) and is_valid_name(a) for a in args):
            raise ValueError("bad view arguments")
        offset = data.get("o", 0)
        # bool is an int to Python; a 40-digit number is an int too.
        if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
            raise ValueError("bad view offset")
        return cls(command, tuple(args), offset)

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
        """Read a Details/Start/Stop value; raises ValueError unless both names pass the name rule."""
        data = _object(value, {"s", "t", "i"})
        stream, task = data.get("s"), data.get("t")
        if not (isinstance(stream, str) and is_valid_name(stream) and isinstance(task, str) and is_valid_name(task)):
            raise ValueError("not a task reference")
        task_id = data.get("i")
        if task_id is not None and not (isinstance(task_id, str) and _TASK_ID.fullmatch(task_id)):
            raise ValueError("bad task id")
        return cls(stream, task, task_id)
