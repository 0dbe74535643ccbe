"""Pydantic models for what DIS really sends (not only what its field tables say).

- `task_id` is in every example but no field table; we keep it (start/stop need it).
- Unknown extra fields are ignored; an unknown `state` or `destination_type` stays a raw string.
- Timestamps are epoch milliseconds, kept as `int` (0 or missing means "never").
- Show-task partitions carry `partitionId`, `state`, `discard`, `last_transfer_timestamp`,
  `last_transfer_offset` (the documented table is the stream-partition object, copied by mistake).
- Old list responses come as `{"has_more_tasks", "details": [...]}`.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)


class TaskState(StrEnum):
    ERROR = "ERROR"
    STARTING = "STARTING"
    PAUSED = "PAUSED"
    RUNNING = "RUNNING"
    DELETE = "DELETE"
    ABNORMAL = "ABNORMAL"


#: States that mean data is piling up unseen: these raise alerts.
PROBLEM_STATES: frozenset[str] = frozenset({TaskState.ERROR, TaskState.ABNORMAL})

#: Sort order for display: problems first, then transitional, then healthy; unknown states after problems.
_STATE_RANK = {
    TaskState.ERROR: 0,
    TaskState.ABNORMAL: 1,
    TaskState.STARTING: 3,
    TaskState.PAUSED: 4,
    TaskState.RUNNING: 5,
    TaskState.DELETE: 6,
}


def state_rank(state: str) -> int:
    """Display order of a state: ERROR, ABNORMAL, unknown states, STARTING, PAUSED, RUNNING, DELETE."""
    return _STATE_RANK.get(state, 2)  # type: ignore[call-overload]


def is_problem(state: str) -> bool:
    return state in PROBLEM_STATES


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


def _coerce_ms(value: Any) -> int | None:
    """Epoch ms from an int, a numeric string or None; 0 and negatives mean "never"."""
    if value is None or value == "":
        return None
    try:
        ms = int(value)
    except (TypeError, ValueError):
        return None
    return ms if ms > 0 else None


#: An epoch-milliseconds field as DIS sends it (see `_coerce_ms`).
EpochMs = Annotated[int | None, BeforeValidator(_coerce_ms)]


class TransferTask(_Model):
    """One dump task as listed by `GET .../transfer-tasks`."""

    task_id: str | None = None
    task_name: str
    state: str = "UNKNOWN"
    destination_type: str | None = None
    create_time: EpochMs = None
    last_transfer_timestamp: EpochMs = None

    @field_validator("state", "destination_type", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @property
    def is_problem(self) -> bool:
        return is_problem(self.state)


def _id_text(value: Any) -> Any:
    """A partition id as text: some answers carry a bare number (`0`) where others say `shardId-0000000000`."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


#: A partition id, numbers accepted (`bot.dis.lag.partition_key` matches the spellings).
PartitionId = Annotated[str, BeforeValidator(_id_text)]


class Partition(_Model):
    """Transfer progress of one stream partition inside a dump task."""

    partition_id: PartitionId = Field(validation_alias=AliasChoices("partitionId", "partition_id"))
    state: str | None = None
    discard: int | None = None
    last_transfer_timestamp: EpochMs = None
    last_transfer_offset: int | None = None


_DESTINATION_KEYS = (
    "obs_destination_description",
    "dws_destination_descripton",
    "dws_destination_description",
    "mrs_destination_description",
    "dli_destination_description",
    "cloudtable_destination_descripton",
    "cloudtable_destination_description",
)


class TaskDetail(TransferTask):
    """One dump task as shown by `GET .../transfer-tasks/{task_name}`, with partitions and destination."""

    stream_name: str | None = None
    stream_id: str | None = None
    partitions: list[Partition] = Field(default_factory=list)
    destination: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _collect_destination(cls, data: Any) -> Any:
        # The destination block's key depends on the type and is misspelt in some docs; keep whichever came.
        if isinstance(data, dict) and "destination" not in data:
            for key in _DESTINATION_KEYS:
                if isinstance(data.get(key), dict):
                    data = {**data, "destination": data[key]}
                    break
        return data


_TASKS: TypeAdapter[list[TransferTask]] = TypeAdapter(list[TransferTask])


class TaskList(_Model):
    """The normalized answer for one stream: what `dis-bot tasks --json` prints."""

    stream: str
    total_number: int = 0
    quota: int | None = None
    tasks: list[TransferTask] = Field(default_factory=list)
    #: When this snapshot was read from DIS (epoch seconds); not part of the JSON contract.
    fetched_at: float = Field(default_factory=time.time, exclude=True)

    @classmethod
    def from_api(cls, stream: str, body: dict[str, Any], fetched_at: float | None = None) -> TaskList:
        """Parse a list response in the current (`tasks`) or legacy (`details`) shape."""
        raw = body.get("tasks")
        if raw is None:
            raw = body.get("details") or []
        tasks = _TASKS.validate_python([t for t in raw if isinstance(t, dict)])  # one call for the whole list
        total = body.get("total_number")
        return cls(
            stream=stream,
            total_number=int(total) if isinstance(total, int | str) and str(total).isdigit() else len(tasks),
            quota=body.get("quota") if isinstance(body.get("quota"), int) else None,
            tasks=tasks,
            fetched_at=fetched_at if fetched_at is not None else time.time(),
        )

    def sorted_tasks(self) -> list[TransferTask]:
        """Problem states first, then by name."""
        return sorted(self.tasks, key=lambda t: (state_rank(t.state), t.task_name))

    def counts(self) -> dict[str, int]:
        """Number of tasks per state, in display order."""
        out: dict[str, int] = {}
        for task in self.sorted_tasks():
            out[task.state] = out.get(task.state, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        """The contract of `dis-bot tasks --json`."""
        return {
            "stream": self.stream,
            "total_number": self.total_number,
            "quota": self.quota,
            "tasks": [
                {
                    "task_id": t.task_id,
                    "task_name": t.task_name,
                    "state": t.state,
                    "destination_type": t.destination_type,
                    "create_time": t.create_time,
                    "last_transfer_timestamp": t.last_transfer_timestamp,
                }
                for t in self.sorted_tasks()
            ],
        }


class StreamInfo(_Model):
    """One entry of `GET /v2/{project_id}/streams` (`stream_info_list`), or just a name."""

    stream_name: str
    stream_id: str | None = None
    status: str | None = None
    stream_type: str | None = None
    partition_count: int | None = None
    create_time: EpochMs = None


def parse_sequence_range(value: Any) -> tuple[int | None, int | None]:
    """`"[first : last]"` as DIS sends a partition's `sequence_number_range`: a string, spaces optional, either side
    possibly missing or `null`; also a two-item list. Unreadable sides are None."""
    if isinstance(value, list | tuple) and len(value) == 2:
        sides: list[Any] = list(value)
    elif isinstance(value, str):
        sides = value.strip().strip("[]").split(":", 1)
        if len(sides) == 1:
            sides.append(None)
    else:
        return None, None
    return _sequence(sides[0]), _sequence(sides[1])


def _sequence(side: Any) -> int | None:
    text = str(side).strip() if side is not None else ""
    try:
        number = int(text)
    except ValueError:
        return None
    return number if number >= 0 else None


class StreamPartition(_Model):
    """One partition of `GET /v2/{project_id}/streams/{stream_name}`: its id and the sequence numbers it holds."""

    partition_id: PartitionId = Field(validation_alias=AliasChoices("partition_id", "partitionId"))
    status: str | None = None
    #: Kept as sent (a string, a list, anything): `parse_sequence_range` reads what it can.
    sequence_number_range: Any = None

    @property
    def first_sequence(self) -> int | None:
        return parse_sequence_range(self.sequence_number_range)[0]

    @property
    def last_sequence(self) -> int | None:
        """The newest sequence number the partition holds (None when unknown)."""
        return parse_sequence_range(self.sequence_number_range)[1]


class StreamDetail(_Model):
    """A stream as described by `GET /v2/{project_id}/streams/{stream_name}`, every partition page joined.

    `retention_period` is in hours (24 by default); None when DIS left it out.
    """

    stream_name: str
    stream_id: str | None = None
    status: str | None = None
    retention_period: int | None = None
    partitions: list[StreamPartition] = Field(default_factory=list)
    has_more_partitions: bool = False

    @field_validator("retention_period", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> Any:
        try:
            hours = int(value)
        except (TypeError, ValueError):
            return None
        return hours if hours > 0 else None
