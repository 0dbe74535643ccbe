"""The simulated tenant: streams, their dump tasks and partitions, rendered in DIS's wire shapes.

Data moves in two ways:
- explicitly, for tests: `SimStream.produce` appends records to partitions (their `sequence_number_range` grows)
  and `SimTask.flow` is one transfer step (each healthy partition's offset catches up with its stream partition and
  its `last_transfer_timestamp` becomes now), unless the task is `stalled` or the partition failed;
- lazily, for the demo and benchmarks: a stream with a `rate` receives records by the clock, and a `live` RUNNING
  task follows it (its last transfer time rounded down to its `deliver_interval`); values freeze when the task
  leaves RUNNING, stalls or a partition fails, so nothing ticks in the background and every read is
  O(tasks in the stream).
"""

from __future__ import annotations

import bisect
import hashlib
import time
from collections.abc import Callable
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


#: Partition states that transfer (the others are failures: their offset and time stand still).
MOVING_STATES = frozenset({"RUNNING", "STARTING", "PAUSED"})


def partition_id(index: int) -> str:
    """DIS's partition id for index `index`: `shardId-0000000000`."""
    return f"shardId-{index:010d}"


@dataclass
class SimPartition:
    """Transfer progress of one partition of a task. `state`/`last_transfer_timestamp` None follow the task."""

    state: str | None = None
    discard: int = 0
    last_transfer_offset: int = 0
    last_transfer_timestamp: int | None = None

    @property
    def failed(self) -> bool:
        return self.state is not None and self.state not in MOVING_STATES


@dataclass
class SimTask:
    """A dump task as the scripting API sees it.

    Args:
        live: when True, a RUNNING task's last transfer time follows the clock (rounded down to its
            `deliver_interval`) and its partition offsets follow the stream's records (or, when
            `records_per_second` is set, grow by that much on their own).
        discard_per_second: records each partition of a live RUNNING task drops per second (a discarding task).
        stalled: RUNNING but moving nothing (`DisSimulator.stall`): offsets and times stand still.
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
    discard_per_second: float = 0.0
    stalled: bool = False
    # When the task last entered RUNNING (epoch s); only used by live tasks.
    _running_since: float | None = field(default=None, repr=False)
    # The stream it dumps (set by `World.add_task`): live tasks follow its records.
    _stream: SimStream | None = field(default=None, repr=False)

    # --- live progress -------------------------------------------------------------------------

    @property
    def _moving(self) -> bool:
        return self.live and self.state == "RUNNING" and not self.stalled and self._running_since is not None

    def _elapsed(self, now: float) -> float:
        return max(0.0, now - self._running_since) if self._moving and self._running_since is not None else 0.0

    def current_timestamp(self, now: float) -> int | None:
        if self._moving:
            step = max(1, self.deliver_interval) * 1000
            aligned = int(now * 1000) // step * step
            return max(aligned, self.last_transfer_timestamp or 0)
        return self.last_transfer_timestamp

    def current_offset(self, partition: SimPartition, now: float) -> int:
        if not self._moving or partition.failed:
            return partition.last_transfer_offset
        if self.records_per_second or self._stream is None:
            return partition.last_transfer_offset + int(self._elapsed(now) * self.records_per_second)
        index = self.partitions.index(partition)
        return max(partition.last_transfer_offset, self._stream.end(index, now))

    def current_discard(self, partition: SimPartition, now: float) -> int:
        if partition.failed:
            return partition.discard
        return partition.discard + int(self._elapsed(now) * self.discard_per_second)

    def current_partition_timestamp(self, partition: SimPartition, now: float) -> int | None:
        """A moving partition sent at the task's last delivery; a failed one when it failed (None: as the task)."""
        if self._moving and not partition.failed:
            return self.current_timestamp(now)
        return partition.last_transfer_timestamp

    def freeze(self, now: float) -> None:
        """Store the live values so that they stop moving (called before a state change or a stall)."""
        if self._moving:  # the only case where the values move
            ts = self.current_timestamp(now)
            for p in self.partitions:
                if not p.failed:
                    self.freeze_partition(p, now)
            self.last_transfer_timestamp = ts
        self._running_since = None

    def freeze_partition(self, partition: SimPartition, now: float) -> None:
        """Store one partition's live values (before it fails, so that it stops where it was)."""
        if self._moving and not partition.failed:
            partition.last_transfer_offset = self.current_offset(partition, now)
            partition.discard = self.current_discard(partition, now)
            partition.last_transfer_timestamp = self.current_timestamp(now)

    def resume(self, now: float) -> None:
        """Start moving again from `now` (after a state change to RUNNING or the end of a stall)."""
        if self.state == "RUNNING" and not self.stalled:
            self._running_since = now

    def flow(self, stream: SimStream, now: float) -> bool:
        """One transfer step: every healthy partition sends what its stream partition holds; True if any moved.

        A stalled, non-RUNNING or live task does not step (live ones follow the clock instead).
        """
        if self.live or self.stalled or self.state != "RUNNING":
            return False
        stamp = int(now * 1000)
        moved = False
        for index, p in enumerate(self.partitions):
            end = stream.end(index, now)
            if p.failed or p.last_transfer_offset >= end:
                continue
            p.last_transfer_offset = end
            p.last_transfer_timestamp = stamp
            moved = True
        if moved:
            self.last_transfer_timestamp = stamp
        return moved

    def set_last_transfer(self, stamp_ms: int) -> None:
        """Say the task (and every partition) last sent at `stamp_ms`, e.g. 47 minutes ago."""
        self.last_transfer_timestamp = stamp_ms
        for p in self.partitions:
            p.last_transfer_timestamp = stamp_ms

    def change_state(self, state: str, now: float) -> None:
        """Move to `state`; partition state overrides end here (partitions follow the task again)."""
        self.freeze(now)
        self.state = state
        for p in self.partitions:
            p.state = None
        self.resume(now)

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
                "partitionId": partition_id(i),
                "discard": self.current_discard(p, now),
                "state": p.state or self.state,
                "last_transfer_timestamp": self.current_partition_timestamp(p, now) or ts,
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
    #: The newest sequence number of each partition from `produce` (0: nothing produced yet).
    ends: list[int] = field(default_factory=list)
    #: Records per second arriving in each partition on their own (the sample data; 0: only `produce`).
    rate: float = 0.0
    #: When `rate` took effect (epoch s).
    rate_since: float = 0.0

    def end(self, index: int, now: float) -> int:
        """The newest sequence number partition `index` holds at `now`."""
        base = self.ends[index] if index < len(self.ends) else 0
        return base + int(max(0.0, now - self.rate_since) * self.rate)

    def produce(self, records: int, partition: int | None = None) -> None:
        """Append `records` to one partition, or spread them over all (the first ones get the remainder)."""
        if len(self.ends) < self.partition_count:
            self.ends.extend([0] * (self.partition_count - len(self.ends)))
        if partition is not None:
            self.ends[partition] += records
            return
        share, rest = divmod(records, self.partition_count)
        for index in range(self.partition_count):
            self.ends[index] += share + (1 if index < rest else 0)

    def set_rate(self, rate: float, now: float) -> None:
        """Records per second per partition from `now` on (what arrived so far is kept)."""
        self.ends = [self.end(i, now) for i in range(self.partition_count)]
        self.rate, self.rate_since = rate, now

    def partition(self, index: int, now: float) -> dict[str, Any]:
        """One entry of the stream description's `partitions` (hash ranges split the 63-bit space evenly)."""
        span = 2**63 // self.partition_count
        low = index * span
        high = 2**63 - 1 if index == self.partition_count - 1 else low + span - 1
        return {
            "status": "ACTIVE",
            "partition_id": partition_id(index),
            "hash_range": f"[{low} : {high}]",
            "sequence_number_range": f"[0 : {self.end(index, now)}]",
        }

    def description(self, now: float, start: str | None, limit: int) -> dict[str, Any]:
        """`GET /v2/{project_id}/streams/{stream_name}`: partitions after `start` (exclusive), at most `limit`."""
        first = 0
        if start:
            digits = start.rpartition("-")[2]
            first = int(digits) + 1 if digits.isdigit() else self.partition_count
        indexes = range(first, min(first + limit, self.partition_count))
        return {
            "stream_name": self.name,
            "stream_id": self.stream_id,
            "create_time": self.create_time,
            "last_modified_time": self.create_time,
            "retention_period": self.retention_period,
            "status": self.status,
            "stream_type": self.stream_type,
            "data_type": self.data_type,
            "writable_partition_count": self.partition_count,
            "readable_partition_count": self.partition_count,
            "partitions": [self.partition(i, now) for i in indexes],
            "has_more_partitions": first + limit < self.partition_count,
            "update_partition_counts": [],
            "tags": [],
            "sys_tags": [],
            "auto_scale_enabled": False,
            "auto_scale_min_partition_count": 0,
            "auto_scale_max_partition_count": 0,
        }

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
        #: "Now" for new streams' and tasks' defaults (the simulator points it at its `data_clock`).
        self.clock: Callable[[], float] = time.time

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
        retention_period: int = 24,
    ) -> SimStream:
        if name in self.streams:
            raise ValueError(f"stream {name!r} already exists")
        stream = SimStream(
            name=name,
            stream_id=opaque_id(self.project_id, "stream", name),
            create_time=create_time if create_time is not None else int(self.clock() * 1000) - 30 * DAY_MS,
            partition_count=partitions,
            status=status,
            stream_type=stream_type,
            data_type=data_type,
            retention_period=retention_period,
            ends=[0] * partitions,
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
        now = self.clock()
        if task.task_id is None:
            task.task_id = opaque_id(self.project_id, stream_name, task.task_name, str(stream.stream_id))
        if task.create_time is None:
            task.create_time = max(stream.create_time, int(now * 1000) - 7 * DAY_MS)
        if task.last_transfer_timestamp is None:
            task.last_transfer_timestamp = int(now * 1000)
        if not task.partitions:
            task.partitions = [SimPartition() for _ in range(stream.partition_count)]
        task._stream = stream
        if task.live:
            task.resume(now)
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
