"""Logs: JSON lines that parse, and every line of one Slack request carries that request's id."""

from __future__ import annotations

import json

from tests.ops.conftest import Bot


def parse_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    return [json.loads(line) for line in lines]  # every line is one JSON object


async def test_json_logs_parse_and_carry_the_request_id(make_bot, capture_logs) -> None:
    """With LOG_FORMAT=json every line parses, and a slash command's lines share one request id."""
    bot: Bot = await make_bot(LOG_FORMAT="json", LOG_LEVEL="DEBUG")
    buffer = capture_logs(bot.settings)
    await bot.command("tasks orders-prod")
    await bot.command("tasks orders-prod")
    records = parse_lines(buffer.getvalue())
    received = [r for r in records if r["event"] == "command.received"]
    assert len(received) == 2
    ids = [r.get("request_id") for r in received]
    assert all(ids) and ids[0] != ids[1]  # one id per Slack request
    assert received[0]["subcommand"] == "tasks"
    assert {"time", "level", "logger", "event"} <= set(received[0])
    # Everything the first request logged (its DIS call included) carries its id.
    dis_lines = [r for r in records if r["event"] == "dis.request"]
    assert dis_lines and all(r.get("request_id") in ids for r in dis_lines)


async def test_text_logs_are_one_line_per_event_with_the_request_id(make_bot, capture_logs) -> None:
    """LOG_FORMAT=text gives one line per event with request_id=... on the request's lines."""
    bot: Bot = await make_bot(LOG_FORMAT="text", LOG_LEVEL="INFO")
    buffer = capture_logs(bot.settings)
    await bot.command("tasks orders-prod")
    lines = [line for line in buffer.getvalue().splitlines() if " command.received " in line]
    assert len(lines) == 1
    assert " request_id=" in lines[0] and "subcommand=tasks" in lines[0]


async def test_info_logs_one_line_per_command_not_per_http_request(make_bot, capture_logs) -> None:
    """At INFO a command is one line: no library line per DIS request (httpx logs each URL at INFO)."""
    bot: Bot = await make_bot(LOG_FORMAT="json", LOG_LEVEL="INFO")
    buffer = capture_logs(bot.settings)
    await bot.command("tasks orders-prod")
    records = parse_lines(buffer.getvalue())
    assert [r["event"] for r in records] == ["command.received"], records


def test_text_logs_leave_out_fields_without_a_value(capture_logs) -> None:
    """In LOG_FORMAT=text a field whose value is None is left out (no `stream=None`); JSON keeps it as null."""
    import logging

    from bot.config import Settings

    logger = logging.getLogger("bot.dis")
    text = capture_logs(Settings(_env_file=None, LOG_FORMAT="text"))
    logger.info("dis.retry", extra={"endpoint": "list_streams", "code": None, "stream": None, "attempt": 1})
    [line] = text.getvalue().splitlines()
    assert line.endswith(" bot.dis dis.retry endpoint=list_streams attempt=1"), line
    as_json = capture_logs(Settings(_env_file=None, LOG_FORMAT="json"))
    logger.info("dis.retry", extra={"endpoint": "list_streams", "stream": None})
    [record] = parse_lines(as_json.getvalue())
    assert record["stream"] is None
