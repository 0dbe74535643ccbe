"""Deep reads for people's questions: the lag of a stream's tasks that may be failing silently.

A task list says ERROR and ABNORMAL; it cannot say "RUNNING but stalled" or "one partition failed". That needs
the task's details and its stream's description (partition ranges, retention). Reading both for every task on
every question would multiply DIS calls, so only the tasks that could be stalled are read: RUNNING tasks whose
list-level last transfer is older than `WATCH_STALL_MINUTES` (or missing). Tasks that do not qualify still get
their lag when their details are already in `TaskService`'s cache (a `/dis task`, the watcher's deep reads), so
a failed partition seen there shows up without a call.

Every read goes through `TaskService` (cached, single flight) under a caller's semaphore, so `/dis status`
bounds its deep reads with the same gate as its list reads. A failed read leaves that task's lag unknown: the
answer still shows the list.
"""

from __future__ import annotations

import asyncio
import logging
import time

from bot.dis.lag import TaskLag, may_be_stalled, task_lag
from bot.dis.models import StreamDetail, TaskDetail, TaskList
from bot.errors import DisError
from bot.services.tasks import TaskService

logger = logging.getLogger("bot.lag")

#: Deep reads in flight at once for one answer when the caller brings no semaphore of its own.
CONCURRENCY = 5


def stall_seconds(minutes: float) -> float:
    """`WATCH_STALL_MINUTES` in seconds (0: stall detection off)."""
    return max(0.0, minutes) * 60


async def stream_lags(
    service: TaskService,
    tasks: TaskList,
    *,
    stall_after: float,
    fresh: bool = False,
    gate: asyncio.Semaphore | None = None,
    now: float | None = None,
) -> dict[str, TaskLag]:
    """The lag of each task of `tasks` worth knowing, by task name.

    Args:
        service: reads through its cache and single flight.
        tasks: the stream's task list, already read.
        stall_after: `WATCH_STALL_MINUTES` in seconds; 0 reads nothing new (only cached details are used).
        fresh: skip the cache (the Refresh button), like the list read did.
        gate: bounds the reads in flight (shared with the caller's other reads); `CONCURRENCY` when omitted.
        now: the clock (tests pin it).

    Returns:
        `{task_name: TaskLag}` for the tasks that were deep-read or whose details were cached; the others
        (and every failed read) are absent.
    """
    now = time.time() if now is None else now
    stream = tasks.stream
    wanted = [t.task_name for t in tasks.tasks if may_be_stalled(t, stall_after, now)]
    cached = {
        t.task_name: detail
        for t in tasks.tasks
        if t.task_name not in wanted and (detail := service.cached_task(stream, t.task_name)) is not None
    }
    if not wanted and not cached:
        return {}
    gate = gate or asyncio.Semaphore(CONCURRENCY)

    async def read_stream() -> StreamDetail | None:
        if not wanted:
            return service.cached_stream(stream)  # only cached details to join: no call for them
        async with gate:
            return await stream_or_none(service, stream, fresh=fresh)

    async def read_task(name: str) -> TaskDetail | None:
        async with gate:
            try:
                return await service.task(stream, name, fresh=fresh)
            except DisError as exc:
                _failed(stream, name, exc)
                return None

    described, details = await asyncio.gather(read_stream(), asyncio.gather(*(read_task(name) for name in wanted)))
    read = {name: detail for name, detail in zip(wanted, details, strict=True) if detail is not None}
    return {name: task_lag(detail, described, read_at=now) for name, detail in {**cached, **read}.items()}


async def stream_or_none(service: TaskService, stream: str, *, fresh: bool = False) -> StreamDetail | None:
    """The stream's description, or None when DIS would not give it (backlogs are then unknown, nothing else)."""
    try:
        return await service.stream(stream, fresh=fresh)
    except DisError as exc:
        _failed(stream, None, exc)
        return None


def _failed(stream: str, task: str | None, exc: DisError) -> None:
    logger.info(
        "lag.deep_read_failed",
        extra={"stream": stream, "task": task, "kind": exc.kind, "code": exc.code, "status": exc.status},
    )
