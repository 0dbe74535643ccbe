"""The watcher: polls watched streams, alerts Slack when a dump task turns ERROR or ABNORMAL or fails silently
(stalled, failed partitions, discarding), and follows each problem until it ends (update in place, thread
replies, reminders, acknowledge, snooze).

    Watcher (watcher.py)       the loop: cycles, start/stop, stream discovery for `*`, which tasks to deep-read
    ├── poll results → AlertEngine (engine.py)   pure-ish bookkeeping on the Store, one transaction each
    │       ├── transitions.py                 pure: open problems + new task list -> events
    │       └── silent.py                      pure: one deep read + open silent problems -> decisions
    └── OutboxSender (outbox.py)               delivers queued Slack calls: per-channel rate, retries
"""

from __future__ import annotations

from typing import Any

__all__ = ["AlertEngine", "OutboxSender", "Watcher", "parse_dis_watch"]


def __getattr__(name: str) -> Any:
    # Lazy, so `bot.watcher.config` can be imported without pulling in Slack and the store.
    if name == "Watcher":
        from bot.watcher.watcher import Watcher

        return Watcher
    if name == "AlertEngine":
        from bot.watcher.engine import AlertEngine

        return AlertEngine
    if name == "OutboxSender":
        from bot.watcher.outbox import OutboxSender

        return OutboxSender
    if name == "parse_dis_watch":
        from bot.watcher.config import parse_dis_watch

        return parse_dis_watch
    raise AttributeError(name)
