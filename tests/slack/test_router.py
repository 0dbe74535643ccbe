"""Parsing what people type, and the one mapping from failures to what they read."""

from __future__ import annotations

import logging

import pytest

from bot.commands import router
from bot.commands.base import CommandContext, UsageError
from bot.commands.errors import error_answer
from bot.config import Settings
from bot.deps import Deps
from bot.errors import AuthError, InvalidName, NotFound, RequestRejected, Throttled, Unavailable
from bot.listeners.events.mention import command_text
from bot.logs import request_context
from tests.slack.blockkit import all_text, validate_message


@pytest.fixture
def ctx() -> CommandContext:
    settings = Settings(_env_file=None, DIS_REGION="eu-west-101", DIS_PROJECT_ID="proj-1")  # type: ignore[call-arg]
    deps = Deps(settings=settings, dis=None, tasks=None, health=None, slack=None)  # type: ignore[arg-type]
    return CommandContext("U1", "C1", "T1", None, "command", deps)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("help", [])),
        ("  TASKS  orders-prod ", ("tasks", ["orders-prod"])),
        ("/dis status", ("status", [])),
        ("task\u00a0s1\u00a0t1", ("task", ["s1", "t1"])),
        ("tasks a&amp;b", ("tasks", ["a&b"])),
        ("ta\x00sks pay\x07ments\x1b", ("tasks", ["payments"])),
    ],
)
def test_parse(text, expected):
    """Command words are case-insensitive, whitespace-tolerant and unescaped like Slack sends them; control
    characters are dropped before the words are read, as every answer drops them when it echoes the words."""
    assert router.parse(text) == expected


def test_mention_text_is_what_follows_the_bot():
    """The bot's own mention is removed wherever it is; words after it are the command."""
    assert command_text("<@UBOT> tasks orders", "UBOT") == "tasks orders"
    assert command_text("hey <@UBOT|dis-bot>: status", "UBOT") == "status"
    assert command_text("status please <@UBOT>", "UBOT") == "status please"
    assert command_text("<@UBOT>", "UBOT") == ""


def test_watch_words_are_routed():
    """watch/unwatch/watching go to the watcher's commands (never to 'unknown command')."""
    for word in ("watch", "unwatch", "watching"):
        assert router.COMMANDS[word].__module__ == "bot.commands.watch"


async def test_watch_commands_never_answer_unknown(ctx):
    """Whether or not the watcher is installed, `watching` is understood (no 'I don't know')."""
    message = await router.run_command(ctx, "watching")
    assert "I don't know" not in all_text(message)


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (UsageError("Which stream?", "tasks STREAM"), "Usage: `/dis tasks STREAM`"),
        (InvalidName("stream names use letters, digits, '-' and '_' (got '<b>')"), "got '&lt;b&gt;'"),
        (NotFound("x", stream="s1"), "Stream `s1` was not found"),
        (NotFound("x", stream="s1", task="t9"), "No dump task `t9` on stream `s1`"),
        (Unavailable("boom", attempts=4), "tried 4 times"),
        (Throttled("slow", attempts=3), "DIS is throttling us"),
        (AuthError("DIS.4114 token expired", code="DIS.4114", status=441), "contact the bot's admin"),
        (RequestRejected("DIS refused: quota exceeded", code="DIS.4350"), "quota exceeded"),
        (RuntimeError("secret internals"), "Something went wrong on our side"),
    ],
)
def test_every_error_becomes_a_valid_message(ctx, error, says):
    """Each failure maps to one short valid message saying what happened; internals never show."""
    message = error_answer(error, ctx, "tasks")
    validate_message(message)
    text = all_text(message)
    assert says in text
    assert "secret internals" not in text and "Traceback" not in text
    if isinstance(error, NotFound):
        assert "proj-1" in text and "eu-west-101" in text


def test_unexpected_error_is_logged_with_trace_and_answered_with_the_request_id(ctx, caplog):
    """An unexpected exception: logged with its traceback, the user gets the request id to quote."""
    with request_context("req-abc123"):
        message = error_answer(ValueError("bug"), ctx, "tasks")
    assert "req-abc123" in all_text(message)
    [record] = [r for r in caplog.records if r.getMessage() == "command.crashed"]
    assert record.levelno == logging.ERROR and record.exc_info is not None


def test_auth_error_log_says_what_is_wrong(ctx, caplog):
    """The log line for an auth failure carries DIS's code and message (never shown to the user)."""
    error_answer(AuthError("IAM token expired", code="APIG.0307", status=401, request_id="r1"), ctx, "tasks")
    [record] = [r for r in caplog.records if r.getMessage() == "command.dis_auth_failed"]
    assert record.dis_code == "APIG.0307" and record.detail == "IAM token expired"
