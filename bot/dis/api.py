"""What the rest of the bot needs from a DIS client, as Protocols: `DisClient` satisfies them, and so does any
stand-in a test builds around the simulator, without importing the client (or httpx) to say so."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from bot.dis.models import StreamDetail, StreamInfo, TaskDetail, TaskList

#: `DisClient.on_request`: (endpoint, HTTP status or an error kind, seconds), once per HTTP attempt.
RequestHook = Callable[[str, int | str, float], None]


class DisReader(Protocol):
    """Reads of one project: what the cached services (`TaskService`) call."""

    project_id: str

    async def list_transfer_tasks(self, stream: str) -> TaskList: ...
    async def show_transfer_task(self, stream: str, task: str) -> TaskDetail: ...
    async def list_streams(self) -> list[StreamInfo]: ...
    async def describe_stream(self, stream: str) -> StreamDetail: ...


class DisApi(DisReader, Protocol):
    """The process's DIS client (`Deps.dis`): reads, the start/stop buttons, the hooks readiness, metrics and the
    log filter hang on, and its close at shutdown."""

    on_request: RequestHook | None
    on_secret: Callable[[str], None] | None

    async def start_transfer_tasks(self, stream: str, task_ids: Sequence[str]) -> None: ...
    async def stop_transfer_tasks(self, stream: str, task_ids: Sequence[str]) -> None: ...
    async def aclose(self) -> None: ...


class TaskReads(Protocol):
    """Cached reads of one project (`bot.services.tasks.TaskService`): the watcher polls through them, so its
    fresh reads also refresh what people's commands are answered from."""

    async def tasks(self, stream: str, *, fresh: bool = False) -> TaskList: ...
    async def streams(self, *, fresh: bool = False) -> list[StreamInfo]: ...
    async def task(self, stream: str, task: str, *, fresh: bool = False) -> TaskDetail: ...
    async def stream(self, stream: str, *, fresh: bool = False) -> StreamDetail: ...
