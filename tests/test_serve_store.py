"""`dis-bot serve` as a real process with a database that refuses writes: a lock held by this test's own
connection (as a backup tool or an admin's `sqlite3` shell would), and a database that can be read but not
written at start."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.devtools.fake_slack import Call, FakeSlack
from bot.dis.simulator import SimTask
from bot.store import connect_store
from tests.conftest import WriteLock, free_port
from tests.test_serve_process import BOT_TOKEN, metric, run_serve, serve_env, served_bot


async def readyz(port: int) -> tuple[int, dict]:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{port}/readyz")
    return response.status_code, response.json()


async def until_ready(port: int, status: int) -> dict:
    """Poll another process's /readyz until it answers `status` (10 s at most); its last body."""

    async def poll() -> dict:
        while True:
            code, body = await readyz(port)
            if code == status:
                return body
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(poll(), 10)


async def cycles_after(port: int, n: float) -> None:
    """Wait until the served watcher finished more than `n` cycles (its /metrics is all there is to watch)."""

    async def poll() -> None:
        while await metric(port, "disbot_watch_cycle_seconds_count") <= n:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), 10)


def watching_env(sim, fake: FakeSlack, port: int, db: Path) -> dict[str, str]:
    """A served bot on `db` watching orders-prod into C0ALERTS, polling every 0.1 s."""
    return serve_env(
        sim, fake, port, DATABASE_URL=f"sqlite:///{db}", DIS_WATCH="orders-prod=C0ALERTS", WATCH_INTERVAL_SECONDS="0.1"
    )


def events(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


async def test_serve_with_a_locked_database_is_unready_then_heals_and_alerts(sim, tmp_path: Path) -> None:
    """While another connection holds the database's lock: /readyz is 503 naming the store, the watcher keeps
    polling and logs one WARNING; a task that failed meanwhile is alerted once the lock is gone, without a
    restart, and /readyz is 200 again."""
    sim.add_stream("orders-prod", [SimTask("to-obs", state="RUNNING")])
    port = free_port()
    db = tmp_path / "bot.db"
    async with FakeSlack(token=BOT_TOKEN) as fake:
        env = watching_env(sim, fake, port, db)
        async with served_bot(env, tmp_path) as bot:
            await until_ready(port, 200)
            with WriteLock(db):
                sim.set_state("orders-prod", "to-obs", "ERROR")
                body = await until_ready(port, 503)
                assert body["store"]["reason"] == "store failing: database is locked"
                assert body["dis"]["ok"] and body["slack"]["ok"]
                await cycles_after(port, await metric(port, "disbot_watch_cycle_seconds_count") + 3)
                assert fake.calls_to("chat.postMessage") == []
            [alert] = await fake.wait_for("chat.postMessage", timeout=10)
            assert "to-obs" in alert.payload["text"]
            await until_ready(port, 200)
            code, _ = await bot.stop()
        assert code == 0, bot.output
        seen = events(bot.output)
        names = [e["event"] for e in seen]
        assert names.count("store.write_failing") == 1, bot.output
        assert names.count("store.write_recovered") == 1
        assert not [e for e in seen if e["level"] in ("error", "critical")], bot.output
        assert "Traceback" not in bot.output
        assert len(fake.calls_to("chat.postMessage")) == 1


async def test_serve_keeps_delivering_after_a_write_refused_during_delivery(sim, tmp_path: Path) -> None:
    """The database refuses the write that records a post Slack accepted: the served bot neither dies nor
    sends that post again, and the next alert is delivered without a restart."""
    sim.add_stream("orders-prod", [SimTask("to-obs", state="RUNNING"), SimTask("to-dws", state="RUNNING")])
    port = free_port()
    db = tmp_path / "bot.db"
    lock = WriteLock(db)

    def lock_on_first_alert(call: Call) -> None:
        if call.method == "chat.postMessage" and "to-obs" in call.payload.get("text", ""):
            lock.hold()  # Slack has the post; the bot's "delivered" write meets the lock

    async with FakeSlack(token=BOT_TOKEN, on_message=lock_on_first_alert) as fake:
        env = watching_env(sim, fake, port, db)
        try:
            async with served_bot(env, tmp_path) as bot:
                await until_ready(port, 200)
                sim.set_state("orders-prod", "to-obs", "ERROR")
                await fake.wait_for("chat.postMessage", timeout=10)
                body = await until_ready(port, 503)
                assert body["store"]["reason"] == "store failing: database is locked"
                lock.release()
                await until_ready(port, 200)
                sim.set_state("orders-prod", "to-dws", "ERROR")
                await fake.wait_for("chat.postMessage", count=2, timeout=10)
                code, _ = await bot.stop()
        finally:
            lock.release()
    assert code == 0, bot.output
    first, second = fake.calls_to("chat.postMessage")
    assert "to-obs" in first.payload["text"] and "to-dws" in second.payload["text"]
    assert "Traceback" not in bot.output


@pytest.fixture
async def migrated_db(tmp_path: Path) -> Path:
    """A SQLite file the bot has migrated."""
    db = tmp_path / "bot.db"
    await (await connect_store(f"sqlite:///{db}")).close()
    return db


@pytest.fixture(params=["mode=ro", "immutable file"])
def read_only_url(request: pytest.FixtureRequest, migrated_db: Path) -> Iterator[str]:
    """A DATABASE_URL of a migrated database that can be read but not written: opened with SQLite's `mode=ro`, or
    a file made immutable with `chattr +i` (read-only even for root; skipped where the filesystem or the
    capabilities do not allow it)."""
    db = migrated_db
    if request.param == "mode=ro":
        yield f"sqlite:///{db}?mode=ro"
        return
    done = subprocess.run(["chattr", "+i", str(db)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not possible here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield f"sqlite:///{db}"
    finally:
        subprocess.run(["chattr", "-i", str(db)], capture_output=True, check=False)


def stray_files(directory: Path) -> list[str]:
    """Files a URL taken for a file name would have created (`bot.db?mode=ro`)."""
    return [p.name for p in directory.iterdir() if "?" in p.name]


async def test_serve_refuses_a_read_only_database_before_listening(sim, tmp_path: Path, read_only_url: str) -> None:
    """A DATABASE_URL that can be read but not written stops `dis-bot serve` with exit 2, a message naming
    DATABASE_URL and "read-only", before anything listens on $PORT."""
    port = free_port()
    async with FakeSlack(token=BOT_TOKEN) as fake:
        env = serve_env(sim, fake, port, DATABASE_URL=read_only_url, DIS_WATCH="orders-prod=C0ALERTS")
        code, stdout, stderr, _ = await run_serve(env, tmp_path)
    assert code == 2, stdout + stderr
    assert "DATABASE_URL" in stderr and "read-only" in stderr
    assert "server.http_listening" not in stdout and "server.started" not in stdout
    assert "Traceback" not in stderr + stdout
    assert stray_files(tmp_path) == []
