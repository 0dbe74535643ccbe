"""Slash commands through the real HTTP endpoint: ack at once, answer via response_url, errors in words."""

from __future__ import annotations

from bot.dis.simulator import SimTask
from tests.slack.blockkit import all_text, buttons, validate_message
from tests.slack.conftest import ALICE, CHANNEL


async def test_tasks_command_acks_then_answers_ephemerally(bot):
    """`/dis tasks STREAM` gets an empty 200 and then the task list, ephemeral, with a Share button."""
    bot.sim.add_stream("orders-prod", [SimTask("to-obs"), SimTask("to-dli", state="ERROR")])
    sent = await bot.command("tasks orders-prod")
    assert sent.response.status_code == 200
    assert sent.response.text == ""
    answer = await bot.answer(sent)
    assert answer.payload["response_type"] == "ephemeral"
    validate_message(answer.payload)
    text = all_text(answer.payload)
    assert "Dump tasks of orders-prod" in text
    assert text.index("to-dli") < text.index("to-obs")  # problems first
    assert {"dis.refresh", "dis.share", "dis.details"} <= set(buttons(answer.payload))


async def test_ack_does_not_wait_for_a_slow_dis(make_bot):
    """With DIS taking 10 s, a command, a Refresh click and a mention get Slack's 200 well inside 3 s."""
    import asyncio
    import time

    from bot.ids import View

    bot = await make_bot(DIS_TIMEOUT_SECONDS="20")
    bot.sim.add_stream("slow", [SimTask("to-obs")])
    bot.sim.latency = 10.0
    command, click, mention = await asyncio.gather(
        bot.command("tasks slow"),
        bot.click("dis.refresh", View("tasks", ("slow",)).encode()),
        bot.mention("tasks slow"),
    )
    acked_at = time.monotonic()
    for sent in (command, click, mention):
        assert sent.response.status_code == 200 and sent.response.text == ""
        assert sent.elapsed < 2.0, f"ack took {sent.elapsed:.2f} s"
    for sent in (command, click):
        answer = await bot.answer(sent, timeout=20)
        assert "to-obs" in all_text(answer.payload)
        assert answer.at - acked_at >= 9.0  # the answer waited for DIS, the ack did not
    [post] = await bot.fake.wait_for("chat.postMessage", timeout=20)
    assert "to-obs" in all_text(post.payload)


async def test_answer_comes_as_an_ephemeral_message_when_the_response_url_is_refused(bot):
    """If Slack refuses the command's response_url, the answer is posted with chat.postEphemeral to the user."""
    bot.sim.add_stream("orders", [SimTask("to-obs")])
    url = bot.fake.response_url()
    bot.fake.expire_response_url(url.rsplit("/", 1)[1])
    await bot.command("tasks orders", response_url=url)
    [post] = await bot.fake.wait_for("chat.postEphemeral")
    assert (post.payload["channel"], post.payload["user"]) == (CHANNEL, ALICE)
    assert "to-obs" in all_text(post.payload) and "dis.share" in buttons(post.payload)


async def test_task_command_shows_partitions_and_destination(bot):
    """`/dis task STREAM TASK` shows state, partitions with offsets and discards, destination, last transfer."""
    bot.sim.add_stream("orders", [SimTask("to-obs", state="ABNORMAL")], partitions=3)
    bot.sim.set_partition("orders", "to-obs", 1, state="ERROR", discard=42, last_transfer_offset=1234)
    answer = await bot.answer(await bot.command("task orders to-obs"))
    validate_message(answer.payload)
    text = all_text(answer.payload)
    assert "orders / to-obs" in text
    assert "ABNORMAL" in text and "42 discarded" in text and "offset 1,234" in text
    assert "Destination" in text and "OBS" in text
    assert "dis.task.start" not in buttons(answer.payload)  # actions are off by default


async def test_streams_command_lists_streams(bot):
    """`/dis streams` lists the project's streams."""
    bot.sim.add_stream("alpha", partitions=2)
    bot.sim.add_stream("beta")
    answer = await bot.answer(await bot.command("streams"))
    validate_message(answer.payload)
    text = all_text(answer.payload)
    assert "*alpha*" in text and "*beta*" in text and "2 partitions" in text


async def test_status_lists_problems_counts_the_rest_and_survives_a_broken_stream(bot):
    """`/dis status` lists unhealthy tasks by stream, counts healthy ones, and shows a failing stream as a line."""
    bot.sim.add_stream("a", [SimTask("a-ok"), SimTask("a-bad", state="ERROR")])
    bot.sim.add_stream("b", [SimTask("b-ok"), SimTask("b-paused", state="PAUSED")])
    bot.sim.add_stream("c", [SimTask("c-ok")])
    bot.sim.fail_next(20, status=503, path="/streams/c/transfer-tasks")
    answer = await bot.answer(await bot.command("status"), timeout=10)
    validate_message(answer.payload)
    text = all_text(answer.payload)
    assert "a-bad" in text and "a-ok" not in text and "b-paused" not in text
    assert "1 task need attention" in text
    assert "*c*: DIS did not answer (tried 4 times)" in text
    assert "PAUSED" in text  # counted


async def test_help_for_empty_text_and_help(bot):
    """Empty text and `help` both answer the command list."""
    for text in ("", "help"):
        answer = await bot.answer(await bot.command(text))
        validate_message(answer.payload)
        assert "/dis tasks STREAM" in all_text(answer.payload)


async def test_unknown_command_suggests_the_closest(bot):
    """A typo gets help with the closest command; a bare stream name suggests `tasks NAME`."""
    answer = await bot.answer(await bot.command("taks orders"))
    assert "Did you mean `/dis tasks orders`?" in all_text(answer.payload)
    answer = await bot.answer(await bot.command("orders-prod"))
    assert "Did you mean `/dis tasks orders-prod`?" in all_text(answer.payload)


async def test_wrong_arguments_get_usage(bot):
    """`/dis tasks` without a stream explains the usage."""
    answer = await bot.answer(await bot.command("tasks"))
    assert "Usage: `/dis tasks STREAM`" in all_text(answer.payload)


async def test_stream_not_found_names_stream_project_and_region(bot):
    """A missing stream is named, with the project and region that were searched."""
    answer = await bot.answer(await bot.command("tasks nope"))
    text = all_text(answer.payload)
    assert "Stream `nope` was not found" in text
    assert bot.sim.project_id in text and "cn-north-4" in text


async def test_invalid_name_says_what_is_allowed_and_calls_nothing(bot):
    """An invalid name is refused before DIS is called, saying which names are allowed."""
    answer = await bot.answer(await bot.command("tasks bad!name"))
    text = all_text(answer.payload)
    assert "letters, digits" in text and "'!'" in text
    assert bot.sim.count("/streams") == 0
    starred = await bot.answer(await bot.command("tasks a*b"))
    assert "'a*b' is not a valid stream name: '*' not allowed" in starred.text  # the fallback keeps what was typed


async def test_dis_unavailable_says_so_and_that_it_retried(bot):
    """DIS answering 503 every time: the user reads that DIS is not answering and how often we tried."""
    bot.sim.add_stream("orders", [SimTask("t")])
    bot.sim.fail_next(20, status=503)
    text = all_text((await bot.answer(await bot.command("tasks orders"), timeout=10)).payload)
    assert "DIS is not answering" in text and "tried 4 times" in text


async def test_dis_throttling_says_so(bot):
    """DIS answering 429: the user reads that DIS is throttling us."""
    bot.sim.add_stream("orders", [SimTask("t")])
    bot.sim.fail_next(20, status=429, headers={"Retry-After": "0"})
    text = all_text((await bot.answer(await bot.command("tasks orders"), timeout=15)).payload)
    assert "DIS is throttling us" in text and "tried" in text


async def test_auth_misconfigured_tells_user_to_contact_admin_and_logs_why(make_bot, caplog):
    """Wrong DIS credentials: the user is sent to the admin; the log has the reason; no secret anywhere."""
    secret = "wrong-token-0123456789abcdef"
    bot = await make_bot(DIS_AUTH_TOKEN=secret)
    bot.sim.add_stream("orders", [SimTask("t")])
    answer = await bot.answer(await bot.command("tasks orders"))
    text = all_text(answer.payload)
    assert "contact the bot's admin" in text
    assert any(r.getMessage() == "command.dis_auth_failed" for r in caplog.records)
    logged = "\n".join(str(vars(r)) for r in caplog.records)
    for call in bot.fake.calls:
        assert secret not in str(call.payload)
    assert secret not in logged
    assert "Traceback" not in text


async def test_concurrent_identical_commands_make_one_dis_call(bot):
    """Thirty people typing the same command at once cause one DIS read (single flight) and thirty answers."""
    import asyncio

    bot.sim.add_stream("incident", [SimTask("t", state="ERROR")])
    bot.sim.latency = 0.5
    sent = await asyncio.gather(*(bot.command("tasks incident", user=f"U{i:03d}") for i in range(30)))
    assert all(s.response.status_code == 200 for s in sent)
    answers = await asyncio.gather(*(bot.answer(s, timeout=10) for s in sent))
    assert all("incident" in a.text for a in answers)
    assert bot.sim.count("/streams/incident/transfer-tasks") == 1


async def test_forged_signature_is_refused(bot):
    """A request signed with another secret gets 401 and causes nothing."""
    bot.sim.add_stream("orders", [SimTask("t")])
    sent = await bot.command("tasks orders", secret="not-the-secret")
    assert sent.response.status_code == 401
    await bot.fake.wait_quiet(0.3)
    assert bot.fake.count("response_url") == 0 and bot.sim.count() == 0


async def test_replayed_request_older_than_five_minutes_is_refused(bot):
    """A correctly signed request whose timestamp is over 5 minutes old gets 401."""
    import time

    sent = await bot.command("help", timestamp=int(time.time()) - 5 * 60 - 5)
    assert sent.response.status_code == 401
    await bot.fake.wait_quiet(0.3)
    assert bot.fake.count("response_url") == 0


async def test_status_reads_streams_at_most_ten_at_a_time(bot):
    """25 streams with 0.2 s DIS latency need three waves of reads: at most 10 run at once."""
    import time

    for i in range(25):
        bot.sim.add_stream(f"s{i:02d}", [SimTask("t")])
    bot.sim.latency = 0.2
    started = time.monotonic()
    answer = await bot.answer(await bot.command("status"), timeout=10)
    assert answer.at - started >= 0.2 * 4  # one list-streams call, then three waves of task reads
    assert "Every dump task is healthy" in all_text(answer.payload)
    assert bot.sim.count("/transfer-tasks") == 25
