"""How far a dump task is behind its stream, from one deep read (task details + stream description).

DIS reports ERROR and ABNORMAL; it does not report a RUNNING task that moves no data, a failed partition inside a
healthy-looking task, records it discards, or a backlog that will outlive the stream's retention. These are the
numbers those judgements need (see ../shared/reference/dis-lag.md):

- backlog of a task partition = the newest sequence number the stream partition holds (the end of its
  `sequence_number_range`) minus the task partition's `last_transfer_offset`, never below 0 (whether the offset
  names the last record sent or the next one, a caught-up partition reads 0 either way);
- the oldest waiting record of a partition is at most `now - its last transfer` old, so records start to be lost
  `retention_period - (now - last transfer)` from now, for the partition with waiting records that sent last
  longest ago.

Pure functions: the watcher and the commands call them with what they read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.dis.models import StreamDetail, TaskDetail, TaskState, TransferTask

#: Partition states that are not a problem (a task STARTING or PAUSED moves its partitions through them too).
OK_PARTITION_STATES: frozenset[str] = frozenset({TaskState.RUNNING, TaskState.STARTING, TaskState.PAUSED})

_TRAILING_NUMBER = re.compile(r"(\d+)\s*$")


def partition_key(partition_id: str) -> str:
    """One spelling for a partition id: `shardId-0000000003`, `shardId-3` and `3` are the same partition."""
    match = _TRAILING_NUMBER.search(partition_id)
    return str(int(match.group(1))) if match else partition_id.strip()


@dataclass(frozen=True)
class PartitionLag:
    """One task partition against its stream partition.

    Attributes:
        backlog: records waiting (None when the stream does not describe this partition or its range is unknown).
        discard: records the task dropped there so far (a running count; 0 when DIS left it out).
        last_transfer_ms: the partition's last transfer, epoch ms (None: never, or not said).
        problem: its state is one that is not RUNNING, STARTING or PAUSED (a missing state is not a problem).
        discard_known: DIS said `discard` for it (a left-out count reads 0 but is no count).
        gone: the stream lists the partition EXPIRED or DELETED and nothing of it waits (a scaled-down stream's
            old partition): whatever state the task gives it, there is nothing left to fail to send.
    """

    partition_id: str
    state: str | None
    backlog: int | None
    discard: int
    last_transfer_ms: int | None
    last_transfer_offset: int | None
    discard_known: bool = True
    gone: bool = False

    @property
    def problem(self) -> bool:
        return not self.gone and self.state is not None and self.state.strip().upper() not in OK_PARTITION_STATES


@dataclass(frozen=True)
class TaskLag:
    """A task's partitions, backlog, discards and the stream's retention, as of `read_at` (epoch seconds)."""

    stream: str
    task_name: str
    state: str
    partitions: tuple[PartitionLag, ...]
    retention_hours: int | None
    read_at: float
    #: When the task was created, epoch ms (None: not said): a task that never transferred is idle since then.
    created_ms: int | None = None
    #: The task's own `last_transfer_timestamp` in its details: stands in when no partition carries one.
    task_last_transfer_ms: int | None = None

    @property
    def backlog(self) -> int:
        """Records waiting, summed over the partitions whose backlog is known."""
        return sum(p.backlog for p in self.partitions if p.backlog is not None)

    @property
    def discarded(self) -> int:
        """Records the task discarded so far, summed over its partitions."""
        return sum(p.discard for p in self.partitions)

    @property
    def discard_known(self) -> bool:
        """Every partition carried its `discard` count (a count left out is not a drop to 0)."""
        return bool(self.partitions) and all(p.discard_known for p in self.partitions)

    @property
    def last_transfer_ms(self) -> int | None:
        """The task's most recent transfer on any partition, or the task's own when no partition says (None:
        none recorded)."""
        stamps = [p.last_transfer_ms for p in self.partitions if p.last_transfer_ms]
        return max(stamps) if stamps else self.task_last_transfer_ms

    @property
    def failed_partitions(self) -> list[PartitionLag]:
        return [p for p in self.partitions if p.problem]

    def failed_summary(self) -> str | None:
        """ "2 of 8 partitions ERROR" (states joined when they differ), or None when no partition has a problem."""
        failed = self.failed_partitions
        if not failed:
            return None
        states = sorted({(p.state or "").strip().upper() for p in failed})
        noun = "partition" if len(self.partitions) == 1 else "partitions"
        return f"{len(failed)} of {len(self.partitions)} {noun} {'/'.join(states)}"

    def idle_seconds(self, now: float | None = None) -> float | None:
        """Seconds since the task last transferred anything (None: never, as far as DIS says)."""
        last = self.last_transfer_ms
        return None if last is None else max(0.0, (now if now is not None else self.read_at) - last / 1000)

    def is_stalled(self, stall_seconds: float, now: float | None = None) -> bool:
        """RUNNING, records waiting, and no transfer for `stall_seconds` (a task with nothing waiting is idle).

        A task that never transferred counts from its creation: a new task has records waiting before its first
        delivery (`deliver_time_interval`, 300 s by default) and is not stalled for that."""
        if self.state != TaskState.RUNNING or self.backlog <= 0 or stall_seconds <= 0:
            return False
        idle = self.idle_seconds(now)
        if idle is None and self.created_ms is not None:
            idle = max(0.0, (now if now is not None else self.read_at) - self.created_ms / 1000)
        return idle is None or idle >= stall_seconds

    def oldest_waiting_age(self, now: float | None = None) -> float | None:
        """An upper bound on the age in seconds of the oldest record waiting (None: unknown, or nothing waits)."""
        at = now if now is not None else self.read_at
        ages = [
            max(0.0, at - p.last_transfer_ms / 1000)
            for p in self.partitions
            if p.backlog and p.last_transfer_ms is not None
        ]
        return max(ages) if ages else None

    def retention_left_seconds(self, now: float | None = None) -> float | None:
        """Seconds until unsent records start to pass the stream's retention (negative: loss has begun);
        None when nothing waits or the retention or the last transfers are unknown."""
        age = self.oldest_waiting_age(now)
        if age is None or self.retention_hours is None:
            return None
        return self.retention_hours * 3600 - age


#: Stream partition states that hold nothing to send any more (a scaled-down stream's old partitions, once their
#: records have expired): with no range left, nothing waits there.
GONE_PARTITION_STATES: frozenset[str] = frozenset({"EXPIRED", "DELETED"})


def task_lag(detail: TaskDetail, stream: StreamDetail | None, *, read_at: float) -> TaskLag:
    """Join a task's partitions with its stream's (by partition id); without the stream, backlogs are unknown.

    A task partition the stream does not list, or lists with no readable range end, has an unknown backlog; one
    the stream lists as EXPIRED or DELETED with no range left has none. An offset of -1, or none from a partition
    that never transferred, counts from 0; no offset from one that did is an unknown backlog."""
    ends: dict[str, int | None] = {}
    gone: set[str] = set()
    for sp in stream.partitions if stream else ():
        key, end = partition_key(sp.partition_id), sp.last_sequence
        if (sp.status or "").strip().upper() in GONE_PARTITION_STATES:
            gone.add(key)
            if end is None:
                end = 0
        ends[key] = end
    partitions = []
    for part in detail.partitions:
        key = partition_key(part.partition_id)
        end = ends.get(key)
        offset = part.last_transfer_offset
        if offset is None and part.last_transfer_timestamp is not None:
            backlog = None  # it sent something, but not from where: whole-range waiting would invent a stall
        else:
            backlog = None if end is None else max(0, end - (offset if offset is not None and offset >= 0 else 0))
        partitions.append(
            PartitionLag(
                partition_id=part.partition_id,
                state=part.state,
                backlog=backlog,
                discard=max(part.discard or 0, 0),
                last_transfer_ms=part.last_transfer_timestamp,
                last_transfer_offset=offset,
                discard_known=part.discard is not None,
                gone=key in gone and backlog == 0,
            )
        )
    return TaskLag(
        stream=detail.stream_name or (stream.stream_name if stream else ""),
        task_name=detail.task_name,
        state=detail.state,
        partitions=tuple(partitions),
        retention_hours=stream.retention_period if stream else None,
        read_at=read_at,
        created_ms=detail.create_time,
        task_last_transfer_ms=detail.last_transfer_timestamp,
    )


def may_be_stalled(task: TransferTask, stall_after: float, now: float) -> bool:
    """Whether the list alone leaves a stall possible: RUNNING, and no transfer for `stall_after` seconds by the
    list's own last transfer time (or none at all). Always False with detection off (`stall_after` 0)."""
    if stall_after <= 0 or task.state != TaskState.RUNNING:
        return False
    last = task.last_transfer_timestamp
    return last is None or now - last / 1000 >= stall_after
