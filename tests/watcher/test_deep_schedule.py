"""Deep-read slots (bot/watcher/watcher.py): each stream's slot comes round once per WATCH_DEEP_INTERVAL_SECONDS,
and 1,000 streams are spread over the interval, never read in one burst."""

from __future__ import annotations

from collections import Counter

from bot.watcher.watcher import _slot_passed

INTERVAL = 900.0
CYCLE = 60.0


def test_every_stream_gets_one_slot_per_interval_spread_over_the_cycles() -> None:
    """Over one interval of 60 s cycles each of 1,000 streams is due exactly once, about 67 a cycle."""
    streams = [f"stream-{i:04d}" for i in range(1000)]
    start = 1_700_000_000.0
    per_cycle: Counter[int] = Counter()
    per_stream: Counter[str] = Counter()
    for n in range(15):
        before, now = start + n * CYCLE, start + (n + 1) * CYCLE
        for stream in streams:
            if _slot_passed(stream, before, now, INTERVAL):
                per_cycle[n] += 1
                per_stream[stream] += 1
    assert set(per_stream.values()) == {1} and len(per_stream) == 1000
    assert max(per_cycle.values()) <= 100 and min(per_cycle.values()) >= 40


def test_a_late_cycle_catches_up_the_slots_it_stepped_over() -> None:
    """A cycle that comes late reads the streams whose slots passed meanwhile, once."""
    streams = [f"s{i}" for i in range(200)]
    start = 1_700_000_000.0
    due = [s for s in streams if _slot_passed(s, start, start + 3 * CYCLE, INTERVAL)]
    stepwise = [
        s for s in streams for n in range(3) if _slot_passed(s, start + n * CYCLE, start + (n + 1) * CYCLE, INTERVAL)
    ]
    assert sorted(due) == sorted(stepwise)
