"""Cached, single-flight reads of DIS for everything that answers people (commands, buttons, App Home).

During an incident thirty people type `/dis tasks orders-prod` at once; DIS should see one request.
`SingleFlightCache` gives that: a TTL cache keyed by (project, what) where concurrent misses for one key
share one in-flight fetch. Errors are never cached, so the next caller tries again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from cachetools import TTLCache

from bot.dis.api import DisReader
from bot.dis.models import StreamDetail, StreamInfo, TaskDetail, TaskList
from bot.dis.names import validate_name

logger = logging.getLogger("bot.cache")

T = TypeVar("T")


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    coalesced: int = 0


class SingleFlightCache(Generic[T]):
    """A TTL cache whose concurrent misses for one key cause exactly one call of the loader.

    Args:
        ttl: seconds a value stays fresh (0 disables caching but keeps single flight).
        maxsize: entries kept at most; the least recently used go first.
        on_event: optional callback `(event)` with "hit", "miss" or "coalesced", for metrics.
    """

    def __init__(
        self,
        ttl: float,
        maxsize: int = 10_000,
        *,
        on_event: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache: TTLCache[Hashable, T] | None = TTLCache(maxsize, ttl, timer=clock) if ttl > 0 else None
        self._inflight: dict[Hashable, asyncio.Future[T]] = {}
        self.stats = CacheStats()
        self.on_event = on_event

    def _count(self, event: str) -> None:
        if event == "hit":
            self.stats.hits += 1
        elif event == "miss":
            self.stats.misses += 1
        else:
            self.stats.coalesced += 1
        if self.on_event is not None:
            self.on_event(event)

    def peek(self, key: Hashable) -> T | None:
        """The cached value, if fresh, without loading."""
        if self._cache is None:
            return None
        return self._cache.get(key)

    def put(self, key: Hashable, value: T) -> None:
        """Store a value (every finished load goes through here)."""
        if self._cache is not None:
            self._cache[key] = value

    def invalidate(self, key: Hashable) -> None:
        if self._cache is not None:
            self._cache.pop(key, None)

    async def get(self, key: Hashable, loader: Callable[[], Awaitable[T]], *, fresh: bool = False) -> T:
        """Return the cached value for `key`, or load it once for every concurrent caller.

        With `fresh=True` the cache is skipped (Refresh button, watcher) but an in-flight load is still shared:
        a read that started a moment ago is as fresh as one we would start now.
        """
        if not fresh:
            cached = self.peek(key)
            if cached is not None:
                self._count("hit")
                return cached
        while (pending := self._inflight.get(key)) is not None:
            self._count("coalesced")
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if not pending.cancelled() or (current is not None and current.cancelling()):
                    raise
                # The caller doing the load was cancelled, not this one: load (or join the next load) instead.
        self._count("miss")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await loader()
        except asyncio.CancelledError:
            future.cancel()  # waiters see a cancelled load and try again themselves
            raise
        except BaseException as exc:
            future.set_exception(exc)
            # Mark the exception retrieved so a load nobody else awaited does not warn at exit.
            future.exception()
            raise
        else:
            future.set_result(value)
            self.put(key, value)
            return value
        finally:
            self._inflight.pop(key, None)


class TaskService:
    """Reads of dump tasks and streams for people, cached per (project, stream) with single flight.

    Args:
        client: the DIS client (anything with the `DisReader` methods).
        ttl: `CACHE_TTL_SECONDS`.
    """

    def __init__(self, client: DisReader, ttl: float, *, on_cache_event: Callable[[str], None] | None = None) -> None:
        self.client = client
        self.cache: SingleFlightCache[Any] = SingleFlightCache(ttl, on_event=on_cache_event)

    @property
    def project_id(self) -> str:
        return self.client.project_id

    async def tasks(self, stream: str, *, fresh: bool = False) -> TaskList:
        """The dump tasks of `stream` (validated before anything else)."""
        validate_name(stream, "stream")
        key = self._tasks_key(stream)
        return await self.cache.get(key, lambda: self.client.list_transfer_tasks(stream), fresh=fresh)

    async def task(self, stream: str, task: str, *, fresh: bool = False) -> TaskDetail:
        """One task's details, partitions included."""
        validate_name(stream, "stream")
        validate_name(task, "task")
        key = self._task_key(stream, task)
        return await self.cache.get(key, lambda: self.client.show_transfer_task(stream, task), fresh=fresh)

    async def stream(self, stream: str, *, fresh: bool = False) -> StreamDetail:
        """One stream's description (partitions' sequence ranges, retention): what backlogs are measured against."""
        validate_name(stream, "stream")
        key = self._stream_key(stream)
        return await self.cache.get(key, lambda: self.client.describe_stream(stream), fresh=fresh)

    async def streams(self, *, fresh: bool = False) -> list[StreamInfo]:
        """Every stream of the project (all pages)."""
        key = (self.project_id, "streams")
        return await self.cache.get(key, self.client.list_streams, fresh=fresh)

    def cached_tasks(self, stream: str) -> TaskList | None:
        return self.cache.peek(self._tasks_key(stream))

    def cached_task(self, stream: str, task: str) -> TaskDetail | None:
        """A task's details if a recent read left them in the cache (no call)."""
        return self.cache.peek(self._task_key(stream, task))

    def cached_stream(self, stream: str) -> StreamDetail | None:
        """A stream's description if a recent read left it in the cache (no call)."""
        return self.cache.peek(self._stream_key(stream))

    def _tasks_key(self, stream: str) -> tuple[str, str, str]:
        """One key for a stream's task list, whether read here or fed by the watcher."""
        return (self.project_id, "tasks", stream)

    def _task_key(self, stream: str, task: str) -> tuple[str, str, str, str]:
        return (self.project_id, "task", stream, task)

    def _stream_key(self, stream: str) -> tuple[str, str, str]:
        return (self.project_id, "stream", stream)
