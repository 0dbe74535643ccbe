"""`dis-bot demo`: says it is a demo, prints rendered alerts and answers, serves the CLI, stops cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from bot.config import Settings
from bot.demo import run_demo
from bot.devtools.fake_slack import FakeSlack
from bot.metrics import REGISTRY
from tests.conftest import free_port
from tests.ops.conftest import METRIC_FAMILIES, SLACK_APP_TOKEN, SLACK_BOT_TOKEN

ROOT = Path(__file__).resolve().parents[2]


class Output:
    """What the demo printed, with a way to wait for something to appear."""

    def __init__(self) -> None:
        self.chunks: list[str] = []
        self.changed = asyncio.Event()

    def __call__(self, text: str) -> None:
        self.chunks.append(text)
        self.changed.set()

    @property
    def text(self) -> str:
        return "\n".join(self.chunks)

    async def wait_for(self, what: Callable[[str], bool], timeout: float = 20) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while not what(self.text):
            self.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; the demo printed:\n{self.text[-3000:]}")
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                pass


def total(sample: str) -> float:
    """A counter summed over its labels, from the process's registry (the in-process demo shares it)."""
    return sum(s.value for m in REGISTRY.collect() for s in m.samples if s.name == sample)


def rendered_alert(text: str) -> bool:
    """A framed message posted to the demo channel about a task in a bad state."""
    return bool(re.search(r"╭─ [^\n]*#dis-demo · new message[^\n]*\n(│[^\n]*\n)*?│[^\n]*(ERROR|ABNORMAL)", text))


def rendered_answer(text: str) -> bool:
    return "· /dis answer · only visible to you" in text and "DIS status" in text


async def test_offline_demo_prints_alerts_and_answers_and_serves_the_cli(monkeypatch) -> None:
    """Without Slack settings: banner first, then rendered alerts and a /dis answer; the CLI reads the simulator."""
    out = Output()
    stop = asyncio.Event()
    demo = asyncio.create_task(
        run_demo(
            Settings(_env_file=None),
            port=0,
            interval=0.5,
            out=out,
            stop=stop,
            ops_port=0,
            churn_interval=0.5,
            command_every=60,
            hiccup_every=0.3,
            seed=1,
        )
    )
    retries, failures = total("disbot_dis_retries_total"), total("disbot_outbox_delivery_failures_total")
    try:
        await out.wait_for(lambda t: rendered_alert(t) and rendered_answer(t))
        assert out.chunks[0].splitlines()[1] == "DEMO on simulated data"
        text = out.text
        assert "Slack is simulated too" in text
        # The printed second-terminal command works against the running simulator.
        match = re.search(r"DIS_ENDPOINT=(\S+) DIS_PROJECT_ID=(\S+) DIS_REGION=(\S+) \\\n\s+DIS_AUTH_TOKEN=(\S+)", text)
        assert match, text
        env = dict(zip(("DIS_ENDPOINT", "DIS_PROJECT_ID", "DIS_REGION", "DIS_AUTH_TOKEN"), match.groups(), strict=True))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        from bot.cli import main

        code, printed = await asyncio.to_thread(_run_cli, main, ["tasks", "orders-prod"])
        assert code == 0
        assert "orders-prod:" in printed and "orders-to-obs" in printed
        # The simulated hiccups happened and were retried: the retry and delivery-failure counters moved.
        async with asyncio.timeout(20):
            # Counters in the registry have no change event to wait on: poll them.
            while total("disbot_dis_retries_total") <= retries or (  # noqa: ASYNC110
                total("disbot_outbox_delivery_failures_total") <= failures
            ):
                await asyncio.sleep(0.05)
        # Every metric family the README lists is on the demo's /metrics with samples.
        [ops] = re.findall(r"Metrics: (http://\S+/metrics)", text)
        async with httpx.AsyncClient() as http:
            exposition = (await http.get(ops)).text
        for family in METRIC_FAMILIES:
            assert re.search(rf"^{family}(_count|_total)?(\{{| )", exposition, re.M), family
    finally:
        stop.set()
        await asyncio.wait_for(demo, 15)
    assert out.chunks[-1] == "Demo stopped."


def _run_cli(main: Callable[[list[str]], int], argv: list[str]) -> tuple[int, str]:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(argv)
    return code, buffer.getvalue()


async def test_demo_with_slack_tokens_runs_in_socket_mode() -> None:
    """With SLACK_BOT_TOKEN and SLACK_APP_TOKEN the demo connects over Socket Mode and alerts go to Slack."""
    async with FakeSlack() as fake:
        settings = Settings(
            _env_file=None,
            SLACK_BOT_TOKEN=SLACK_BOT_TOKEN,
            SLACK_APP_TOKEN=SLACK_APP_TOKEN,
            SLACK_API_URL=fake.url,
            DIS_WATCH="*=C0REALCHAN",
        )
        out = Output()
        stop = asyncio.Event()
        demo = asyncio.create_task(
            run_demo(settings, port=0, interval=0.5, out=out, stop=stop, ops_port=0, churn_interval=0.5, seed=2)
        )
        try:
            await fake.wait_for("socket_mode.connect", timeout=20)
            [alert, *_] = await fake.wait_for(
                "chat.postMessage", where=lambda c: c.payload.get("channel") == "C0REALCHAN", timeout=20
            )
            blocks = json.dumps(alert.blocks)
            assert "ERROR" in blocks or "ABNORMAL" in blocks
            assert "DEMO on simulated data" in out.text
            assert "connects to your Slack workspace over Socket Mode" in out.text
        finally:
            stop.set()
            await asyncio.wait_for(demo, 15)


async def test_demo_with_slack_out_of_reach_starts_and_claims_no_connection() -> None:
    """With Slack tokens but Slack out of reach the demo still starts (Socket Mode keeps trying in the background),
    and nothing it prints says the bot is connected."""
    settings = Settings(
        _env_file=None,
        SLACK_BOT_TOKEN=SLACK_BOT_TOKEN,
        SLACK_APP_TOKEN=SLACK_APP_TOKEN,
        SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/",
    )
    out = Output()
    stop = asyncio.Event()
    demo = asyncio.create_task(run_demo(settings, port=0, interval=0.5, out=out, stop=stop, ops_port=0, seed=2))
    try:
        await out.wait_for(lambda text: "Ctrl-C stops the demo." in text, timeout=10)
        assert "connects to your Slack workspace over Socket Mode" in out.text
        assert "is connected to your Slack workspace" not in out.text
    finally:
        stop.set()
        await asyncio.wait_for(demo, 15)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_make_run_command_starts_and_stops_on_ctrl_c(tmp_path) -> None:
    """`dis-bot demo` as a process: the banner and an alert appear, and Ctrl-C (SIGINT) ends it with exit 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIS_", "SLACK_", "CLOUD_SDK_", "IAM_"))}
    env.update({"PORT": "0", "PYTHONUNBUFFERED": "1", "COLUMNS": "90"})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "demo",
        "--port",
        "0",
        "--interval",
        "0.5",
        cwd=tmp_path,  # no .env from the repository
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    seen = ""
    try:
        async with asyncio.timeout(30):
            while not rendered_alert(seen):
                line = await proc.stdout.readline()
                assert line, f"the demo exited early:\n{seen}"
                seen += line.decode()
        assert "DEMO on simulated data" in seen.split("╭", 1)[0]
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(20):
            rest, _ = await proc.communicate()
        assert proc.returncode == 0, rest.decode()[-2000:]
        assert "Demo stopped." in rest.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
