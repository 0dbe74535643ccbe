"""Block builders stay inside Slack's limits for any amount of data, validated by slack_sdk's block models."""

from __future__ import annotations

import time

from bot.blocks.controls import add_share, view_of, without_share
from bot.blocks.errors import error_message
from bot.blocks.help import help_message, home_view
from bot.blocks.limits import chunk_lines
from bot.blocks.status import StreamRead, status_overview
from bot.blocks.streams import stream_list
from bot.blocks.task_detail import task_detail
from bot.blocks.tasks import task_list
from bot.dis.models import Partition, StreamInfo, TaskDetail, TaskList, TransferTask
from bot.ids import View
from tests.slack.blockkit import all_text, buttons, validate_blocks, validate_message

NOW = 1_750_000_000.0
NOW_MS = int(NOW * 1000)
LONG = "s" * 60 + "-x_9"  # 64 characters, the longest valid name


def _tasks(n: int, stream: str = "orders-prod", states: tuple[str, ...] = ("RUNNING",)) -> TaskList:
    tasks = [
        TransferTask(
            task_id=f"id{i:017d}",
            task_name=f"task-{i:03d}-" + "n" * 50,
            state=states[i % len(states)],
            destination_type="OBS",
            create_time=NOW_MS - 86_400_000,
            last_transfer_timestamp=NOW_MS - 60_000 * i,
        )
        for i in range(n)
    ]
    return TaskList(stream=stream, total_number=n, quota=500, tasks=tasks, fetched_at=NOW)


def test_two_hundred_tasks_fit_and_say_how_many_more():
    """200 tasks: at most 50 blocks, every text within limits, and the message says how to see the rest."""
    message = task_list(_tasks(200, states=("RUNNING", "ERROR", "PAUSED", "ABNORMAL")), now=NOW)
    validate_message(message)
    text = all_text(message)
    assert "Showing 1-40 of 200 tasks" in text
    assert "/dis task orders-prod TASK" in text
    assert "dis.page.next" in buttons(message)
    assert "50 :red_circle: ERROR" in text  # counts per state in the summary
    assert "quota 500" in text


def test_next_page_shows_the_rest_with_previous_button():
    """The page offset in the view moves the window; the last page has Previous but no Next."""
    message = task_list(_tasks(200), view=View("tasks", ("orders-prod",), 160), now=NOW)
    validate_message(message)
    assert "Showing 161-200 of 200" in all_text(message)
    assert set(buttons(message)) >= {"dis.page.prev", "dis.refresh"}
    assert "dis.page.next" not in buttons(message)


def test_problem_states_come_first_and_unknown_states_are_shown_raw():
    """ERROR/ABNORMAL before others; a state DIS invents later is displayed as it came, with a question mark."""
    result = TaskList(
        stream="s1",
        tasks=[
            TransferTask(task_name="ok-task", state="RUNNING"),
            TransferTask(task_name="odd-task", state="FROZEN"),
            TransferTask(task_name="bad-task", state="ERROR"),
        ],
        fetched_at=NOW,
    )
    message = task_list(result, now=NOW)
    validate_message(message)
    text = all_text(message)
    assert text.index("bad-task") < text.index("odd-task") < text.index("ok-task")
    assert ":grey_question: *odd-task* `FROZEN`" in text


def test_task_rows_use_date_tokens_with_plain_fallback_and_age():
    """Created and last transfer are <!date^...|fallback> tokens, and the age of the last transfer is shown."""
    message = task_list(_tasks(2), now=NOW)
    text = all_text(message)
    assert f"<!date^{(NOW_MS - 86_400_000) // 1000}^" in text
    assert "|2025-06-" in text  # the UTC fallback inside the token
    assert "(1 min ago)" in text


def test_longest_names_fit_everywhere():
    """64-character stream and task names fit in header, rows, buttons and details."""
    result = TaskList(
        stream=LONG, tasks=[TransferTask(task_name=LONG, task_id="x" * 19, state="ERROR")], fetched_at=NOW
    )
    validate_message(task_list(result, now=NOW))
    detail = TaskDetail(task_name=LONG, task_id="x" * 19, state="ERROR", partitions=[])
    validate_message(task_detail(detail, stream=LONG, can_act=True, now=NOW))


def test_task_detail_with_many_partitions_stays_within_limits():
    """A task with 500 partitions: problems first, the rest counted, 50 blocks at most."""
    parts = [
        Partition(
            partitionId=f"shardId-{i:010d}",
            state="ERROR" if i % 97 == 0 else "RUNNING",
            discard=i % 7,
            last_transfer_offset=i * 1000,
            last_transfer_timestamp=NOW_MS - i * 1000,
        )
        for i in range(500)
    ]
    detail = TaskDetail(
        task_name="to-obs",
        task_id="9dSu1wfCytSk1aOLxvF",
        state="ABNORMAL",
        destination_type="OBS",
        partitions=parts,
        destination={"obs_bucket_path": "bucket", "file_prefix": "p/", "deliver_time_interval": 300, "nested": {}},
    )
    message = task_detail(detail, stream="orders", now=NOW)
    validate_message(message)
    text = all_text(message)
    assert "more partitions" in text
    first_partition = next(line for line in text.splitlines() if "shardId-" in line)
    assert "ERROR" in first_partition  # problem partitions first
    assert "obs bucket path" in text and "bucket" in text
    assert "offset 97,000" in text  # thousands separators


def test_start_stop_buttons_only_when_allowed_and_with_confirm():
    """can_act=False shows no Start/Stop; can_act=True shows the ones that fit the state, each with a confirm."""
    detail = TaskDetail(task_name="t", task_id="id1", state="RUNNING")
    assert {"dis.task.start", "dis.task.stop"}.isdisjoint(buttons(task_detail(detail, stream="s", now=NOW)))
    allowed = buttons(task_detail(detail, stream="s", can_act=True, now=NOW))
    assert "dis.task.stop" in allowed and "dis.task.start" not in allowed
    assert allowed["dis.task.stop"]["confirm"]["style"] == "danger"
    paused = buttons(task_detail(TaskDetail(task_name="t", state="PAUSED"), stream="s", can_act=True, now=NOW))
    assert "dis.task.start" in paused and "confirm" in paused["dis.task.start"]


def test_action_result_replaces_the_buttons():
    """With a result, Start/Stop are gone and the result is shown."""
    detail = TaskDetail(task_name="t", task_id="id1", state="STARTING")
    message = task_detail(detail, stream="s", can_act=True, result="Start requested", now=NOW)
    validate_message(message)
    assert {"dis.task.start", "dis.task.stop"}.isdisjoint(buttons(message))
    assert "Start requested" in all_text(message)


def test_status_with_a_thousand_streams_stays_within_limits():
    """1000 streams, problems in 300 of them and 50 unreadable: under 50 blocks, counts and 'more' lines."""
    reads = []
    for i in range(1000):
        name = f"stream-{i:04d}-" + "q" * 40
        if i % 20 == 0:
            reads.append(StreamRead(name, error="DIS did not answer (tried 4 times)"))
            continue
        states = ("ERROR", "RUNNING", "ABNORMAL") if i % 3 == 0 else ("RUNNING", "PAUSED")
        reads.append(StreamRead(name, tasks=_tasks(5, stream=name, states=states)))
    message = status_overview(reads, project="p1", region="cn-north-4", now=NOW)
    validate_message(message)
    text = all_text(message)
    assert "need attention" in text
    assert "more streams with problems" in text
    assert "50 streams could not be read" in text
    assert "RUNNING" in text and "PAUSED" in text  # healthy ones counted, not listed


def test_status_lists_only_unhealthy_tasks():
    """Healthy tasks are counted; ERROR and unknown states are listed by name."""
    reads = [
        StreamRead(
            "a",
            tasks=TaskList(
                stream="a",
                tasks=[
                    TransferTask(task_name="fine", state="RUNNING"),
                    TransferTask(task_name="broken", state="ERROR"),
                    TransferTask(task_name="weird", state="FROZEN"),
                ],
            ),
        ),
        StreamRead("b", error="no longer exists"),
    ]
    message = status_overview(reads, project="p1", now=NOW)
    validate_message(message)
    text = all_text(message)
    assert "broken" in text and "weird" in text and "fine" not in text
    assert "*b*: no longer exists" in text


def test_status_all_healthy_says_so():
    """No problem: one clear line."""
    reads = [StreamRead("a", tasks=TaskList(stream="a", tasks=[TransferTask(task_name="t", state="RUNNING")]))]
    assert "Every dump task is healthy" in all_text(status_overview(reads, project="p", now=NOW))


def test_stream_list_of_a_thousand_is_paged():
    """1000 streams: one page within limits with Next."""
    streams = [StreamInfo(stream_name=f"s-{i:04d}", status="RUNNING", partition_count=3) for i in range(1000)]
    message = stream_list(streams, project="p1")
    validate_message(message)
    assert "Showing 1-100 of 1000" in all_text(message)
    assert "dis.page.next" in buttons(message)


def test_share_button_is_added_and_removed():
    """add_share puts Share next to Refresh with the same view; without_share takes it out again."""
    message = task_list(_tasks(3), now=NOW)
    shared = add_share(message)
    validate_message(shared)
    assert buttons(shared)["dis.share"]["value"] == buttons(shared)["dis.refresh"]["value"]
    assert view_of(shared) == View("tasks", ("orders-prod",))
    assert "dis.share" not in buttons(without_share(shared))
    assert add_share(help_message()) == help_message()  # nothing to share without a view


def test_help_error_and_home_are_valid():
    """Help (plain and with a suggestion), errors and the Home tab validate and carry a fallback."""
    validate_message(help_message())
    unknown = help_message("@dis-bot", unknown="taks x", suggestion="tasks x")
    validate_message(unknown)
    assert "Did you mean `@dis-bot tasks x`?" in all_text(unknown)
    validate_message(error_message("Stream `x` was not found", "Looked in project `p`."))
    view = home_view(actions_enabled=True, watching=["a", "b"])
    validate_blocks(view["blocks"], max_blocks=100)


def test_view_values_round_trip():
    """Button values decode to the view that wrote them; junk is refused."""
    view = View("task", ("s", "t"), 40)
    assert View.decode(view.encode()) == view
    for junk in ("", "[]", '{"c": 1}', '{"c": "x", "a": [1]}', '{"c": "x", "o": -1}'):
        try:
            View.decode(junk)
        except ValueError:
            continue
        raise AssertionError(f"accepted {junk!r}")


def test_builders_do_not_read_the_clock_for_data():
    """Builders given `now` produce the same message twice (pure: no I/O, no hidden state)."""
    result = _tasks(5)
    assert task_list(result, now=NOW) == task_list(result, now=NOW)
    assert time.time() > NOW  # sanity: the pinned clock is in the past


def test_chunk_lines_packs_whole_lines_within_the_limit():
    """Lines are joined up to the limit, never split; an over-long line is cut with an ellipsis."""
    assert chunk_lines(["aaaa", "bbbb", "cccc"], limit=9) == ["aaaa\nbbbb", "cccc"]
    assert chunk_lines(["x" * 20, "y"], limit=10) == ["x" * 9 + "…", "y"]
    assert chunk_lines([]) == []
    texts = chunk_lines([f"line {i:04d} " + "z" * 80 for i in range(500)])
    assert all(len(t) <= 3000 for t in texts)
    assert sum(t.count("\n") + 1 for t in texts) == 500


def test_unknown_words_are_escaped_in_the_fallback_too():
    """Typed `<!channel>` (Slack's escape of @channel) never reaches the message unescaped, blocks or fallback."""
    message = help_message("@dis-bot", unknown="<!channel> please", suggestion=None)
    validate_message(message)
    assert "<!channel>" not in message.text and "&lt;!channel&gt;" in message.text
    assert "<!channel>" not in all_text(message)
