"""`dis-bot demo`: says it is a demo, prints rendered alerts and answers, serves the CLI, stops cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.config import Settings
from bot.demo import ALERT_TITLE, DEMO_SIM_PORT, run_demo
from bot.devtools.fake_slack import FakeSlack
from bot.metrics import REGISTRY
from tests.conftest import free_port
from tests.ops.conftest import METRIC_FAMILIES, SLACK_APP_TOKEN, SLACK_BOT_TOKEN

#: Run by `make test` in the main pytest process, after the parallel run. Under load the offline demo's first alert
#: missed the moment before its injected Slack refusals queued up (see the hiccup comment below); that cause is now
#: removed, but these process-heavy tests stay out of the parallel run until measured there.
pytestmark = pytest.mark.serial

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
    """The answer to the demo's first question, titled with that question."""
    return "· answer to /dis status · only visible to you" in text and "DIS status" in text


def offline_demo(out: Output, stop: asyncio.Event, **options: Any) -> asyncio.Task[None]:
    """The offline demo on free ports, fast and reproducible, until `stop` is set."""
    values: dict[str, Any] = {"port": 0, "interval": 0.5, "ops_port": 0, "churn_interval": 0.5, "seed": 1}
    values.update(options)
    return asyncio.create_task(run_demo(Settings(_env_file=None), out=out, stop=stop, **values))


@contextlib.contextmanager
def port_taken() -> Iterator[int]:
    """A port someone else listens on (127.0.0.1) for the duration."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


async def test_offline_demo_prints_alerts_and_answers_and_serves_the_cli(monkeypatch) -> None:
    """Without Slack settings: banner first, then rendered alerts and a /dis answer; the CLI reads the simulator."""
    out = Output()
    stop = asyncio.Event()
    # One Slack refusal every 3 s: at 0.3 s (one every 0.9 s) refusals queued up faster than the backed-off retries
    # used them, and the first alert could wait for ever.
    demo = offline_demo(out, stop, command_every=60, hiccup_every=1.0)
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


@pytest.mark.skipif(sys.platform == "win32" or shutil.which("make") is None, reason="POSIX signals and make")
async def test_make_run_passes_args_and_stops_on_ctrl_c(tmp_path) -> None:
    """`make run ARGS="--port 0 --interval 0.5"` passes both options to `dis-bot demo`; Ctrl-C stops it cleanly."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIS_", "SLACK_", "CLOUD_SDK_", "IAM_"))}
    env.update({"PORT": "0", "PYTHONUNBUFFERED": "1", "COLUMNS": "90"})
    venv = Path(sys.executable).parent.parent
    proc = await asyncio.create_subprocess_exec(
        "make",
        "--no-print-directory",
        "-f",
        str(ROOT / "Makefile"),
        f"VENV={venv}",
        "-o",  # the virtualenv running this test is installed: never (re)install it from a test
        f"{venv}/.installed",
        "run",
        "ARGS=--port 0 --interval 0.5",
        cwd=tmp_path,  # no .env from the repository
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal gives it: Ctrl-C reaches make and the demo
    )
    seen = ""
    try:
        async with asyncio.timeout(30):
            while not rendered_alert(seen):
                line = await proc.stdout.readline()
                assert line, f"the demo exited early:\n{seen}"
                seen += line.decode()
        head = seen.split("╭", 1)[0]
        assert f"{venv}/bin/dis-bot demo --port 0 --interval 0.5" in head
        assert "DEMO on simulated data" in head and "polled every 0.5 s" in head
        [sim_port] = re.findall(r"DIS simulator: http://127\.0\.0\.1:(\d+)", head)
        assert int(sim_port) != DEMO_SIM_PORT
        os.killpg(proc.pid, signal.SIGINT)
        async with asyncio.timeout(20):
            rest, _ = await proc.communicate()
        assert "Demo stopped." in rest.decode(), rest.decode()[-2000:]
        assert "Traceback" not in seen + rest.decode()
    finally:
        if proc.returncode is None:
            # The whole group: killing make alone would leave the demo running, holding the output pipe open.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


async def test_demo_takes_a_free_port_when_its_default_is_taken_and_prints_it() -> None:
    """Without --port and 8787 (the default) taken, the simulator takes a free port, says so and prints that one."""
    assert inspect.signature(run_demo).parameters["default_port"].default == DEMO_SIM_PORT == 8787
    out, stop = Output(), asyncio.Event()
    with port_taken() as taken:
        demo = offline_demo(out, stop, port=None, default_port=taken, command_every=60, hiccup_every=None)
        try:
            await out.wait_for(lambda t: "From a second terminal" in t)
            text = out.text
            assert f"Port {taken} is taken" in text
            [url] = re.findall(r"DIS simulator: (\S+)", text)
            assert not url.endswith(f":{taken}")
            assert f"DIS_ENDPOINT={url} " in text  # the CLI line names the port in use
            async with httpx.AsyncClient() as http:
                assert (await http.get(f"{url}/v2/none/streams")).status_code in (400, 401, 403, 404)
        finally:
            stop.set()
            await asyncio.wait_for(demo, 15)


async def test_banner_cli_line_works_pasted_into_a_new_shell(tmp_path) -> None:
    """The second-terminal command runs as printed in a new shell (no venv on PATH, another directory)."""
    out, stop = Output(), asyncio.Event()
    demo = offline_demo(out, stop, command_every=60, hiccup_every=None)
    try:
        await out.wait_for(lambda t: "From a second terminal" in t)
        lines = out.text.split("From a second terminal", 1)[1].splitlines()[1:3]
        assert lines[0].endswith("\\") and "tasks orders-prod" in lines[1], lines
        shell = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            "\n".join(lines),
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        async with asyncio.timeout(30):
            printed, errors = await shell.communicate()
        assert shell.returncode == 0, errors.decode()
        assert "orders-prod:" in printed.decode() and "orders-to-obs" in printed.decode()
    finally:
        stop.set()
        await asyncio.wait_for(demo, 15)


async def test_demo_titles_tell_the_answer_from_the_alerts() -> None:
    """Each box says what it is: the answer names the question asked just before it, the rest are watcher alerts."""
    out, stop = Output(), asyncio.Event()
    demo = offline_demo(out, stop, command_every=60, hiccup_every=None)
    try:
        await out.wait_for(lambda t: rendered_alert(t) and rendered_answer(t))
        text = out.text
    finally:
        stop.set()
        await asyncio.wait_for(demo, 15)
    asked = text.index("$ /dis status ")
    assert "the answer is the box 'answer to /dis status'" in text[asked:].splitlines()[0]
    titles = [line for line in text.splitlines() if line.startswith("╭─ ")]
    answers = [t for t in titles if "answer to /dis status · only visible to you" in t]
    alerts = [t for t in titles if f" · {ALERT_TITLE} · #dis-demo · " in t]
    assert answers and alerts and len(answers) + len(alerts) == len(titles), titles
    assert text.index(answers[0]) > asked
