"""Pure transition logic: open problems + a fresh task list -> events for one channel."""

from __future__ import annotations

from bot.dis.models import TransferTask
from bot.watcher.transitions import DELETED, Change, task_events


def tasks(**states: str) -> list[TransferTask]:
    return [TransferTask(task_name=name, state=state) for name, state in states.items()]


def test_entering_error_or_abnormal_is_new() -> None:
    """A task that turns ERROR or ABNORMAL from any other state is a new problem."""
    events = task_events({}, tasks(a="ERROR", b="ABNORMAL", c="RUNNING"), {"a": "RUNNING", "b": "STARTING"})
    assert [(e.change, e.task_name, e.state, e.previous_state) for e in events] == [
        (Change.NEW, "a", "ERROR", "RUNNING"),
        (Change.NEW, "b", "ABNORMAL", "STARTING"),
    ]


def test_steady_states_raise_nothing() -> None:
    """A problem already open in the same state, and healthy tasks, produce no event."""
    assert task_events({"a": "ERROR"}, tasks(a="ERROR", b="RUNNING", c="PAUSED", d="STARTING")) == []


def test_problem_changing_state_is_changed() -> None:
    """ERROR -> ABNORMAL and ERROR -> STARTING keep the problem open but are reported as changes."""
    events = task_events({"a": "ERROR", "b": "ERROR"}, tasks(a="ABNORMAL", b="STARTING"))
    assert [(e.change, e.state) for e in events] == [(Change.CHANGED, "ABNORMAL"), (Change.CHANGED, "STARTING")]


def test_running_or_paused_recovers() -> None:
    """Back to RUNNING, or PAUSED by a person, ends the problem."""
    events = task_events({"a": "ERROR", "b": "ABNORMAL"}, tasks(a="RUNNING", b="PAUSED"))
    assert [(e.change, e.state) for e in events] == [(Change.RECOVERED, "RUNNING"), (Change.RECOVERED, "PAUSED")]


def test_gone_or_delete_state_is_deleted() -> None:
    """A task that disappeared, or is in DELETE, ends its problem as deleted."""
    events = task_events({"a": "ERROR", "b": "ERROR"}, tasks(b="DELETE"))
    assert {(e.change, e.task_name, e.state) for e in events} == {
        (Change.DELETED, "a", DELETED),
        (Change.DELETED, "b", DELETED),
    }


def test_restart_compares_with_open_problems_not_last_poll() -> None:
    """After a restart a change made while down is found; a problem alerted before is not new again."""
    events = task_events({"a": "ERROR"}, tasks(a="ERROR", b="ERROR", c="RUNNING"), {"a": "ERROR", "b": "RUNNING"})
    assert [(e.change, e.task_name) for e in events] == [(Change.NEW, "b")]


def test_recreated_task_ends_the_old_problem_and_is_judged_afresh() -> None:
    """Same name, new task_id: the old problem ends as deleted, the new task is new (or nothing if healthy)."""
    now = [TransferTask(task_name="a", task_id="new", state="ERROR"), TransferTask(task_name="b", task_id="new")]
    events = task_events({"a": "ERROR", "b": "ERROR"}, now, {"a": "ERROR", "b": "ERROR"}, {"a": "old", "b": "old"})
    assert [(e.change, e.task_name, e.state, e.previous_state) for e in events] == [
        (Change.DELETED, "a", DELETED, "ERROR"),
        (Change.NEW, "a", "ERROR", None),
        (Change.DELETED, "b", DELETED, "ERROR"),
    ]
    assert task_events({"a": "ERROR"}, now[:1], None, {"a": None}) == []


def test_unknown_state_opens_nothing_and_ends_nothing() -> None:
    """A state DIS may add later ("FROZEN") is not a problem, nor the end of one."""
    assert task_events({}, tasks(a="FROZEN"), {"a": "RUNNING"}) == []
    [event] = task_events({"a": "ERROR"}, tasks(a="FROZEN"))
    assert (event.change, event.state) == (Change.CHANGED, "FROZEN")
