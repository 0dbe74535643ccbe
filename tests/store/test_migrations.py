"""Migrations: a new database of either engine gets the tables of `bot.store.tables`, two replicas starting at once
both come up, and a SQLite file of the store before Alembic (schema_version 1) is migrated with its data."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot.store import connect_store
from bot.store.migrate import head
from bot.store.tables import metadata

#: A file written by the store before Alembic (schema_version 1), with a watch, a posted alert, its episode, a
#: delivered and a pending outbox row, a snooze and a stream's failures.
V1_FILE = Path(__file__).with_name("data") / "schema-v1.db"


async def test_a_migrated_database_has_exactly_the_tables_of_the_code(store_url: str) -> None:
    """After the migrations, the database and `bot.store.tables` agree: no column, index or type differs."""
    store = await connect_store(store_url)

    def differences(conn: sa.Connection) -> list[object]:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        return list(compare_metadata(context, metadata))

    async with store.engine.connect() as conn:
        diff = await conn.run_sync(differences)
    await store.close()
    assert diff == []


async def test_two_replicas_starting_together_on_an_empty_database_both_come_up(store_url: str) -> None:
    """Two stores migrating one empty database at the same moment both open; the schema is made once, at head,
    with the one leadership row."""
    first, second = await asyncio.gather(connect_store(store_url), connect_store(store_url))
    try:
        await first.upsert_subscription("C1", "orders", now=1.0)
        assert [s.stream for s in await second.subscriptions()] == ["orders"]
        async with second.engine.connect() as conn:
            versions = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalars().all()
            leadership = (await conn.execute(sa.text("SELECT id, term, holder FROM leadership"))).all()
        assert versions == [head()]
        assert [tuple(row) for row in leadership] == [(1, 0, None)]
    finally:
        await first.close()
        await second.close()


async def test_a_schema_version_1_sqlite_file_is_migrated_not_dropped(tmp_path: Path) -> None:
    """The pre-Alembic file keeps its watch, alert, episode, outbox, snooze and stream health, and gains the
    leadership table; a release before Alembic could still read its schema_version."""
    db = tmp_path / "bot.db"
    shutil.copy(V1_FILE, db)
    store = await connect_store(f"sqlite:///{db}")
    try:
        [sub] = await store.subscriptions()
        assert (sub.channel_id, sub.stream, sub.mention, sub.baseline_pending) == (
            "C0OPS",
            "orders",
            "<!subteam^S1>",
            False,
        )
        [alert] = await store.open_alerts()
        assert alert.ts == "1700000102.000100" and alert.posted_seq == 1
        [episode] = await store.episodes_for_alert(alert.id)
        assert (episode.task_name, episode.state, episode.previous_state) == ("to-obs", "ERROR", "RUNNING")
        assert [(o.key, o.state, o.payload) for o in await store.outbox()] == [
            ("alert:1:post", "done", {}),
            ("alert:1:ack", "pending", {"text": "acked by <@U2>"}),
        ]
        assert (await store.task_states())["orders"]["to-obs"].last_transfer_ms == 1_700_000_000_123
        assert [z.by for z in await store.snoozes(now=1_700_000_000.0)] == ["U2"]
        assert (await store.stream_health())["orders"].failures == 2
        # New rows continue the old ids (AUTOINCREMENT kept): an outbox id is never reused.
        item = await store.enqueue("alert:1:update:x", "C0OPS", "update", now=1_700_000_200.0, alert_id=alert.id)
        assert item is not None and item.id == 3
    finally:
        await store.close()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == head()
        assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == 1
        assert conn.execute("SELECT id, term FROM leadership").fetchall() == [(1, 0)]
    finally:
        conn.close()
