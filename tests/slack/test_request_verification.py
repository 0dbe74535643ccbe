"""Requests that are not from Slack: 401 before the body is parsed, whatever it is, logged in one short line.

Real HTTP to the bot's `/slack/events` (the in-process server for status codes and log records, `dis-bot serve`
as a process for what 20 requests of 1 MB do to its log).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import time

import httpx
import pytest

from bot.devtools.fake_slack import FakeSlack
from bot.logs import configure_logging
from tests.conftest import free_port
from tests.slack.conftest import SIGNING_SECRET
from tests.slack_signing import sign, signed_headers
from tests.test_serve_process import BOT_TOKEN, serve_env, served_bot

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

#: Bodies Bolt's parsers choke on (or that are no Slack payload at all), with the content type they came with.
JUNK: list[tuple[bytes, str]] = [
    (b"{not json", JSON),
    (b"payload=not-json", FORM),
    (b"payload=%5B1%2C2%5D", FORM),
    (b"[1, 2, 3]", JSON),
    (b"\xff\xfe\x00\x80 invalid utf-8", FORM),
    (b"\xc3\x28", JSON),
    (b"", FORM),
    (b"<xml>not slack</xml>", "text/xml"),
    (b"--x\r\nContent-Disposition: form-data\r\n\r\nhi\r\n--x--", "multipart/form-data; boundary=x"),
]


def _forged_headers(kind: str, body: bytes, content_type: str) -> dict[str, str | bytes]:
    """Headers of one way of not being Slack."""
    now = int(time.time())
    base: dict[str, str | bytes] = {"Content-Type": content_type}
    if kind == "unsigned":
        return base
    if kind == "no_timestamp":
        return {**base, "X-Slack-Signature": sign(SIGNING_SECRET, now, body)}
    if kind == "wrong_secret":
        return {**base, "X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": sign("not-the-secret", now, body)}
    if kind == "stale":
        old = now - 600  # signed with the right secret, 10 minutes ago: a replay
        return {**base, "X-Slack-Request-Timestamp": str(old), "X-Slack-Signature": sign(SIGNING_SECRET, old, body)}
    if kind == "bad_timestamp":
        return {**base, "X-Slack-Request-Timestamp": "12:00 yesterday", "X-Slack-Signature": "v0=" + "0" * 64}
    if kind == "huge_timestamp":
        return {**base, "X-Slack-Request-Timestamp": "9" * 5000, "X-Slack-Signature": "v0=" + "0" * 64}
    if kind == "non_ascii_signature":
        return {**base, "X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": "v0=é".encode()}
    raise AssertionError(kind)


FORGERIES = [
    "unsigned",
    "no_timestamp",
    "wrong_secret",
    "stale",
    "bad_timestamp",
    "huge_timestamp",
    "non_ascii_signature",
]


@pytest.mark.parametrize("kind", FORGERIES)
async def test_forged_requests_get_401_whatever_the_body(bot, caplog, kind):
    """A missing, wrong, stale or malformed signature is 401 for every junk body: never a 500 or a traceback."""
    caplog.set_level(logging.INFO)
    for body, content_type in JUNK:
        response = await bot.http.post(bot.url, content=body, headers=_forged_headers(kind, body, content_type))
        assert response.status_code == 401, (kind, body, response.text)
        assert response.json() == {"error": "invalid request"}
    rejected = [r for r in caplog.records if r.getMessage() == "slack.request_rejected"]
    assert len(rejected) == len(JUNK)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.text
    assert bot.fake.calls_to("response_url") == [] and bot.fake.calls_to("chat.postMessage") == []


async def test_a_body_over_the_limit_is_refused_unread(bot, caplog):
    """A body of more than 1 MiB gets 401 (too large to come from Slack) even with a right signature."""
    caplog.set_level(logging.INFO)
    body = b"payload=" + b"x" * (1024**2 + 10)
    headers = signed_headers(SIGNING_SECRET, body, content_type=FORM)
    response = await bot.http.post(bot.url, content=body, headers=headers)
    assert response.status_code == 401
    [record] = [r for r in caplog.records if r.getMessage() == "slack.request_rejected"]
    assert record.reason == "too_large"


async def test_a_header_the_http_parser_refuses_is_one_short_warning(bot):
    """A header line over aiohttp's 8 KiB limit gets aiohttp's 400 and one warning line under 300 characters: no
    traceback, no ERROR, nothing of the header's value."""
    log = io.StringIO()
    configure_logging(bot.deps.settings, log)
    headers = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "A" * 9000}
    response = await bot.http.post(bot.url, content=b"payload=x", headers=headers)
    assert response.status_code == 400
    [line] = log.getvalue().splitlines()
    assert "WARNING" in line and "http.request_malformed" in line and "remote=127.0.0.1" in line, line
    assert len(line) < 300 and "AAAA" not in line, line


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("payload=not-json", FORM),
        ("{not json", JSON),
        ("[1, 2, 3]", JSON),
        ('"just a string"', JSON),
        ("payload=%5B1%2C2%5D", FORM),
        ('{"type": "event_callback", "event": 5}', JSON),  # parses, then trips Bolt up
        ("payload=%7B%22type%22%3A%22block_actions%22%2C%22actions%22%3A5%7D", FORM),
    ],
)
async def test_signed_body_bolt_cannot_read_gets_400(bot, caplog, body, content_type):
    """A rightly signed body that is no Slack payload is 400 with one log line, not a 500 with a traceback."""
    caplog.set_level(logging.INFO)
    response, _ = await bot.post(body, content_type=content_type)
    assert response.status_code == 400
    assert [r.getMessage() for r in caplog.records if r.name == "bot.server"] == ["slack.request_unreadable"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.text


async def test_signed_requests_still_reach_bolt(bot):
    """The check in front of Bolt lets Slack's own requests through (a command is answered)."""
    sent = await bot.command("help")
    assert sent.response.status_code == 200
    answer = await bot.answer(sent)
    assert "/dis status" in answer.text


async def _drain(served) -> None:
    """Collect the process's output as it is written (chunks, not lines: a line may be megabytes long)."""
    while chunk := await served.proc.stdout.read(65536):
        served.seen.append(chunk.decode(errors="replace"))


async def test_twenty_forged_megabyte_requests_add_twenty_short_log_lines(sim, tmp_path):
    """`dis-bot serve` answers 20 forged 1 MB requests with 401 and logs each in one line under 300 characters."""
    port = free_port()
    async with FakeSlack(token=BOT_TOKEN) as fake:
        env = serve_env(sim, fake, port, DATABASE_URL=f"sqlite:///{tmp_path}/bot.db", LOG_LEVEL="INFO")
        async with served_bot(env, tmp_path) as served:
            before = len(served.output)
            reader = asyncio.create_task(_drain(served))  # the log is read as it comes: a big one cannot stall it
            body = b"payload=" + json.dumps({"type": "block_actions", "pad": "x" * 1_000_000}).encode()
            url = f"http://127.0.0.1:{port}/slack/events"
            async with httpx.AsyncClient(timeout=10) as http:
                for _ in range(20):
                    headers = _forged_headers("wrong_secret", body, FORM)
                    assert (await http.post(url, content=body, headers=headers)).status_code == 401
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            code, _ = await served.stop()
        assert code == 0, served.output[-2000:]
        grown = served.output[before:]
        assert len(grown) < 20_000, len(grown)  # 20 MB in, a few KB of log out
        lines = [line for line in grown.splitlines() if "slack.request_rejected" in line]
        assert len(lines) == 20
        assert all(len(line) < 300 for line in lines), max(lines, key=len)
        assert "Traceback" not in grown and "xxxxxxxxxx" not in grown
