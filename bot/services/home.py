"""What the App Home tab shows, read from the watcher's store: no DIS call, so opening the tab is instant.

`collect_overview` turns the store's subscriptions, last known task states, stream health and open alerts into
a `HomeOverview`; `bot.blocks.home.home_view` draws it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.dis.models import PROBLEM_STATES, state_rank
from bot.store.base import ALL_STREAMS, KIND_BLIND, Store


@dataclass(frozen=True)
class StreamRow:
    """One watched stream.

    Attributes:
        stream: its name.
        channels: channels that watch it by name (channels watching every stream are listed once, elsewhere).
        counts: tasks per state as of the last read.
        last_read_at: epoch seconds of the last successful read, None if unknown.
        unreadable: the error of the failing reads, when the last polls failed.
        failing_since: epoch seconds of the first failed read in a row.
    """

    stream: str
    channels: tuple[str, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    last_read_at: float | None = None
    unreadable: str | None = None
    failing_since: float | None = None

    @property
    def problems(self) -> int:
        return sum(n for state, n in self.counts.items() if state in PROBLEM_STATES)


@dataclass(frozen=True)
class ProblemRow:
    """One open problem an alert announces: a task in a bad state, or the stream itself (`task == ""`)."""

    stream: str
    task: str
    state: str


@dataclass(frozen=True)
class AlertRow:
    """An open alert message and what it is about."""

    channel_id: str
    ts: str | None
    kind: str
    problems: tuple[ProblemRow, ...]
    started_at: float
    acked_by: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class HomeOverview:
    """Everything the Home tab shows."""

    streams: list[StreamRow] = field(default_factory=list)
    alerts: list[AlertRow] = field(default_factory=list)
    wildcard_channels: tuple[str, ...] = ()
    project_id: str | None = None
    region: str | None = None

    @property
    def watching(self) -> bool:
        return bool(self.streams or self.wildcard_channels)


async def collect_overview(
    store: Store,
    *,
    last_reads: Mapping[str, float] | None = None,
    project_id: str | None = None,
    region: str | None = None,
) -> HomeOverview:
    """Read the store into a `HomeOverview`.

    Args:
        store: the watcher's store.
        last_reads: epoch seconds of each stream's last successful read (the watcher's record).
        project_id, region: shown in the tab's context line.
    """
    last_reads = last_reads or {}
    subs = await store.subscriptions()
    wildcard = tuple(sorted({s.channel_id for s in subs if s.stream == ALL_STREAMS}))
    channels: dict[str, set[str]] = {}
    for sub in subs:
        if sub.stream != ALL_STREAMS:
            channels.setdefault(sub.stream, set()).add(sub.channel_id)
    states = await store.task_states()
    health = await store.stream_health()
    names = set(channels)
    if wildcard:  # every stream the watcher has read or tried to read
        names |= set(states) | set(health) | set(last_reads)
    streams = []
    for name in names:
        bad = health.get(name)
        streams.append(
            StreamRow(
                stream=name,
                channels=tuple(sorted(channels.get(name, ()))),
                counts=dict(Counter(t.state for t in states.get(name, {}).values())),
                last_read_at=last_reads.get(name),
                unreadable=(bad.error_kind or bad.error or "read failed") if bad and bad.failures else None,
                failing_since=bad.first_failure_at if bad and bad.failures else None,
            )
        )

    alerts = []
    for alert in await store.open_alerts():
        episodes = [e for e in await store.episodes_for_alert(alert.id) if e.is_open]
        if not episodes:
            continue
        alerts.append(
            AlertRow(
                channel_id=alert.channel_id,
                ts=alert.ts,
                kind=alert.kind,
                problems=tuple(
                    ProblemRow(e.stream, e.task_name, e.state or e.problem_state)
                    for e in sorted(episodes, key=lambda e: (e.stream, e.task_name))
                ),
                started_at=min(e.started_at for e in episodes),
                acked_by=alert.acked_by,
                reason=next((e.reason for e in episodes if e.kind == KIND_BLIND and e.reason), None),
            )
        )
    alerts.sort(key=lambda a: (a.acked_by is not None, a.started_at))
    return HomeOverview(
        streams=sort_streams(streams),
        alerts=alerts,
        wildcard_channels=wildcard,
        project_id=project_id,
        region=region,
    )


def sort_streams(streams: list[StreamRow]) -> list[StreamRow]:
    """Unreadable streams first, then those with failing tasks (worst state first), then by name."""

    def key(row: StreamRow) -> tuple[int, int, int, str]:
        worst = min((state_rank(s) for s, n in row.counts.items() if n), default=99)
        return (0 if row.unreadable else 1, 0 if row.problems else 1, worst, row.stream)

    return sorted(streams, key=key)
