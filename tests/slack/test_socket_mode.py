"""Socket Mode through the real websocket: the bot's Socket Mode server against the fake Slack on 127.0.0.1.

Refreshes, closes, silent links, failed handshakes, redeliveries, an unreachable Slack; readiness, metrics and
logs while that happens.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import time

import httpx
import pytest

from bot import metrics
from bot.devtools.fake_slack import FakeSlack
from bot.dis.retry import RetryPolicy
from bot.dis.simulator import SimTask
from bot.ids import REFRESH, View
from bot.logs import configure_logging
from bot.server import build_watcher
from bot.watcher.outbox import Backoff
from tests.conftest import eventually, free_port, settings_for
from tests.slack import payloads
from tests.slack.conftest import ALICE, APP_TOKEN, BOT_TOKEN, CHANNEL, FAST_SOCKET


def log_to_buffer(sim, **settings: str) -> io.StringIO:
    """The bot's own logging set-up at DEBUG, writing to a buffer (the root conftest restores logging after)."""
    buffer = io.StringIO()
    values = {"LOG_LEVEL": "DEBUG", "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_BOT_TOKEN": BOT_TOKEN, **settings}
    configure_logging(settings_for(sim, **values), buffer)
    return buffer


def metric(name: str, **labels: str) -> float:
    value = metrics.REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.mark.parametrize("reason", ["refresh_requested", "warning", "link_disabled"])
async def test_refresh_loses_no_envelope(make_socket_bot, reason):
    """Envelopes 2 ms apart around a `disconnect` (before it, on the old connection after it, on both, after the
    old one closed): every one is acked and answered exactly once, and the old connection is read to its end."""
    bot = await make_socket_bot()
    fake = bot.fake
    old = fake.socket_connections[-1]
    hooks: list[str] = []

    async def burst(n: int, *, on=None) -> None:
        for _ in range(n):
            hooks.append(await bot.command("help", connection=on))
            await asyncio.sleep(0.002)  # a few ms apart, as in a busy workspace

    await burst(10)
    await fake.socket_disconnect(reason, old)
    await burst(10, on=old)  # Slack had these in flight when it asked
    await fake.wait_for("socket_mode.connect", count=2)
    new = fake.socket_connections[-1]
    assert new is not old and not old.closed  # the new one is open first, the old one still serves
    for _ in range(10):
        hooks.append(await bot.command("help", connection=old))
        hooks.append(await bot.command("help", connection=new))
        await asyncio.sleep(0.002)
    # Slack closes the old connection seconds after its disconnect, not within an ack's round trip of its last
    # envelope (an ack racing Slack's close frame is lost on Slack's side whatever the client does).
    await fake.wait_for("socket_mode.ack", count=40)
    await fake.socket_close(old)
    await burst(10)

    sent = fake.calls_to("socket_mode.sent")
    assert len(sent) == 50 and all(c.ok for c in sent)  # Slack delivered every one to an open socket
    acked = await fake.wait_for("socket_mode.ack", count=50)
    assert {c.payload["envelope_id"] for c in acked} == {c.payload["envelope_id"] for c in sent}
    await fake.wait_for("response_url", count=50, timeout=10)
    await fake.wait_quiet(0.3)
    assert sorted(len(bot.answers(h)) for h in hooks) == [1] * 50
    assert fake.count("socket_mode.connect") == 2  # one refresh, one new connection


@pytest.mark.parametrize("kind", ["slash_commands", "interactive"])
async def test_same_envelope_twice_is_acked_twice_and_answered_once(make_socket_bot, kind):
    """A slash command or a click delivered twice with one envelope_id: two acks, one answer."""
    bot = await make_socket_bot()
    bot.sim.add_stream("orders", [SimTask("to-obs")])
    hook = bot.fake.response_url()
    if kind == "slash_commands":
        body = payloads.slash_command("tasks orders", user=ALICE, channel=CHANNEL, response_url=hook)
    else:
        body = payloads.block_actions(
            REFRESH, View("tasks", ("orders",)).encode(), user=ALICE, channel=CHANNEL, response_url=hook
        )
    payload = payloads.socket_payload(body)
    await bot.fake.socket_send(kind, payload, envelope_id="E0TWICE")
    await bot.fake.wait_for("socket_mode.ack", where=lambda c: c.payload.get("envelope_id") == "E0TWICE")
    await bot.fake.socket_send(kind, payload, envelope_id="E0TWICE", retry_attempt=1)
    await bot.fake.wait_for("socket_mode.ack", count=2, where=lambda c: c.payload.get("envelope_id") == "E0TWICE")
    await bot.fake.wait_for("response_url")
    await bot.fake.wait_quiet(0.3)
    assert len(bot.acks("E0TWICE")) == 2
    [answer] = bot.answers(hook.rsplit("/", 1)[1])
    assert "to-obs" in json.dumps(answer.payload)


@pytest.mark.parametrize("abrupt", [False, True], ids=["close_frame", "dropped"])
async def test_a_closed_connection_is_replaced_within_2_s(make_socket_bot, abrupt):
    """Slack closes the websocket (or the TCP connection drops without a close frame): a new one, from a new URL,
    is up within 2 s and answers commands."""
    bot = await make_socket_bot()
    reconnects = metric("disbot_socket_mode_reconnects_total", reason="closed")
    closed_at = await bot.fake.socket_close(abrupt=abrupt)
    [_, second] = await bot.fake.wait_for("socket_mode.connect", count=2)
    assert second.at - closed_at < 2.0
    assert bot.fake.count("apps.connections.open") == 2
    hook = await bot.command("help")
    await bot.fake.wait_for("response_url", where=lambda c: c.hook_id == hook)
    assert metric("disbot_socket_mode_reconnects_total", reason="closed") == reconnects + 1


async def test_a_connection_that_closes_soon_after_an_outage_is_replaced_at_once(make_socket_bot):
    """Slack was unreachable for several attempts, then its first connection closes a moment after it opened: the
    new one follows within a first retry's backoff, not the outage's longest (those attempts are over)."""
    outage = RetryPolicy(base_delay=0.01, max_delay=10.0, jitter=False)  # attempt n waits 0.01 x 2^(n-1) s
    bot = await make_socket_bot(timing=dataclasses.replace(FAST_SOCKET, retry=outage), connect=False)
    bot.fake.fail_next("apps.connections.open", 7, status=503)  # 1.27 s of backoff; an 8th failure would wait 1.28
    await bot.server.client.wait_connected()
    closed_at = await bot.fake.socket_close()  # well within ping_interval of its opening
    [_, second] = await bot.fake.wait_for("socket_mode.connect", count=2)
    assert second.at - closed_at < 0.5


async def test_a_connection_that_stops_answering_pings_is_replaced(make_socket_bot):
    """Slack stops answering pings: the link counts as dead after 1.5 ping intervals and is replaced at once."""
    timing = dataclasses.replace(FAST_SOCKET, ping_interval=0.4)
    bot = await make_socket_bot(timing=timing)
    reconnects = metric("disbot_socket_mode_reconnects_total", reason="ping_timeout")
    silent = bot.fake.socket_mute()
    muted_at = time.monotonic()
    [_, second] = await bot.fake.wait_for("socket_mode.connect", count=2)
    # dead after one ping interval of silence plus half of it for the pong; replaced within 2 s of that
    assert second.at - muted_at < timing.ping_interval * 1.5 + 2.0
    await eventually(lambda: silent.closed)
    assert metric("disbot_socket_mode_reconnects_total", reason="ping_timeout") >= reconnects + 1
    hook = await bot.command("help")
    await bot.fake.wait_for("response_url", where=lambda c: c.hook_id == hook)


async def test_every_attempt_asks_for_a_new_url(make_socket_bot, fake):
    """Handshakes that fail (their single-use URLs spent) are retried with a new URL each: the bot connects."""
    fake.fail_next("socket_mode.connect", 2, status=503)
    bot = await make_socket_bot()
    assert bot.fake.count("apps.connections.open") == 3
    assert [c.ok for c in bot.fake.calls_to("socket_mode.connect")] == [False, False, True]


async def test_slack_unreachable_at_start_the_watcher_runs_and_the_bot_connects_later(sim, tmp_path, make_socket_bot):
    """Slack down at start: start() returns, the watcher polls and its alert waits in the outbox; once Slack is
    back the websocket connects and the alert is delivered."""
    port = free_port()
    sim.add_stream("orders", [SimTask("to-obs", state="ERROR")])
    bot = await make_socket_bot(
        api_url=f"http://127.0.0.1:{port}/api/",
        connect=False,
        services=[lambda d: build_watcher(d, spread=0.0, backoff=Backoff(base=0.05, cap=0.2, jitter=False))],
        DIS_WATCH="orders=C0ALERTS",
        WATCH_INTERVAL_SECONDS=0.2,
        DATABASE_URL=f"sqlite:///{tmp_path}/bot.db",
    )
    client = bot.server.client
    await eventually(lambda: sim.count(path="/transfer-tasks") >= 2)  # the watcher polls without Slack
    await eventually(lambda: client.last_error is not None)
    assert not client.connected
    assert metric("disbot_socket_mode_connected") == 0
    async with FakeSlack(token=BOT_TOKEN, app_token=APP_TOKEN, port=port) as slack:
        await client.wait_connected()
        [alert] = await slack.wait_for("chat.postMessage", timeout=10)
        assert alert.payload["channel"] == "C0ALERTS" and "to-obs" in alert.payload["text"]
        assert metric("disbot_socket_mode_connected") == 1


async def test_readyz_names_socket_mode_while_the_websocket_is_down(make_socket_bot):
    """Down for longer than the grace (15 s by default): /readyz is 503 with a reason naming Socket Mode, the
    gauge is 0; connected again: ready, gauge 1."""
    bot = await make_socket_bot()
    health = bot.deps.health
    await health.refresh()
    async with httpx.AsyncClient(base_url=bot.ops_url) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["socket_mode"]["connected"] is True
        assert metric("disbot_socket_mode_connected") == 1
        bot.fake.fail_next("apps.connections.open", 1000, status=503)
        await bot.fake.socket_close()
        client = bot.server.client
        await eventually(lambda: not client.connected and client.last_error is not None)
        assert client.down_since is not None
        soon, _ = client.readiness(client.down_since + FAST_SOCKET.down_grace / 2)
        assert soon  # within the grace a reconnect in progress is not an outage
        await eventually(lambda: not client.readiness(time.monotonic())[0])
        down = await http.get("/readyz")
        assert down.status_code == 503
        detail = down.json()["socket_mode"]
        assert "Socket Mode" in detail["reason"] and "HTTP 503" in detail["reason"]
        assert metric("disbot_socket_mode_connected") == 0
        assert "disbot_socket_mode_connected 0.0" in (await http.get("/metrics")).text
        bot.fake.reset()
        await bot.server.client.wait_connected()
        await health.refresh()
        again = await http.get("/readyz")
        assert again.status_code == 200, again.text
        assert "disbot_socket_mode_connected 1.0" in (await http.get("/metrics")).text


async def test_each_failed_connect_logs_one_warning_without_url_or_traceback(make_socket_bot, fake, sim):
    """Three failed attempts (Slack's 503, its error code, a refused handshake) at LOG_LEVEL=DEBUG: three WARNING
    lines, no traceback, no URL or ticket, no token."""
    logs = log_to_buffer(sim)
    fake.fail_next("apps.connections.open", 1, status=503)
    fake.fail_next("apps.connections.open", 1, error="internal_error")
    fake.fail_next("socket_mode.connect", 1, status=403)
    await make_socket_bot()
    text = logs.getvalue()
    warnings = [line for line in text.splitlines() if " WARNING " in line]
    assert len(warnings) == 3, text
    assert all("socket_mode.connect_failed" in line for line in warnings)
    assert ["HTTP 503" in warnings[0], "internal_error" in warnings[1], "HTTP 403" in warnings[2]] == [True] * 3
    for leak in ("Traceback", "ticket", "ws://", "/socket-mode", APP_TOKEN, BOT_TOKEN):
        assert leak not in text


async def test_no_envelope_is_logged_even_at_debug(make_socket_bot, sim):
    """With LOG_LEVEL=DEBUG a command, a click and an event go through Socket Mode and no log line holds their
    response_url (anyone could post with it) or the envelope's payload."""
    logs = log_to_buffer(sim, LOG_FORMAT="json")
    bot = await make_socket_bot()
    hook = await bot.command("help", hook="secrethook0001")
    click = payloads.block_actions(
        REFRESH,
        View("help").encode(),
        user=ALICE,
        channel=CHANNEL,
        response_url=bot.fake.response_url("secrethook0002"),
    )
    await bot.fake.socket_send("interactive", payloads.socket_payload(click))
    event = {
        "type": "app_mention",
        "user": ALICE,
        "text": "<@UDISBOT> help secretword",
        "ts": "9.2",
        "channel": CHANNEL,
    }
    body = payloads.event_callback(event, bot_user_id=bot.fake.bot_user_id)
    await bot.fake.socket_send("events_api", payloads.socket_payload(body))
    await bot.fake.wait_for("response_url", count=2, ok=None)
    await bot.fake.wait_for("chat.postMessage")
    await bot.fake.wait_for("socket_mode.ack", count=3)
    text = logs.getvalue()
    assert "socket_mode.envelope" in text  # envelopes are logged: by id and type only
    assert hook not in text and "secrethook0002" not in text and "response-url" not in text
    assert "secretword" not in text


async def test_a_token_refused_before_any_connection_worked_is_reported_as_refused(make_socket_bot, fake, sim):
    """Slack's 503, then `invalid_auth`, before the first connection: the client reports the refusal to its owner
    (`serve` exits 2 on it); /readyz's reason names the variable, never the token."""
    logs = log_to_buffer(sim)
    fake.fail_next("apps.connections.open", 1, status=503)
    fake.fail_next("apps.connections.open", 1000, error="invalid_auth")
    bot = await make_socket_bot(connect=False)
    client = bot.server.client
    heard: list[str | None] = []
    client.on_refused = lambda failure: heard.append(failure.code)
    await eventually(lambda: heard)
    assert heard[0] == "invalid_auth" and not client.connected
    assert client.down_since is not None
    _, detail = client.readiness(client.down_since + FAST_SOCKET.down_grace + 1)
    assert "Slack refused SLACK_APP_TOKEN (invalid_auth)" in detail["reason"]
    assert APP_TOKEN not in logs.getvalue() + json.dumps(detail)


async def test_a_token_refused_after_it_worked_is_named_and_retried(make_socket_bot, sim):
    """The token worked, then Slack refuses it (revoked while running): no exit (the watcher still posts with the
    bot token), an ERROR line and /readyz name SLACK_APP_TOKEN, the client keeps trying and connects when Slack
    takes it again."""
    logs = log_to_buffer(sim)
    bot = await make_socket_bot()
    client = bot.server.client
    heard: list[str | None] = []
    client.on_refused = lambda failure: heard.append(failure.code)
    bot.fake.fail_next("apps.connections.open", 2, error="token_revoked")
    await bot.fake.socket_close()
    await eventually(lambda: client.last_error == "Slack refused SLACK_APP_TOKEN (token_revoked)")
    _, detail = client.readiness(time.monotonic() + FAST_SOCKET.down_grace + 1)
    assert "SLACK_APP_TOKEN" in detail["reason"]
    await client.wait_connected(timeout=10)
    assert heard == []
    errors = [line for line in logs.getvalue().splitlines() if " ERROR " in line]
    assert len(errors) == 2 and all("socket_mode.app_token_refused" in e and "SLACK_APP_TOKEN" in e for e in errors)
    assert APP_TOKEN not in logs.getvalue()
