"""Schema migrations at start: Alembic's scripts in `bot/store/migrations`, run under a lock.

Two replicas starting at once on an empty database both come up: the one that gets the lock migrates, the
other waits for it and then finds nothing to do. The lock is PostgreSQL's transaction-level advisory lock, and
on SQLite the migration's own `BEGIN IMMEDIATE` (one writer at a time). A database already at the newest
revision is only read, so a lock another process holds (a backup) does not stop a start.

A SQLite file of the store before Alembic (`schema_version` 1, no `alembic_version`) has exactly the baseline
revision's tables: it is stamped at that revision and migrated on from there, its data kept.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.store.sql import SqlStore

logger = logging.getLogger("bot.store")

#: The revision that creates the tables of the pre-Alembic store (`schema_version` 1).
BASELINE = "0001"
#: pg_advisory_xact_lock key of the migration (any constant of ours: "disbot" in ASCII).
LOCK_KEY = 0x646973626F74

SCRIPTS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    """Alembic's configuration for the bot's scripts (no alembic.ini: they ship inside the package)."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return config


def head() -> str:
    """The newest revision this bot knows."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


async def migrate(store: SqlStore) -> None:
    """Bring the store's database to `head()`.

    Raises:
        StoreUnavailable: the database refused (locked, unreachable, read-only while it needed migrating).
        ConfigError: it was migrated by a newer bot (a revision this one does not know).
    """
    newest = head()
    async with store._connection(write=False) as tx:
        current = await tx.conn.run_sync(_revisions)
    if current == (newest,):
        return
    busy = int(store.migrate_timeout * 1000)
    async with store._connection(write=True, busy_ms=busy) as tx:
        if store.is_postgresql:
            await tx.conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        before = await tx.conn.run_sync(_upgrade)
        tx.changed = True
    logger.info("store.migrated", extra={"engine": store.target.engine, "from": ",".join(before) or None, "to": newest})


def _revisions(conn: sa.Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(conn).get_current_heads())


def _upgrade(conn: sa.Connection) -> tuple[str, ...]:
    """Stamp a pre-Alembic file, then upgrade (inside the caller's locked transaction); the revisions before."""
    config = alembic_config()
    config.attributes["connection"] = conn
    scripts = ScriptDirectory.from_config(config)
    current = _revisions(conn)
    for revision in current:
        if revision not in {s.revision for s in scripts.walk_revisions()}:
            raise ConfigError(
                f"the database has schema revision {revision}, newer than this bot ({head()}): upgrade the bot"
            )
    if not current:
        legacy = _legacy_version(conn)
        if legacy is not None and legacy > 1:
            raise ConfigError(f"the database has schema version {legacy}, newer than this bot (1)")
        if legacy == 1:
            command.stamp(config, BASELINE)
            current = ("schema_version 1",)
    command.upgrade(config, "head")
    return current


def _legacy_version(conn: sa.Connection) -> int | None:
    """`schema_version` of a store made before Alembic, None when there is none."""
    if not sa.inspect(conn).has_table("schema_version"):
        return None
    version = conn.execute(sa.text("SELECT version FROM schema_version")).scalar()
    return int(version) if version is not None else None
