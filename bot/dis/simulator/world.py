"""The simulated tenant: streams, their dump tasks and partitions, rendered in DIS's wire shapes.

Live tasks advance lazily: a RUNNING task's `last_transfer_timestamp` and partition offsets are computed
from the wall clock when read, and frozen when the task leaves RUNNING, so nothing ticks in the background
and every read is O(tasks in the stream).
"""

from __future__ import annotations

import bisect
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
DAY_MS = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


def opaque_id(*parts: str, length: int = 19) -> str:
    """A DIS-looking opaque id (19 base62 chars, like `As805BudhcH1lDs6gbn`), stable for the same parts."""
    number = int.from_bytes(hashlib.sha256("/".join(parts).encode()).digest(), "big")
    out = []
    for _ in range(length):
        number, rest = divmod(number, 62)
        out.append(_ALPHABET[rest])
    return "".join(out)


@dataclass
class SimPartition:
    """Transfer progress of one partition of a task. `state`/`last_transfer_timestamp` None follow the task."""

    state: str | None = None
    discard: int = 0
    last_transfer_offset: int = 0
    last_transfer_timestamp: int | None = None


@dataclass
class SimTask:
    """A dump task as the scripting API sees it.

    Args:
        live: when True, a RUNNING task's last transfer time follows the clock (rounded down to its
            `deliver_interval`) and its partition offsets grow by `records_per_second`.
        destination: replaces the generated `*_destination_description` block.
    """

    task_name: str
    state: str = "RUNNING"
    destination_type: str = "OBS"
    task_id: str | None = None
    create_time: int | None = None
    last_transfer_timestamp: int | None = None
    live: bool = False
    records_per_second: float = 0.0
    deliver_interval: int = 300
    destination: dict[str, Any] | None = None
    partitions: list[SimPartition] = field(default_factory=list)
    # When the task last entered RUNNING (epoch s); only used by live tasks.
    _running_since: float | None = field(default=None, repr=False)

    # --- live progress -------------------------------------------------------------------------

    def _elapsed(self, now: float) -> float:
        if not self.live or self.state != "RUNNING" or self._running_since is None:
            return 0.0
        return max(0.0, now - self._running_since)

    def current_timestamp(self, now: float) -> int | None:
        if self.live and self.state == "RUNNING" and self._running_since is not None:
            step = max(1, self.deliver_interval) * 1000
            aligned = int(now * 1000) // step * step
            return max(aligned, self.last_transfer_timestamp or 0)
        return self.last_transfer_timestamp

    def current_offset(self, partition: SimPartition, now: float) -> int:
        return partition.last_transfer_offset + int(self._elapsed(now) * self.records_per_second)

    def freeze(self, now: float) -> None:
        """Store the live values so that they stop moving (called before a state change)."""
        if self.live and self.state == "RUNNING":  # the only case where the values move
            self.last_transfer_timestamp = self.current_timestamp(now)
            for p in self.partitions:
                p.last_transfer_offset = self.current_offset(p, now)
        self._running_since = None

    def change_state(self, state: str, now: float) -> None:
        """Move to `state`; partition state overrides end here (partitions follow the task again)."""
        self.freeze(now)
        self.state = state
        for p in self.partitions:
            p.state = None
        if state == "RUNNING":
            self._running_since = now

    # --- wire shapes ---------------------------------------------------------------------------

    def summary(self, now: float) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "task_name": self.task_name,
            "state": self.state,
            "destination_type": self.destination_type,
            "create_time": self.create_time,
            "last_transfer_timestamp": self.current_timestamp(now),
        }

    def detail(self, stream: SimStream, now: float) -> dict[str, Any]:
        ts = self.current_timestamp(now)
        body: dict[str, Any] = {
            "stream_name": stream.name,
            "stream_id": stream.stream_id,
            "task_name": self.task_name,
            "task_id": self.task_id,
            "destination_type": self.destination_type,
            "state": self.state,
            "create_time": self.create_time,
            "last_transfer_timestamp": ts,
        }
        key, description = destination_block(self)
        body[key] = description
        body["partitions"] = [
            {
                "partitionId": f"shardId-{i:010d}",
                "discard": p.discard,
                "state": p.state or self.state,
                "last_transfer_timestamp": p.last_transfer_timestamp or ts,
                "last_transfer_offset": self.current_offset(p, now),
            }
            for i, p in enumerate(self.partitions)
        ]
        return body


def destination_block(task: SimTask) -> tuple[str, dict[str, Any]]:
    """The destination description under the key real DIS uses, typos included (`dws_..._descripton`)."""
    kind = (task.destination_type or "").upper()
    common = {
        "task_name": task.task_name,
        "agency_name": "dis_admin_agency",
        "deliver_time_interval": task.deliver_interval,
        "consumer_strategy": "LATEST",
        "retry_duration": 1800,
    }
    bucket = f"dis-dump-{task.task_name}"[:63]
    if kind == "OBS":
        key = "obs_destination_description"
        desc = {
            **common,
            "file_prefix": "",
            "partition_format": "yyyy/MM/dd/HH",
            "obs_bucket_path": bucket,
            "destination_file_type": "text",
            "record_delimiter": "\n",
        }
    elif kind == "DLI":
        key = "dli_destination_description"
        desc = {
            **common,
            "dli_database_name": "dis_db",
            "dli_table_name": task.task_name.replace("-", "_"),
            "obs_bucket_path": bucket,
            "file_prefix": "dli-tmp",
        }
    elif kind == "DWS":
        key = "dws_destination_descripton"
        desc = {
            **common,
            "dws_cluster_name": "dws-analytics",
            "dws_cluster_id": opaque_id("dws", task.task_name, length=19),
            "dws_database_name": "gaussdb",
            "dws_schema": "public",
            "dws_table_name": task.task_name.replace("-", "_"),
            "dws_delimiter": "|",
            "user_name": "dbadmin",
            "obs_bucket_path": bucket,
            "file_prefix": "dws-tmp",
        }
    elif kind == "MRS":
        key = "mrs_destination_description"
        desc = {
            **common,
            "mrs_cluster_name": "mrs-hadoop",
            "mrs_cluster_id": opaque_id("mrs", task.task_name, length=19),
            "mrs_hdfs_path": "/dis",
            "hdfs_prefix_folder": task.task_name,
            "obs_bucket_path": bucket,
            "file_prefix": "mrs-tmp",
        }
    else:
        key = "cloudtable_destination_descripton"
        desc = {
            **common,
            "cloudtable_cluster_name": "cloudtable-hbase",
            "cloudtable_cluster_id": opaque_id("ct", task.task_name, length=19),
            "cloudtable_table_name": task.task_name.replace("-", "_"),
        }
    if task.destination is not None:
        desc = dict(task.destination)
    return key, desc


@dataclass
class SimStream:
    name: str
    stream_id: str
    create_time: int
    partition_count: int
    status: str = "RUNNING"
    stream_type: str = "COMMON"
    data_type: str = "BLOB"
    retention_period: int = 24
    tasks: dict[str, SimTask] = field(default_factory=dict)  # by task_name, insertion order
    by_id: dict[str, SimTask] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "stream_name": self.name,
            "create_time": self.create_time,
            "retention_period": self.retention_period,
            "status": self.status,
            "stream_type": self.stream_type,
            "data_type": self.data_type,
            "partition_count": self.partition_count,
            "tags": [],
            "sys_tags": [],
            "auto_scale_enabled": False,
            "auto_scale_min_partition_count": 0,
            "auto_scale_max_partition_count": 0,
        }


class World:
    """All streams of the simulated project. Not thread-safe by itself: the simulator holds a lock."""

    def __init__(self, project_id: str) -> None:
        self.project_id = project_id
        self.streams: dict[str, SimStream] = {}
        self.names: list[str] = []  # sorted, for O(log n) pagination

    def add_stream(
        self,
        name: str,
        tasks: list[SimTask],
        *,
        partitions: int,
        create_time: int | None,
        status: str,
        stream_type: str,
        data_type: str,
    ) -> SimStream:
        if name in self.streams:
            raise ValueError(f"stream {name!r} already exists")
        stream = SimStream(
            name=name,
            stream_id=opaque_id(self.project_id, "stream", name),
            create_time=create_time if create_time is not None else now_ms() - 30 * DAY_MS,
            partition_count=partitions,
            status=status,
            stream_type=stream_type,
            data_type=data_type,
        )
        self.streams[name] = stream
        bisect.insort(self.names, name)
        for task in tasks:
            self.add_task(name, task)
        return stream

    def remove_stream(self, name: str) -> None:
        del self.streams[name]
        self.names.remove(name)

    def stream(self, name: str) -> SimStream:
        return self.streams[name]

    def add_task(self, stream_name: str, task: SimTask) -> SimTask:
        stream = self.streams[stream_name]
        if task.task_name in stream.tasks:
            raise ValueError(f"task {task.task_name!r} already exists in {stream_name!r}")
        now = time.time()
        if task.task_id is None:
            task.task_id = opaque_id(self.project_id, stream_name, task.task_name, str(stream.stream_id))
        if task.create_time is None:
            task.create_time = max(stream.create_time, now_ms() - 7 * DAY_MS)
        if task.last_transfer_timestamp is None:
            task.last_transfer_timestamp = now_ms()
        if not task.partitions:
            task.partitions = [SimPartition() for _ in range(stream.partition_count)]
        if task.state == "RUNNING" and task.live:
            task._running_since = now
        stream.tasks[task.task_name] = task
        stream.by_id[task.task_id] = task
        return task

    def remove_task(self, stream_name: str, task_name: str) -> None:
        stream = self.streams[stream_name]
        task = stream.tasks.pop(task_name)
        stream.by_id.pop(task.task_id or "", None)

    def task(self, stream_name: str, task_name: str) -> SimTask:
        return self.streams[stream_name].tasks[task_name]

    def page(self, start: str | None, limit: int) -> tuple[list[SimStream], bool]:
        """Streams after `start` (exclusive), at most `limit`, and whether more follow."""
        index = bisect.bisect_right(self.names, start) if start else 0
        names = self.names[index : index + limit]
        return [self.streams[n] for n in names], index + limit < len(self.names)
