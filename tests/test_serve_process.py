"""`dis-bot serve` as a real process: HTTP on $PORT with the watcher inside, SIGTERM ends it with exit code 0
(after flushing what the outbox holds), and a bot with no watches stays quiet."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from bot.devtools.fake_slack import FakeSlack
from bot.dis.simulator import SimTask
from bot.store import open_store
from tests.conftest import SIM_PROJECT, SIM_REGION, SIM_TOKEN, free_port

BOT_TOKEN = "xoxb-process-test-0123456789"


async def wait_for_line(stream: asyncio.StreamReader, needle: str, seen: list[str], timeout: float = 30) -> None:  # noqa: ASYNC109
    async def scan() -> None:
        while True:
            line = (await stream.readline()).decode(errors="replace")
            if not line:
                raise AssertionError(f"process ended before {needle!r}; output:\n{''.join(seen)}")
            seen.append(line)
            if needle in line:
                return

    await asyncio.wait_for(scan(), timeout)


def serve_env(sim, fake: FakeSlack, port: int, **extra: str) -> dict[str, str]:
    """The environment of a served bot against the simulator and the fake Slack (no DIS_/SLACK_ from outside)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DIS_", "CLOUD_SDK_", "IAM_", "SLACK_", "WATCH_", "DATABASE_URL"))
    }
    env.update(
        DIS_REGION=SIM_REGION,
        DIS_PROJECT_ID=SIM_PROJECT,
        DIS_ENDPOINT=sim.url,
        DIS_AUTH_TOKEN=SIM_TOKEN,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET="signing-secret-for-test",
        SLACK_API_URL=fake.url,
        PORT=str(port),
        WATCH_INTERVAL_SECONDS="0.5",
        LOG_FORMAT="json",
    )
    env.update(extra)
    return env


class ServedBot:
    """A `dis-bot serve` process that has logged `server.started`; `seen` collects its output lines."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen: list[str] = []

    @property
    def output(self) -> str:
        return "".join(self.seen)

    async def stop(self) -> tuple[int, float]:
        """SIGTERM, then wait for the exit; (exit code, seconds it took)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), 20)
        assert self.proc.stdout is not None
        self.seen.append((await self.proc.stdout.read()).decode(errors="replace"))
        return code, loop.time() - started


async def spawn_serve(env: dict[str, str], cwd, *, stderr: int) -> asyncio.subprocess.Process:
    """`python -m bot serve` with its stdout piped (stderr: PIPE of its own, or STDOUT to share it)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=stderr
    )


@asynccontextmanager
async def served_bot(env: dict[str, str], cwd, *, until: str | None = "server.started") -> AsyncIterator[ServedBot]:
    """Start `python -m bot serve`, wait until it logs `until` (None: do not wait), and make sure it is gone
    afterwards."""
    proc = await spawn_serve(env, cwd, stderr=asyncio.subprocess.STDOUT)
    bot = ServedBot(proc)
    try:
        assert proc.stdout is not None
        if until is not None:
            await wait_for_line(proc.stdout, until, bot.seen)
        yield bot
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def run_serve(env: dict[str, str], cwd, timeout: float = 20) -> tuple[int, str, str, float]:  # noqa: ASYNC109
    """Run `python -m bot serve` until it exits by itself (a start-up that must fail); (exit code, stdout, stderr,
    seconds). A process still running after `timeout` is killed and fails the test."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    proc = await spawn_serve(env, cwd, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode(), loop.time() - started


async def metric(port: int, name: str) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")]
    return values[0] if values else 0.0


async def test_serve_alerts_and_exits_0_on_sigterm(sim, tmp_path) -> None:
    """The served bot posts an alert for a failing watched task, and SIGTERM stops it cleanly (exit 0)."""
    sim.add_stream("orders-prod", [SimTask("to-obs", state="RUNNING")])
    port = free_port()
    async with FakeSlack(token=BOT_TOKEN) as fake:
        env = serve_env(sim, fake, port, DATABASE_URL=f"sqlite:///{tmp_path}/bot.db", DIS_WATCH="orders-prod=C0ALERTS")
        async with served_bot(env, tmp_path) as bot:
            async with httpx.AsyncClient() as http:
                assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
            sim.set_state("orders-prod", "to-obs", "ERROR")
            [alert] = await fake.wait_for("chat.postMessage", count=1, timeout=20)
            assert alert.payload["channel"] == "C0ALERTS"
            assert "to-obs" in alert.payload["text"]
            code, _ = await bot.stop()
        output = bot.output
        assert code == 0, output
        assert "server.stopping" in output
        assert "Traceback" not in output
        for secret in (SIM_TOKEN, BOT_TOKEN, "signing-secret-for-test"):
            assert secret not in output


async def test_sigterm_flushes_a_pending_outbox_then_exits_0(sim, tmp_path) -> None:
    """SIGTERM while the alert waits out a 2 s Retry-After: it is delivered before the exit, within 10 s, code 0."""
    sim.add_stream("orders-prod", [SimTask("to-obs", state="RUNNING")])
    port = free_port()
    async with FakeSlack(token=BOT_TOKEN) as fake:
        env = serve_env(sim, fake, port, DATABASE_URL=f"sqlite:///{tmp_path}/bot.db", DIS_WATCH="orders-prod=C0ALERTS")
        fake.fail_next("chat.postMessage", 1, status=429, retry_after=2)
        async with served_bot(env, tmp_path) as bot:
            sim.set_state("orders-prod", "to-obs", "ERROR")
            await fake.wait_for("chat.postMessage", ok=False, timeout=20)
            assert fake.calls_to("chat.postMessage", ok=True) == []
            code, seconds = await bot.stop()
        output = bot.output
        assert code == 0, output
        assert seconds < 10, output
        [alert] = fake.calls_to("chat.postMessage", ok=True)
        assert "to-obs" in alert.payload["text"]
        assert '"flushed": true' in output


async def test_sigterm_with_slack_never_answering_an_alert_still_exits_within_10_s(sim, tmp_path) -> None:
    """SIGTERM while an alert post hangs at a Slack that never answers: exit 0 within 10 s, the alert kept."""
    sim.add_stream("orders-prod", [SimTask("to-obs", state="RUNNING")])
    port = free_port()
    async with FakeSlack(token=BOT_TOKEN) as fake:
        env = serve_env(sim, fake, port, DATABASE_URL=f"sqlite:///{tmp_path}/bot.db", DIS_WATCH="orders-prod=C0ALERTS")
        fake.hold("chat.postMessage", effect=False)
        async with served_bot(env, tmp_path) as bot:
            sim.set_state("orders-prod", "to-obs", "ERROR")
            await fake.wait_for("chat.postMessage", ok=False, timeout=20)
            code, seconds = await bot.stop()
    output = bot.output
    assert code == 0, output
    assert seconds < 10, output
    assert '"flushed": false' in output and '"outbox": 1' in output


async def test_serve_without_watches_is_quiet_with_the_default_database(sim, tmp_path) -> None:
    """No DIS_WATCH, no DATABASE_URL: the watcher runs its cycles but reads no task list and posts nothing;
    its state goes to ./dis-bot.db (the working directory)."""
    sim.add_stream("orders-prod", [SimTask("to-obs", state="ERROR")])
    port = free_port()
    async with FakeSlack(token=BOT_TOKEN) as fake:
        async with served_bot(serve_env(sim, fake, port), tmp_path) as bot:
            sim.reset_counts()

            async def cycles(n: int) -> None:
                # Another process: its /metrics is the only thing to watch (polled until the count is reached).
                while await metric(port, "disbot_watch_cycle_seconds_count") < n:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(cycles(3), 20)
            code, _ = await bot.stop()
        output = bot.output
        assert code == 0, output
        assert sim.count(path="/transfer-tasks") == 0  # (a readiness probe may list the streams now and then)
        assert fake.calls_to("chat.postMessage") == [] and fake.calls_to("chat.update") == []
        assert (tmp_path / "dis-bot.db").exists()
        assert "Traceback" not in output


async def test_post_in_flight_when_killed_is_sent_again_with_its_key(sim, tmp_path) -> None:
    """Killed while Slack's answer to an alert post is on its way: the next start posts it again, same key."""
    sim.add_stream("orders-prod", [SimTask("to-obs", state="RUNNING")])
    port = free_port()
    async with FakeSlack(token=BOT_TOKEN) as fake:
        env = serve_env(sim, fake, port, DATABASE_URL=f"sqlite:///{tmp_path}/bot.db", DIS_WATCH="orders-prod=C0ALERTS")
        fake.hold("chat.postMessage")  # Slack takes the post; the bot never hears back
        async with served_bot(env, tmp_path) as first:
            sim.set_state("orders-prod", "to-obs", "ERROR")
            await fake.wait_for("chat.postMessage", timeout=20)
            first.proc.kill()
            await first.proc.wait()
        fake.release("chat.postMessage")
        async with served_bot(env, tmp_path) as second:
            await fake.wait_for("chat.postMessage", count=2, timeout=20)
            code, _ = await second.stop()
        assert code == 0, second.output
        assert "outbox.resumed_in_flight" in second.output
        posts = fake.calls_to("chat.postMessage", ok=True)
        assert len(posts) == 2 and {p.payload["channel"] for p in posts} == {"C0ALERTS"}
        [key] = {p.payload["metadata"]["event_payload"]["key"] for p in posts}
        assert key.startswith("alert:") and key.endswith(":post")
        assert {p.payload["metadata"]["event_type"] for p in posts} == {"dis_bot_alert"}
    store = open_store(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        [alert] = await store.open_alerts()
        assert alert.ts == posts[1].response["ts"]  # the bot follows the later one; the earlier is the one to delete
    finally:
        await store.close()


#: An app-level token: with it `serve` runs in Socket Mode against the fake Slack's websocket.
APP_TOKEN = "xapp-1-A0DISBOT-process-0123456789"


async def test_serve_startup_log_reads_clean_at_the_default_level(sim, tmp_path) -> None:
    """Default level and format: only the bot's own INFO events; no Bolt warning, no `=None`, no session chatter."""
    sim.add_stream("orders-prod", [SimTask("to-obs", state="RUNNING")])
    sim.fail_next(1, status=502)  # the readiness probe's list_streams (a call with no stream) is retried once
    port = free_port()
    async with FakeSlack(token=BOT_TOKEN) as fake:
        env = serve_env(sim, fake, port, DATABASE_URL=f"sqlite:///{tmp_path}/bot.db", SLACK_APP_TOKEN=APP_TOKEN)
        del env["LOG_FORMAT"]
        async with served_bot(env, tmp_path) as bot:
            await fake.wait_for("socket_mode.connect", timeout=20)
            async with httpx.AsyncClient() as http:
                await http.get(f"http://127.0.0.1:{port}/readyz")  # probes DIS now if start-up has not yet
            if "dis.retry" not in bot.output:
                assert bot.proc.stdout is not None
                await wait_for_line(bot.proc.stdout, "dis.retry", bot.seen)
            code, _ = await bot.stop()
        lines = bot.output.splitlines()
    assert code == 0, bot.output
    assert any(" dis.retry endpoint=list_streams " in line for line in lines), bot.output
    assert all(line.split()[1] == "INFO" for line in lines if line.strip()), bot.output
    assert all(line.split()[2].startswith("bot.") and line.split()[2] != "bot.bolt" for line in lines), bot.output
    assert "None" not in bot.output and "token` will be unused" not in bot.output
