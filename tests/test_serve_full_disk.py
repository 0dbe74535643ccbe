"""`dis-bot serve` with its SQLite database on a real filesystem that fills up (a 1 MB tmpfs, mounted by the test
where it may mount; skipped elsewhere)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.devtools.fake_slack import FakeSlack
from bot.dis.simulator import SimTask
from tests.conftest import free_port
from tests.test_serve_process import BOT_TOKEN, metric, served_bot
from tests.test_serve_store import events, readyz, until_ready, watching_env


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs mounted on a fresh directory (skips the test where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the filesystem refuses (ENOSPC); its path (remove it to free the space)."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


async def test_serve_on_a_full_disk_stays_unready_and_logs_once_until_there_is_room(
    sim, tmp_path: Path, small_disk: Path
) -> None:
    """While the filesystem under the database is full, /readyz answers 503 naming the store on every read for ten
    cycles and the log says `store.write_failing` once (small writes still commit there: they prove nothing); once
    there is room, one `store.write_recovered`, /readyz 200 and the alert that waited is posted."""
    sim.add_stream("orders-prod", [SimTask("to-obs", state="RUNNING")])
    port = free_port()
    async with FakeSlack(token=BOT_TOKEN) as fake:
        env = watching_env(sim, fake, port, small_disk / "bot.db")
        async with served_bot(env, tmp_path) as bot:  # polling every 0.1 s: a flapping store would show
            await until_ready(port, 200)
            filler = fill(small_disk)
            sim.set_state("orders-prod", "to-obs", "ERROR")
            body = await until_ready(port, 503)
            assert body["store"]["code"] == "SQLITE_FULL", body
            seen: list[int] = []
            until = await metric(port, "disbot_watch_cycle_seconds_count") + 10
            deadline = asyncio.get_running_loop().time() + 30  # ten cycles of 0.2 s; never wait for ever
            while await metric(port, "disbot_watch_cycle_seconds_count") <= until:
                assert asyncio.get_running_loop().time() < deadline, f"fewer than 10 cycles in 30 s: {seen[-5:]}"
                seen.append((await readyz(port))[0])
                await asyncio.sleep(0.05)
            assert set(seen) == {503}, seen
            filler.unlink()
            await until_ready(port, 200)
            [alert] = await fake.wait_for("chat.postMessage", timeout=10)
            assert "to-obs" in alert.payload["text"]
            code, _ = await bot.stop()
        assert code == 0, bot.output
        names = [e["event"] for e in events(bot.output)]
        assert names.count("store.write_failing") == 1, bot.output
        assert names.count("store.write_recovered") == 1, bot.output
        assert "Traceback" not in bot.output
