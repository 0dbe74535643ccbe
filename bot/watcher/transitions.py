"""Pure transition logic: what one channel should hear about one stream after a poll.

The input is what the channel already knows (its open problems: task name -> state recorded on the
episode) and the fresh task list; the output is a list of events. Comparing against open problems rather
than against the previous poll is what makes restarts safe: a problem alerted before the restart is still
open, so it is not alerted again; a change that happened while the bot was down differs from the open
problems, so it is found on the first poll.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.dis.models import TaskState, TransferTask, is_problem

#: States that end a problem: the task is healthy again, or a person paused it on purpose.
RECOVERED_STATES: frozenset[str] = frozenset({TaskState.RUNNING, TaskState.PAUSED})

#: The end state recorded when a task disappeared (or is being deleted).
DELETED = "DELETED"


class Change(StrEnum):
    NEW = "new"  # entered ERROR/ABNORMAL (or was already bad when first seen)
    CHANGED = "changed"  # still a problem, but its state moved (ERROR -> ABNORMAL, ERROR -> STARTING)
    RECOVERED = "recovered"  # RUNNING again, or PAUSED by a person
    DELETED = "deleted"  # the task is gone (or in DELETE)


@dataclass(frozen=True)
class Event:
    """One thing a channel should know about one task.

    Attributes:
        change: what happened.
        task_name: the task.
        state: the state now (`DELETED` when the task is gone).
        previous_state: the state at the last poll (None when unknown).
        task: the task as listed now (None when it is gone).
    """

    change: Change
    task_name: str
    state: str
    previous_state: str | None = None
    task: TransferTask | None = None


def same_task(a: str | None, b: str | None) -> bool:
    """Whether two task ids name the same task (an unknown id is taken as the same: DIS may omit it)."""
    return a is None or b is None or a == b


def task_events(
    open_problems: Mapping[str, str],
    tasks: Sequence[TransferTask],
    previous: Mapping[str, str] | None = None,
    open_ids: Mapping[str, str | None] | None = None,
) -> list[Event]:
    """Events for one channel from its open problems and the fresh task list.

    Args:
        open_problems: task name -> state recorded on the channel's open episode.
        tasks: the stream's tasks as just listed.
        previous: task name -> state at the last poll (only to say where a problem came from).
        open_ids: task name -> task_id recorded on the open episode. A task listed under the same name
            with another id was deleted and re-created: its old problem ends as deleted, and the new task
            is judged afresh (a new problem if it is bad).

    Steady states raise nothing: a task still in the state recorded on its episode, and a healthy task
    with no open problem, produce no event. A task between problem and health (STARTING, or a state DIS
    may add later, e.g. "FROZEN") keeps its problem open; such a state alone never opens one.
    """
    previous = previous or {}
    open_ids = open_ids or {}
    events: list[Event] = []
    seen: set[str] = set()
    for task in tasks:
        name = task.task_name
        seen.add(name)
        state = task.state
        recorded = open_problems.get(name)
        before = previous.get(name)
        if recorded is not None and not same_task(open_ids.get(name), task.task_id):
            events.append(Event(Change.DELETED, name, DELETED, before, None))
            recorded, before = None, None
        if recorded is None:
            if is_problem(state):
                events.append(Event(Change.NEW, name, state, before, task))
            continue
        if state in RECOVERED_STATES:
            events.append(Event(Change.RECOVERED, name, state, before, task))
        elif state == TaskState.DELETE:
            events.append(Event(Change.DELETED, name, DELETED, before, task))
        elif state != recorded:
            events.append(Event(Change.CHANGED, name, state, before, task))
    for name in open_problems:
        if name not in seen:
            events.append(Event(Change.DELETED, name, DELETED, previous.get(name), None))
    return events
