"""Silent failures through the real slash command path (signed requests, answers at the response_url), against the
simulator: stalled tasks, failed partitions, discarded records and retention in `/dis tasks`, `/dis status` and
`/dis task`, and what each costs in DIS calls."""

from __future__ import annotations

import asyncio
import re

from bot.dis.simulator import DisSimulator, SimTask
from tests.slack.blockkit import all_text, validate_message
from tests.slack.conftest import SlackBot

MINUTE = 60.0
HOUR = 3600.0


def describes(sim: DisSimulator, stream: str | None = None) -> int:
    """Stream descriptions asked for (all streams, or one)."""
    base = f"/v2/{sim.project_id}/streams/"
    return sum(
        n
        for key, n in sim.counts.items()
        if (path := key.partition(" ")[2]).startswith(base)
        and "/" not in path[len(base) :]
        and (stream is None or path == base + stream)
    )


def shows(sim: DisSimulator) -> int:
    """Task details asked for."""
    return sum(n for key, n in sim.counts.items() if re.search(r"/transfer-tasks/(?!action)[^/]+$", key))


def stalled_stream(sim: DisSimulator, name: str = "orders", *, ago: float = 47 * MINUTE) -> None:
    """`name` with `stuck` (RUNNING, nothing sent for `ago` s, 12,340 waiting) and `fine` (caught up)."""
    sim.add_stream(name, [SimTask("fine"), SimTask("stuck")], partitions=2)
    sim.stall(name, "stuck", ago=ago)
    sim.produce(name, 12_340)
    sim.flow()


async def ask(bot: SlackBot, text: str) -> str:
    answer = await bot.answer(await bot.command(text), timeout=10)
    validate_message(answer.payload)
    return all_text(answer.payload)


async def test_tasks_marks_a_stalled_task(bot: SlackBot) -> None:
    """`/dis tasks` marks the stalled task "⏳ stalled 47 min, 12,340 waiting", lists it first, and leaves the
    task that keeps up unmarked."""
    stalled_stream(bot.sim)
    text = await ask(bot, "tasks orders")
    assert "⏳ stalled 47 min, 12,340 waiting" in text
    assert text.index("*stuck*") < text.index("*fine*")
    assert text.count("stalled") == 2  # the mark and the summary line ("1 stalled"), nothing for `fine`
    assert "Failing silently: 1 stalled" in text
    assert "Needs attention: stuck" in text  # the plain-text fallback says it too


async def test_tasks_reads_deeply_only_the_tasks_that_may_be_stalled(bot: SlackBot) -> None:
    """Only the RUNNING task whose listed last transfer is old costs deep reads: one stream description and its
    details; the task that transferred recently and a PAUSED one cost nothing more."""
    stalled_stream(bot.sim)
    bot.sim.add_task("orders", SimTask("parked", state="PAUSED"))
    bot.sim.set_last_transfer("orders", "parked", ago=9 * 24 * HOUR)
    bot.sim.reset_counts()
    await ask(bot, "tasks orders")
    assert describes(bot.sim) == 1 and shows(bot.sim) == 1 and bot.sim.count() == 3


async def test_tasks_of_a_healthy_stream_cost_one_call(bot: SlackBot) -> None:
    """A stream whose tasks all transferred recently is answered from its list alone, unmarked."""
    bot.sim.add_stream("orders", [SimTask("a"), SimTask("b")], partitions=2)
    bot.sim.produce("orders", 100)
    bot.sim.flow()
    text = await ask(bot, "tasks orders")
    assert bot.sim.count() == 1 and "stalled" not in text and "Failing silently" not in text


async def test_an_idle_task_is_not_stalled(bot: SlackBot) -> None:
    """A RUNNING task that sent nothing for hours because nothing arrived is read, found idle, and not marked."""
    bot.sim.add_stream("quiet", [SimTask("to-obs")], partitions=2)
    bot.sim.set_last_transfer("quiet", "to-obs", ago=5 * HOUR)
    text = await ask(bot, "tasks quiet")
    assert shows(bot.sim) == 1 and "stalled" not in text and "lost" not in text


async def test_tasks_marks_failed_partitions(bot: SlackBot) -> None:
    """A RUNNING task with two of its eight partitions in ERROR is marked "2 of 8 partitions ERROR"."""
    bot.sim.add_stream("orders", [SimTask("to-obs")], partitions=8)
    bot.sim.fail_partition("orders", "to-obs", 2)
    bot.sim.fail_partition("orders", "to-obs", 5)
    bot.sim.set_last_transfer("orders", "to-obs", ago=40 * MINUTE)
    text = await ask(bot, "tasks orders")
    assert ":warning: 2 of 8 partitions ERROR" in text and "Failing silently: 1 with failed partitions" in text
    assert "`RUNNING`" in text  # the task's own state still says it is fine


async def test_failed_partition_of_a_moving_task_shows_once_its_details_were_read(bot: SlackBot) -> None:
    """A task still sending on seven partitions is not deep-read by `/dis tasks`; once `/dis task` read its
    details, `/dis tasks` marks the failed partition from the cache without another call."""
    bot.sim.add_stream("orders", [SimTask("to-obs")], partitions=8)
    bot.sim.fail_partition("orders", "to-obs", 3)
    bot.sim.produce("orders", 800)
    bot.sim.flow()
    assert "partitions ERROR" not in await ask(bot, "tasks orders")
    await ask(bot, "task orders to-obs")
    bot.sim.reset_counts()
    text = await ask(bot, "tasks orders")
    assert ":warning: 1 of 8 partitions ERROR" in text
    assert shows(bot.sim) == 0 and describes(bot.sim) == 0


async def test_tasks_warns_before_retention_drops_unsent_records(bot: SlackBot) -> None:
    """Stalled for 19 hours on a 24-hour stream: "unsent records start to be lost in about 5 h"."""
    stalled_stream(bot.sim, ago=19 * HOUR)
    text = await ask(bot, "tasks orders")
    assert "unsent records start to be lost in about 5 h" in text and "stalled 19 h" in text


async def test_tasks_says_when_unsent_records_are_being_lost(bot: SlackBot) -> None:
    """Stalled for longer than the stream keeps records: "unsent records are being lost"."""
    stalled_stream(bot.sim, ago=25 * HOUR)
    assert "unsent records are being lost" in await ask(bot, "tasks orders")


async def test_no_retention_warning_with_time_to_spare(bot: SlackBot) -> None:
    """Stalled 47 minutes on a 24-hour stream: stalled, but no retention warning yet."""
    stalled_stream(bot.sim)
    assert "lost" not in await ask(bot, "tasks orders")


async def test_stall_threshold_is_the_setting(make_bot) -> None:
    """WATCH_STALL_MINUTES=0.5 marks a task quiet for a minute; with 90 it is not even read deeply, and 0 turns
    the check and its deep reads off."""
    for minutes, marked, deep in (("0.5", True, True), ("90", False, False), ("0", False, False)):
        bot = await make_bot(WATCH_STALL_MINUTES=minutes)
        name = f"s{minutes.replace('.', '')}"
        stalled_stream(bot.sim, name, ago=MINUTE)
        bot.sim.reset_counts()
        text = await ask(bot, f"tasks {name}")
        assert ("⏳ stalled 1 min, 12,340 waiting" in text) is marked, minutes
        assert (shows(bot.sim) > 0) is deep, minutes


async def test_a_failed_deep_read_still_answers_with_the_list(bot: SlackBot) -> None:
    """When DIS refuses the task's details, `/dis tasks` still lists every task, just without the mark."""
    stalled_stream(bot.sim)
    bot.sim.fail_next(50, status=503, path="/transfer-tasks/stuck")
    text = await ask(bot, "tasks orders")
    assert "*stuck*" in text and "*fine*" in text and "⏳" not in text


async def test_a_failed_stream_description_keeps_failed_partitions(bot: SlackBot) -> None:
    """When only the stream description fails, backlogs are unknown (no stall mark) but failed partitions show."""
    bot.sim.add_stream("orders", [SimTask("to-obs")], partitions=4)
    bot.sim.fail_partition("orders", "to-obs", 1)
    bot.sim.stall("orders", "to-obs", ago=HOUR)
    bot.sim.produce("orders", 400)
    bot.sim.fail_next(50, status=503, path=f"/v2/{bot.sim.project_id}/streams/orders", exact=True)
    text = await ask(bot, "tasks orders")
    assert "1 of 4 partitions ERROR" in text and "⏳" not in text


async def test_status_counts_silent_failures_among_those_needing_attention(bot: SlackBot) -> None:
    """`/dis status` lists the stalled task and the task with failed partitions with their marks and counts them
    with the ERROR task (3 need attention); the healthy stream costs no deep read."""
    stalled_stream(bot.sim, "a")
    bot.sim.add_stream("b", [SimTask("b-parts"), SimTask("b-err", state="ERROR")], partitions=8)
    for index in (0, 7):
        bot.sim.fail_partition("b", "b-parts", index)
    bot.sim.set_last_transfer("b", "b-parts", ago=HOUR)
    bot.sim.add_stream("c", [SimTask("c-ok")])
    bot.sim.reset_counts()
    text = await ask(bot, "status")
    assert "3 tasks need attention" in text and "2 streams" in text
    assert "*stuck*" in text and "⏳ stalled 47 min, 12,340 waiting" in text
    assert "*b-parts*" in text and "2 of 8 partitions ERROR" in text and "*b-err*" in text
    assert "*fine*" not in text and "c-ok" not in text
    assert "Failing silently: 1 stalled · 1 with failed partitions" in text
    assert describes(bot.sim, "c") == 0 and describes(bot.sim) == 2 and shows(bot.sim) == 2


async def test_status_with_only_healthy_tasks_makes_no_deep_reads(bot: SlackBot) -> None:
    """A project whose RUNNING tasks all transferred recently: status reads the lists only."""
    for name in ("a", "b", "c"):
        bot.sim.add_stream(name, [SimTask(f"{name}-1"), SimTask(f"{name}-2")], partitions=2)
    text = await ask(bot, "status")
    assert "Every dump task is healthy" in text
    assert describes(bot.sim) == 0 and shows(bot.sim) == 0 and bot.sim.count() == 4


async def test_task_shows_backlog_last_transfer_discards_and_retention(bot: SlackBot) -> None:
    """`/dis task` shows each partition's backlog, last transfer as a date token and discarded records, the
    stream's retention, and lists the failed and waiting partitions first."""
    bot.sim.add_stream("orders", [SimTask("to-obs")], partitions=4, retention_period=48)
    bot.sim.produce("orders", 400)
    bot.sim.flow()
    bot.sim.fail_partition("orders", "to-obs", 3)
    bot.sim.discard("orders", "to-obs", 1234, partition=0)
    bot.sim.produce("orders", 70, partition=1)
    bot.sim.produce("orders", 30, partition=3)
    text = await ask(bot, "task orders to-obs")
    assert "*Stream retention*\n48 h" in text and "*Waiting records*\n100" in text
    assert "1,234 discarded" in text and "*70 waiting*" in text and "nothing waiting" in text
    assert re.search(r"last transfer <!date\^\d+\^", text)
    lines = [line for line in text.splitlines() if "`shardId-" in line]
    assert [line.split("`")[1][-1] for line in lines] == ["3", "1", "0", "2"]
    assert "*30 waiting*" in lines[0] and "ERROR" in lines[0]


async def test_task_marks_a_stalled_task_and_its_retention(bot: SlackBot) -> None:
    """`/dis task` on a task stalled for 20 hours says so, with the records waiting and the time left."""
    stalled_stream(bot.sim, ago=20 * HOUR)
    text = await ask(bot, "task orders stuck")
    assert "⏳ stalled 20 h, 12,340 waiting" in text and "unsent records start to be lost in about 4 h" in text


async def test_task_without_the_stream_description_still_answers(bot: SlackBot) -> None:
    """If only the stream description fails, `/dis task` shows the details with the backlog unknown."""
    bot.sim.add_stream("orders", [SimTask("to-obs")], partitions=2)
    bot.sim.fail_next(50, status=503, path=f"/v2/{bot.sim.project_id}/streams/orders", exact=True)
    text = await ask(bot, "task orders to-obs")
    assert "orders / to-obs" in text and "*Waiting records*\nunknown" in text


async def test_task_with_many_partitions_stays_within_limits(bot: SlackBot) -> None:
    """A task with 1000 partitions, some failed and some waiting, fits one valid message and says how many
    partitions it left out."""
    bot.sim.add_stream("wide", [SimTask("to-obs")], partitions=1000)
    bot.sim.produce("wide", 100_000)
    for index in range(0, 1000, 7):
        bot.sim.fail_partition("wide", "to-obs", index)
    bot.sim.flow()
    bot.sim.produce("wide", 10_000)
    text = await ask(bot, "task wide to-obs")  # `ask` validates the message against Slack's limits
    assert "more partitions (problems, backlogs and oldest transfers first)" in text
    assert "143 with problems" in text


async def test_concurrent_questions_share_one_deep_read(bot: SlackBot) -> None:
    """Ten people asking `/dis tasks` about a stalled task at once cost one list, one description and one detail
    read: deep reads go through the same cache and single flight as the list."""

    stalled_stream(bot.sim)
    bot.sim.latency = 0.05  # keeps the first reads in flight while the other questions arrive
    bot.sim.reset_counts()
    sent = await asyncio.gather(*(bot.command("tasks orders") for _ in range(10)))
    answers = await asyncio.gather(*(bot.answer(s, timeout=10) for s in sent))
    assert all("⏳ stalled 47 min, 12,340 waiting" in all_text(a.payload) for a in answers)
    assert describes(bot.sim) == 1 and shows(bot.sim) == 1 and bot.sim.count() == 3
