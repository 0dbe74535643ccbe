"""`dis-bot migrate-db FROM TO`: a bot's SQLite file copied into an empty database of either engine (`store_url`:
a SQLite file and a fresh PostgreSQL schema), ids and the fencing term carried on, and every refusal one line with
exit code 2. The CLI contract runs `dis-bot` as a process; the rest calls `copy_database` in-process."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import sqlalchemy as sa

from bot.cli import main
from bot.leader import LOCK_KEY
from bot.store import SqlStore, connect_store, shown_url
from bot.store.base import KIND_TASK, OUT_POST, OUT_REPLY, SOURCE_CONFIG, KnownTask, StreamHealth, StreamPoll
from bot.store.copy_db import CopyRefused, copy_database
from bot.store.migrate import head
from bot.store.tables import leadership
from tests.conftest import free_port
from tests.store.test_migrations import V1_FILE

#: A password that must never be printed.
PASSWORD = "pw-0123456789"
#: The epoch second the source's rows were written at.
T = 1_700_000_000.0
#: Rows per table of `fill`'s database (`leadership` is its one row, merged).
FILLED = {
    "alerts": 2,
    "outbox": 2,
    "snoozes": 1,
    "stream_health": 1,
    "stream_polls": 1,
    "subscriptions": 2,
    "task_states": 2,
    "episodes": 2,
    "leadership": 1,
}


async def fill(url: str, *, term: int = 0) -> None:
    """A bot's database in use: two watches, an open and a finished episode with their alerts, a snooze, the
    outbox with one row pruned after delivery (its id is gone, its sequence number is not), a stream's failures
    and last poll, and leadership `term`."""
    store = await connect_store(url)
    try:
        await store.upsert_subscription("C1", "orders", now=T, mention="<!subteam^S1>", set_mention=True)
        await store.upsert_subscription("C2", "*", now=T + 1, source=SOURCE_CONFIG)
        await store.set_baseline_done("C1", "orders")
        await store.save_task_states(
            "orders",
            [
                KnownTask("orders", "to-obs", "ERROR", task_id="t1", since=T, last_transfer_ms=1_700_000_000_123),
                KnownTask("orders", "to-dli", "RUNNING", task_id="t2", since=T - 60),
            ],
        )
        opened, _ = await store.open_episode(
            channel_id="C1", stream="orders", task_name="to-obs", kind=KIND_TASK, state="ERROR", started_at=T
        )
        alert = await store.create_alert("C1", KIND_TASK, now=T, mention="<!subteam^S1>")
        await store.attach_episodes([opened.id], alert.id)
        old = await store.enqueue("old:reply", "C1", OUT_REPLY, now=T - 30 * 86400, payload={"text": "old"})
        post = await store.enqueue(f"alert:{alert.id}:post", "C1", OUT_POST, now=T, alert_id=alert.id)
        await store.enqueue("note", "C1", OUT_REPLY, now=T + 2, payload={"text": "recovered", "n": 1})
        assert old is not None and post is not None
        await store.mark_done(post.id, T + 1)
        await store.set_alert_posted(alert.id, "1700000001.000100", T + 1, seq=post.id)
        finished, _ = await store.open_episode(
            channel_id="C1", stream="orders", task_name="to-dli", kind=KIND_TASK, state="ERROR", started_at=T - 50
        )
        earlier = await store.create_alert("C1", KIND_TASK, now=T - 50)
        await store.attach_episodes([finished.id], earlier.id)
        await store.close_episode(finished.id, ended_at=T - 10, end_state="RUNNING")
        await store.snooze("C1", "orders", "to-dli", until=T + 3600, by="U2")
        await store.put_stream_health(StreamHealth("payments", failures=2, first_failure_at=T, error_kind="throttled"))
        await store.put_stream_polls([StreamPoll("orders", at=T, ok=True, counts={"ERROR": 1, "RUNNING": 1})])
        # The highest outbox id ever handed out is the last row's; the oldest row goes (delivered, then pruned),
        # and a newer one too, so the sequence is past the highest id left.
        extra = await store.enqueue("gone", "C1", OUT_REPLY, now=T - 30 * 86400)
        assert extra is not None
        for item in (old, extra):
            await store.mark_done(item.id, T - 30 * 86400)
        assert await store.prune(T - 86400) == 2
        if term:
            await set_term(store, term)
    finally:
        await store.close()


async def set_term(store: SqlStore, term: int) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(leadership.update().where(leadership.c.id == 1).values(term=term))


async def term_of(store: SqlStore) -> int:
    async with store.engine.connect() as conn:
        return int(await conn.scalar(sa.select(leadership.c.term)) or 0)


async def contents(url: str) -> dict[str, Any]:
    """Everything the bot reads back from the database at `url`, through its own store."""
    store = await connect_store(url)
    try:
        alerts = [await store.alert(i) for i in range(1, 10)]
        return {
            "subscriptions": await store.subscriptions(),
            "task_states": await store.task_states(),
            "open_episodes": await store.open_episodes(),
            "unnoted_recoveries": await store.unnoted_recoveries(),
            "alerts": [a for a in alerts if a is not None],
            "snoozes": await store.snoozes(now=0),
            "outbox": await store.outbox(),
            "outbox_heads": await store.outbox_heads(),
            "stream_health": await store.stream_health(),
            "stream_polls": await store.stream_polls(),
        }
    finally:
        await store.close()


async def migrate_db(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`dis-bot migrate-db ARGS` as a process of its own (the environment is the test's: hermetic)."""
    command = [sys.executable, "-m", "bot", "migrate-db", *args]
    return await asyncio.to_thread(
        subprocess.run, command, env=dict(os.environ), cwd=cwd, capture_output=True, text=True, timeout=60
    )


def with_password(url: str) -> str:
    """A PostgreSQL `url` that carries a password (a made-up one where it has none: the test servers trust
    their local users, so any password works); SQLite URLs as they are."""
    parts = urlsplit(url)
    if not url.startswith("postgres") or parts.password:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{PASSWORD}@{parts.netloc.rsplit('@', 1)[-1]}"))


def one_line(stderr: str) -> str:
    assert stderr.count("\n") == 1 and stderr.startswith("dis-bot: ") and "Traceback" not in stderr, stderr
    return stderr


async def test_a_sqlite_file_is_copied_whole_into_an_empty_database(store_url: str, tmp_path: Path) -> None:
    """`migrate-db FROM TO --json` exits 0 with rows per table (URLs shown without their password), and a store on
    TO reads back exactly what FROM held: watches, task states, open and finished episodes, alerts, snoozes, the
    outbox, stream health and polls."""
    source = f"sqlite:///{tmp_path / 'from.db'}"
    await fill(source)
    before = await contents(source)
    target = with_password(store_url)

    done = await migrate_db(tmp_path, source, target, "--json")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"from": source, "to": shown_url(target), "tables": FILLED}
    assert PASSWORD not in done.stdout + done.stderr
    assert await contents(store_url) == before
    assert len(before["open_episodes"]) == 1 and len(before["outbox"]) == 2 and len(before["subscriptions"]) == 2


async def test_new_rows_on_the_copy_get_ids_past_every_id_the_source_handed_out(store_url: str, tmp_path: Path) -> None:
    """After the copy, a new outbox row, alert and episode inserted through the store on TO get fresh ids: past the
    highest one FROM ever gave (a pruned outbox row's id is not reused), with no collision."""
    source = f"sqlite:///{tmp_path / 'from.db'}"
    await fill(source)
    await copy_database(source, store_url)

    store = await connect_store(store_url)
    try:
        item = await store.enqueue("new", "C1", OUT_REPLY, now=T + 10)
        alert = await store.create_alert("C1", KIND_TASK, now=T + 10)
        episode, created = await store.open_episode(
            channel_id="C2", stream="orders", task_name="to-obs", kind=KIND_TASK, state="ERROR", started_at=T + 10
        )
    finally:
        await store.close()
    assert item is not None and item.id == 5  # ids 1-4 were handed out in FROM (1 and 4 pruned)
    assert alert.id == 3 and created and episode.id == 3


async def test_a_schema_v1_file_is_migrated_then_copied(store_url: str, tmp_path: Path) -> None:
    """A file of the store before Alembic is brought to the newest schema (in place) and copied with its data:
    the watch, the posted alert and its episode, both outbox rows, and new ids go on from its own."""
    db = tmp_path / "v1.db"
    shutil.copy(V1_FILE, db)

    report = await copy_database(f"sqlite:///{db}", store_url)

    assert report.tables["subscriptions"] == 1 and report.tables["outbox"] == 2
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == head()
    store = await connect_store(store_url)
    try:
        [sub] = await store.subscriptions()
        assert (sub.channel_id, sub.stream, sub.mention) == ("C0OPS", "orders", "<!subteam^S1>")
        [alert] = await store.open_alerts()
        assert alert.ts == "1700000102.000100"
        [episode] = await store.episodes_for_alert(alert.id)
        assert (episode.task_name, episode.state, episode.previous_state) == ("to-obs", "ERROR", "RUNNING")
        assert [(o.key, o.state, o.payload) for o in await store.outbox()] == [
            ("alert:1:post", "done", {}),
            ("alert:1:ack", "pending", {"text": "acked by <@U2>"}),
        ]
        item = await store.enqueue("alert:1:update:x", "C0OPS", "update", now=1_700_000_200.0, alert_id=alert.id)
        assert item is not None and item.id == 3
    finally:
        await store.close()


async def test_a_target_that_holds_data_is_refused_and_left_alone(store_url: str, tmp_path: Path) -> None:
    """Copying into a database that already has rows (a live bot's) exits 2 with one line naming TO and what it
    holds; TO keeps exactly its own rows."""
    source = f"sqlite:///{tmp_path / 'from.db'}"
    await fill(source)
    live = await connect_store(store_url)
    try:
        await live.upsert_subscription("C9", "billing", now=T)
    finally:
        await live.close()
    before = await contents(store_url)

    refused = await migrate_db(tmp_path, source, store_url)

    assert refused.returncode == 2 and refused.stdout == ""
    assert f"TO {store_url!r} already holds rows (subscriptions 1)" in one_line(refused.stderr)
    assert await contents(store_url) == before


@pytest.mark.parametrize(("theirs", "ours", "kept"), [(5, 2, 5), (1, 7, 7)])
async def test_the_leadership_term_never_goes_backwards(
    store_url: str, tmp_path: Path, theirs: int, ours: int, kept: int
) -> None:
    """TO keeps the larger of both terms: a leader fenced with an older term stays fenced out after the copy."""
    source = f"sqlite:///{tmp_path / 'from.db'}"
    await fill(source, term=theirs)
    target = await connect_store(store_url)
    await set_term(target, ours)
    await target.close()

    report = await copy_database(source, store_url)

    target = await connect_store(store_url)
    try:
        assert report.term == kept and await term_of(target) == kept
    finally:
        await target.close()


async def test_the_summary_has_a_line_per_table_and_a_last_line(tmp_path: Path, capsys) -> None:
    """Without --json: one line per table with its rows (leadership: the term kept), then a line saying what was
    copied from where to where."""
    source, target = f"sqlite:///{tmp_path / 'from.db'}", f"sqlite:///{tmp_path / 'to.db'}"
    await fill(source)

    assert await asyncio.to_thread(main, ["migrate-db", source, target]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == list(FILLED)
    assert lines[0].split() == ["alerts", "2", "rows"] and lines[-2].split() == ["leadership", "term", "0"]
    assert lines[-1].startswith(f"copied 13 rows from {source} to {target} in ")


async def test_a_missing_source_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    """A FROM file that does not exist exits 2 naming it; neither FROM nor TO is created."""
    source, target = tmp_path / "typo.db", tmp_path / "to.db"

    refused = await migrate_db(tmp_path, f"sqlite:///{source}", f"sqlite:///{target}")

    assert refused.returncode == 2
    assert f"FROM 'sqlite:///{source}' does not exist" in one_line(refused.stderr)
    assert not source.exists() and not target.exists()


async def test_a_source_that_is_not_a_database_is_one_line(tmp_path: Path, capsys) -> None:
    """A FROM file that is not a SQLite database exits 2 with one line saying so, naming FROM."""
    source = tmp_path / "notes.db"
    source.write_text("not a database\n" * 100)

    assert await asyncio.to_thread(main, ["migrate-db", f"sqlite:///{source}", f"sqlite:///{tmp_path / 'to.db'}"]) == 2

    err = one_line(capsys.readouterr().err)
    assert f"FROM 'sqlite:///{source}' cannot be opened: file is not a database" in err, err


async def test_an_unreachable_target_is_one_line_without_its_password(tmp_path: Path) -> None:
    """A TO server that refuses connections exits 2 with one line naming TO, its password masked."""
    source = f"sqlite:///{tmp_path / 'from.db'}"
    await fill(source)
    port = free_port()

    refused = await migrate_db(tmp_path, source, f"postgresql://bot:{PASSWORD}@127.0.0.1:{port}/disbot")

    assert refused.returncode == 2
    err = one_line(refused.stderr)
    assert f"TO 'postgresql://bot:***@127.0.0.1:{port}/disbot' cannot be reached" in err, err
    assert PASSWORD not in err + refused.stdout


async def test_a_target_a_running_bot_leads_is_refused(postgres_url: str, tmp_path: Path) -> None:
    """A TO whose leader lock is held (the session advisory lock a running replica's lease holds, on the lease's
    own key) is refused as in use, and nothing is copied."""
    source = f"sqlite:///{tmp_path / 'from.db'}"
    await fill(source)
    await (await connect_store(postgres_url)).close()  # migrated, as a running replica's database is
    holder = await asyncpg.connect(postgres_url)
    try:
        # Waiting, not trying: a migration of another test's schema may hold the (database-wide) key a moment.
        await holder.execute("SELECT pg_advisory_lock($1)", LOCK_KEY, timeout=10)
        with pytest.raises(CopyRefused, match="is in use: a dis-bot holds its lock"):
            await copy_database(source, postgres_url, lock_wait=0.1)
    finally:
        await holder.close()
    assert (await contents(postgres_url))["subscriptions"] == []


async def test_a_row_the_target_refuses_copies_nothing(store_url: str, tmp_path: Path) -> None:
    """A FROM row that breaks one of TO's rules (an episode of an alert that is gone) is refused naming its
    table, and TO is left without a single copied row."""
    db = tmp_path / "from.db"
    await fill(f"sqlite:///{db}")
    with sqlite3.connect(db) as conn:  # sqlite3 leaves foreign keys unchecked, as an old tool might have
        conn.execute("UPDATE episodes SET alert_id = 99 WHERE task_name = 'to-dli'")

    with pytest.raises(CopyRefused, match="refused a row of episodes"):
        await copy_database(f"sqlite:///{db}", store_url)

    after = await contents(store_url)
    assert after["subscriptions"] == [] and after["outbox"] == [] and after["alerts"] == []


def test_help_says_to_stop_the_bot_first(capsys) -> None:
    """`dis-bot migrate-db --help` says the bot must be stopped, TO must be empty, and how FROM and TO are written."""
    with pytest.raises(SystemExit) as exited:
        main(["migrate-db", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Stop the bot (every replica) first" in text and "TO must hold no data yet" in text
    assert "sqlite:///dis-bot.db" in text and "postgres://...?sslmode=require" in text
