"""`dis-bot demo` (`make run`): the whole bot on simulated data, in one command, on a fresh machine.

It starts the DIS simulator with the sample streams (tasks fail and recover now and then), the watcher on a short
interval watching every stream, and the bot itself (the same `bot.server` runtime `dis-bot serve` uses):

- without Slack settings, Slack is a local fake and every message the bot sends (alerts, their updates and thread
  replies, command answers) is printed in the terminal as a readable rendering of its Block Kit, titled either
  "alert from the watcher" or "answer to /dis <the question>"; every so often the demo asks `/dis status` through
  the real HTTP endpoint, signed like Slack signs it;
- with `SLACK_BOT_TOKEN` and `SLACK_APP_TOKEN`, the bot connects to the real workspace in Socket Mode and the
  alerts go to the channels of `DIS_WATCH` (or wherever people type `/dis watch`).

Nothing here talks to Huawei Cloud; it says so first. The simulator listens on 8787 unless that port is taken (then
on a free one, and says so), and the printed CLI line names this virtualenv's `dis-bot` so that it runs as pasted
into a new shell. Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import logging
import random
import secrets
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bot.config import Settings
from bot.devtools.render import render_message
from bot.errors import BotError

logger = logging.getLogger("bot.demo")

DEMO_PROJECT = "0123456789abcdef0123456789abcdef"
DEMO_REGION = "cn-north-4"
DEMO_TOKEN = "sim-token"
DEMO_CHANNEL = "C0DISDEMO"
DEMO_CHANNEL_NAME = "dis-demo"
#: The simulator's port unless `--port` says otherwise (a free one when it is taken).
DEMO_SIM_PORT = 8787
#: How the title of a watcher's message starts, so it cannot be mistaken for the answer to the demo's question.
ALERT_TITLE = "alert from the watcher"

Out = Callable[[str], None]


def _print(line: str) -> None:
    print(line, flush=True)


def banner(real_slack: bool) -> str:
    # Socket Mode connects in the background: the banner (printed first) must not claim a connection yet.
    slack = (
        [
            "The bot connects to your Slack workspace over Socket Mode (and keeps trying while Slack is",
            "out of reach); /readyz and the log line socket_mode.connected say when it is connected.",
        ]
        if real_slack
        else ["Slack is simulated too: every message the bot sends is printed below."]
    )
    lines = [
        "DEMO on simulated data",
        "dis-bot is running against a local DIS simulator with sample streams; nothing here talks to",
        "Huawei Cloud. Dump tasks fail and recover on their own every few seconds, and now and then",
        ("DIS fails a request" if real_slack else "DIS fails a request or Slack refuses a message")
        + ", to show the bot retrying (see /metrics).",
        *slack,
    ]
    width = max(len(line) for line in lines)
    return "\n".join(["=" * width, *lines, "=" * width])


def describe(call: Any, names: dict[str, str], asked: dict[str, str] | None = None) -> str:
    """The title of a rendered message: what it is (the answer to which question, or an alert), where it went
    and what kind of call carried it.

    Args:
        asked: the question (`status`) behind each response_url the demo handed out, by its hook id.
    """
    payload = call.payload
    channel = str(payload.get("channel", ""))
    where = "#" + names.get(channel, channel) if channel else ""
    what = ""
    stamp = time.strftime("%H:%M:%S", time.localtime(call.wall))
    if call.method in ("chat.postMessage", "chat.update"):
        # Only the watcher posts and edits messages in the demo: commands are answered through their response_url.
        what = ALERT_TITLE
        if call.method == "chat.update":
            kind = "message updated"
        else:
            kind = "thread reply" if payload.get("thread_ts") else "new message"
    elif call.method == "chat.postEphemeral":
        kind = f"only visible to {payload.get('user', '?')}"
    elif call.method == "response_url":
        question = (asked or {}).get(call.hook_id or "")
        where = f"answer to /dis {question}" if question else "/dis answer"
        if payload.get("replace_original"):
            kind = "replaces the answer"
        else:
            kind = "in channel" if payload.get("response_type") == "in_channel" else "only visible to you"
    else:
        kind = call.method
    return " · ".join(x for x in (stamp, what, where, kind) if x)


def _width() -> int:
    return max(60, min(100, shutil.get_terminal_size((88, 24)).columns - 4))


def demo_settings(base: Settings, sim_url: str, *, interval: float, db_path: Path, slack: dict[str, Any]) -> Settings:
    """The settings the demo runs the bot with: the simulator as DIS, a temporary database, a short interval.

    Only the Slack values, LOG_FORMAT/LOG_LEVEL and an explicit DIS_WATCH come from the user's settings; DIS
    credentials in the environment are deliberately ignored (the demo never reaches a real DIS).
    """
    values: dict[str, Any] = {
        "DIS_REGION": DEMO_REGION,
        "DIS_PROJECT_ID": DEMO_PROJECT,
        "DIS_ENDPOINT": sim_url,
        "DIS_AUTH_TOKEN": DEMO_TOKEN,
        "WATCH_INTERVAL_SECONDS": interval,
        "WATCH_REPEAT_MINUTES": 0,
        # Every task read in detail every few cycles, so the sample's discarding task is alerted within a minute
        # (the first deep read only takes its baseline); the stalled one is read every cycle anyway.
        "WATCH_DEEP_INTERVAL_SECONDS": max(3 * interval, 10.0),
        "CACHE_TTL_SECONDS": min(base.cache_ttl_seconds, interval),
        "DATABASE_URL": f"sqlite:///{db_path}",
        "LOG_FORMAT": base.log_format,
        # The rendered messages are the show; the bot's own log joins in only when LOG_LEVEL asks for it.
        "LOG_LEVEL": base.log_level if "log_level" in base.model_fields_set else "ERROR",
        "DIS_ACTIONS_ENABLED": base.dis_actions_enabled,
        "DIS_ADMIN_USER_IDS": ",".join(sorted(base.dis_admin_user_ids)),
        "PORT": base.port,
        **slack,
    }
    return Settings(_env_file=None, **values)


def cli_command() -> str:
    """This very `dis-bot`, as a command that works when pasted into any new shell.

    A new shell has no virtualenv activated, so a bare `dis-bot` is "command not found" there: name the script
    next to the running interpreter by its absolute path, or `python -m bot` through that interpreter.
    """
    script = Path(sys.executable).parent / "dis-bot"
    if script.is_file():
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m bot"


def second_terminal(sim_url: str) -> str:
    """How to read the demo's DIS from another terminal with the CLI (pasted as is, it runs there)."""
    lines = [
        "From a second terminal, the CLI reads the same simulated project; paste these two lines as they are:",
        f"  DIS_ENDPOINT={sim_url} DIS_PROJECT_ID={DEMO_PROJECT} DIS_REGION={DEMO_REGION} \\",
        f"  DIS_AUTH_TOKEN={DEMO_TOKEN} {cli_command()} tasks orders-prod",
    ]
    activate = Path(sys.prefix) / "bin" / "activate"
    if sys.prefix != sys.base_prefix and activate.is_file():
        lines.append(f"(After `source {shlex.quote(str(activate))}` in that terminal, plain `dis-bot` works too.)")
    return "\n".join(lines)


def can_listen(port: int, host: str = "127.0.0.1") -> bool:
    """Whether `host:port` can be bound right now (with SO_REUSEADDR, as aiohttp binds, so a connection left in
    TIME_WAIT is no obstacle)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


async def ask(server_url: str, signing_secret: str, text: str, response_url: str) -> int:
    """Send `/dis <text>` to the bot's HTTP endpoint exactly as Slack would (form body, v0 signature)."""
    body = urllib.parse.urlencode(
        {
            "team_id": "T0FAKE",
            "team_domain": "demo",
            "channel_id": DEMO_CHANNEL,
            "channel_name": DEMO_CHANNEL_NAME,
            "user_id": "U0DEMO",
            "user_name": "demo",
            "command": "/dis",
            "text": text,
            "api_app_id": "A0DISBOT",
            "response_url": response_url,
            "trigger_id": "0.0.demo",
        }
    )
    ts = str(int(time.time()))
    signature = "v0=" + hmac.new(signing_secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(f"{server_url}/slack/events", content=body, headers=headers)
    return response.status_code


async def run_demo(
    settings: Settings,
    *,
    port: int | None = None,
    default_port: int = DEMO_SIM_PORT,
    interval: float = 5.0,
    out: Out = _print,
    stop: asyncio.Event | None = None,
    ops_port: int | None = None,
    churn_interval: float | None = None,
    command_every: float = 30.0,
    hiccup_every: float | None = 10.0,
    seed: int | None = None,
) -> None:
    """Run the demo until Ctrl-C (or until `stop` is set).

    Args:
        settings: the user's settings; only Slack tokens, logging and DIS_WATCH are taken from them.
        port: the simulator's port (the CLI in a second terminal reaches it there; 0 picks a free one); None:
            `default_port`, or a free port when that one is taken (the printed URL and CLI line say which).
        default_port: the simulator's port when `port` is None (8787; tests pass one they hold).
        interval: seconds between watcher polls.
        out: where the demo writes (a line or a rendered message at a time).
        stop: set it to end the demo (tests); SIGINT/SIGTERM set it otherwise.
        ops_port: port of the bot's HTTP server (`/slack/events`, `/healthz`, `/readyz`, `/metrics`); `$PORT`
            when None.
        churn_interval: mean seconds between two simulated failures or recoveries (default 2 x interval).
        command_every: seconds between two `/dis status` questions (offline mode).
        hiccup_every: seconds between two simulated failures of one call (`_hiccups`); None: none.
        seed: makes the churn reproducible.
    """
    from bot.devtools.fake_slack import FakeSlack
    from bot.dis.sample_data import sample_dataset
    from bot.dis.simulator import DisSimulator
    from bot.logs import configure_logging
    from bot.server import build_deps, build_runtime

    real_slack = settings.slack_bot_token is not None and settings.slack_app_token is not None
    out(banner(real_slack))
    stop = stop or asyncio.Event()
    width = _width()
    names = {DEMO_CHANNEL: DEMO_CHANNEL_NAME}
    asked: dict[str, str] = {}  # the question behind each response_url handed out, by hook id

    def show(call: Any) -> None:
        out(render_message(call.payload, title=describe(call, names, asked), width=width))

    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests), or no signals here
            pass

    sim = DisSimulator(project_id=DEMO_PROJECT, token=DEMO_TOKEN, project_name=DEMO_REGION)
    sample_dataset(sim)
    fake: FakeSlack | None = None
    runtime = None
    with tempfile.TemporaryDirectory(prefix="dis-bot-demo-") as tmp:
        try:
            # An explicit --port is kept or refused; the default gives way, since any free port serves a demo.
            sim_port = port if port is not None else (default_port if can_listen(default_port) else 0)
            try:
                sim_url = await sim.start(host="127.0.0.1", port=sim_port)
            except OSError as exc:
                raise BotError(
                    f"the demo's DIS simulator cannot listen on port {sim_port} ({exc.strerror}); "
                    "pick another with --port"
                ) from None
            if port is None and sim_port != default_port:
                out(f"Port {default_port} is taken, so the DIS simulator listens on a free port: {sim_url}")
            sim.churn(interval=churn_interval or max(2 * interval, 1.0), rng=random.Random(seed))
            signing_secret = secrets.token_hex(16)
            if real_slack:
                assert settings.slack_bot_token is not None and settings.slack_app_token is not None
                slack: dict[str, Any] = {
                    "SLACK_BOT_TOKEN": settings.slack_bot_token.get_secret_value(),
                    "SLACK_APP_TOKEN": settings.slack_app_token.get_secret_value(),
                    "SLACK_API_URL": settings.slack_api_url,
                    "DIS_WATCH": settings.dis_watch,
                }
            else:
                fake = FakeSlack(on_message=show)
                await fake.start()
                slack = {
                    "SLACK_BOT_TOKEN": "xoxb-demo-" + secrets.token_hex(8),
                    "SLACK_SIGNING_SECRET": signing_secret,
                    "SLACK_API_URL": fake.url,
                    "DIS_WATCH": f"*={DEMO_CHANNEL}",
                }
            demo = demo_settings(settings, sim_url, interval=interval, db_path=Path(tmp) / "demo.db", slack=slack)
            if ops_port is not None:
                demo = demo.model_copy(update={"port": ops_port})
            configure_logging(demo)
            deps = build_deps(demo)
            runtime = build_runtime(
                demo,
                deps=deps,
                watcher={"spread": 0.0},
                host="127.0.0.1",
                socket_mode=real_slack,
            )
            try:
                await runtime.server.start()
            except OSError as exc:
                raise BotError(
                    f"the bot cannot listen on port {demo.port} ({exc.strerror}); set PORT to a free port"
                ) from None
            ops = f"http://127.0.0.1:{runtime.server.port}"
            out(
                f"DIS simulator: {sim_url}  ({len(sim.stream_names())} sample streams: {', '.join(sim.stream_names())})"
            )
            out(f"Watcher: every stream, polled every {interval:g} s. Health: {ops}/readyz  Metrics: {ops}/metrics")
            out(second_terminal(sim_url))
            if real_slack:
                if demo.dis_watch:
                    out(f"Alerts go to the channels of DIS_WATCH ({demo.dis_watch}).")
                else:
                    out(
                        "In Slack, invite the bot to a channel and type `/dis watch orders-prod` (or `/dis status`);"
                        " set DIS_WATCH=*=C0123ABC to watch every stream from the start."
                    )
            if fake is not None:
                out(f"Boxes titled '{ALERT_TITLE}' come from the watcher, on its own, as tasks fail and recover.")
                out("A box titled 'answer to /dis ...' answers the `$ /dis` line above it; alerts may come between.")
            out("Ctrl-C stops the demo.\n")
            hiccups = asyncio.create_task(_hiccups(sim, fake, hiccup_every)) if hiccup_every else None
            try:
                await _converse(stop, fake, ops, signing_secret, command_every, out, asked)
            finally:
                if hiccups is not None:
                    hiccups.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await hiccups
        finally:
            if runtime is not None:
                await runtime.server.stop()
                await runtime.deps.dis.aclose()
            if fake is not None:
                await fake.stop()
            await sim.stop()
            for sig in handled:
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
    out("Demo stopped.")


async def _hiccups(sim: Any, fake: Any, every: float) -> None:
    """Now and then make one call fail, as real services do: Slack answers one message with a 503 (offline
    mode), DIS throttles one request (429) or fails it (503). The bot retries; nothing is lost, and /metrics
    shows it (`disbot_outbox_delivery_failures_total`, `disbot_dis_retries_total`)."""
    faults: list[Callable[[], None]] = []
    if fake is not None:
        faults.append(lambda: fake.fail_next("chat.postMessage", status=503))
    faults += [lambda: sim.fail_next(1, status=429), lambda: sim.fail_next(1, status=503)]
    await asyncio.sleep(every / 2)
    for i in itertools.count():
        faults[i % len(faults)]()
        await asyncio.sleep(every)


async def _converse(
    stop: asyncio.Event, fake: Any, server_url: str, signing_secret: str, every: float, out: Out, asked: dict[str, str]
) -> None:
    """Until `stop`: in offline mode, ask `/dis status` now and then, as someone on call would.

    Each question gets its own response_url, recorded in `asked`, so its answer is titled with the question.
    """
    if fake is None:
        await stop.wait()
        return
    questions = ["status", "tasks orders-prod", "status"]
    i = 0
    while not stop.is_set():
        text = questions[i % len(questions)]
        i += 1
        hook = secrets.token_hex(6)
        asked[hook] = text
        out(
            f"$ /dis {text}    (asked by the demo, as a person in #{DEMO_CHANNEL_NAME} would;"
            f" the answer is the box 'answer to /dis {text}')"
        )
        try:
            status = await ask(server_url, signing_secret, text, fake.response_url(hook))
            if status != 200:
                out(f"(the bot answered HTTP {status})")
        except httpx.HTTPError as exc:
            out(f"(could not reach the bot: {type(exc).__name__})")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
