"""`dis-bot migrate-db FROM TO`: copy a stopped bot's database into an empty one (SQLite to PostgreSQL, typically).

    report = await copy_database("sqlite:///dis-bot.db", "postgresql://bot:pw@db/disbot")

1. FROM and TO are opened as the bot opens DATABASE_URL at start (`connect_store`): each is created or migrated to
   the newest schema under the migration lock, so a schema-v1 SQLite file is brought up to date first, in place.
2. FROM is read in one snapshot, every table of `bot.store.tables` (columns from the metadata, never listed here),
   whole: a bot's database is small (finished rows are pruned after 14 days).
3. TO is written in one transaction, tables in foreign-key order. It must hold no row yet: copying into a live
   database would alert twice (two open episodes for one problem, two outbox rows for one message). On
   PostgreSQL the transaction first takes the migration's advisory lock, whose key is also the leader lease's:
   a bot leading TO (or FROM) holds it, so the copy is refused rather than raced.
4. Ids go on from where FROM left them: PostgreSQL's sequences, SQLite's `sqlite_sequence`, are set past the
   highest id FROM ever handed out, not only past the highest row left (an outbox id must never be reused:
   `posted_seq` compares them, and pruning deletes the newest-but-finished rows too).
5. `leadership.term` keeps the larger of both (a term that went backwards would let a deposed leader's writes
   pass the fence again). `schema_version` and `alembic_version` are each database's own.

Every refusal is a `CopyRefused` (a `ConfigError`: exit 2 from the CLI) naming FROM or TO, with passwords masked.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.errors import ConfigError, StoreUnavailable
from bot.store import connect_store
from bot.store.migrate import LOCK_KEY
from bot.store.sql import SqlStore
from bot.store.tables import leadership, metadata, schema_version
from bot.store.urls import SQLITE, parse_database_url, shown_url

#: Each database's own, never copied: the pre-Alembic version row (Alembic's table is not in the metadata).
OWN = {schema_version.name}
#: Merged rather than copied: the one leadership row, whose term must not go backwards.
MERGED = {leadership.name}
#: The tables copied row for row, parents first (episodes refer to alerts).
COPIED = [t for t in metadata.sorted_tables if t.name not in OWN | MERGED]
#: Rows per INSERT.
CHUNK = 500


class CopyRefused(ConfigError):
    """FROM or TO cannot be used for the copy (missing, unreadable, unreachable, not empty, in use): nothing was
    written to TO. The message names which, and shows URLs with their password masked."""


@dataclass
class Snapshot:
    """Everything read from FROM."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Per table with a generated id: the highest id ever handed out (a sequence may be past the last row).
    marks: dict[str, int] = field(default_factory=dict)
    term: int = 0


@dataclass(frozen=True)
class CopyReport:
    """What `copy_database` did: URLs as shown (password masked), rows per table, the term TO keeps."""

    source: str
    target: str
    tables: dict[str, int]
    term: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"from": self.source, "to": self.target, "tables": dict(self.tables)}


async def copy_database(source_url: str, target_url: str, *, lock_wait: float = 5.0) -> CopyReport:
    """Copy FROM (`source_url`) into the empty TO (`target_url`); both are DATABASE_URLs. The bot must be stopped.

    Args:
        lock_wait: seconds to wait on PostgreSQL for the bot's advisory lock: a migration elsewhere ends within
            it, a leader holds it for as long as it runs (then the copy is refused).

    Raises:
        CopyRefused: see the class; TO is left as it was (the schema made, no row copied).
    """
    started = time.monotonic()
    _check_source_exists(source_url)
    source = await _open("FROM", source_url)
    try:
        snapshot = await _read(source, lock_wait)
    finally:
        await source.close()
    target = await _open("TO", target_url)
    try:
        term = await _write(target, snapshot, lock_wait)
    finally:
        await target.close()
    return CopyReport(
        source=shown_url(source_url),
        target=shown_url(target_url),
        tables={**{t.name: len(snapshot.rows[t.name]) for t in COPIED}, leadership.name: 1},
        term=term,
        seconds=time.monotonic() - started,
    )


def _check_source_exists(url: str) -> None:
    """A FROM file that is not there is a typo, not an empty database (opening it would create one)."""
    try:
        target = parse_database_url(url)
    except ConfigError as exc:
        raise _refused("FROM", exc) from None
    if target.engine == SQLITE and target.path != ":memory:" and not Path(target.path).is_file():
        raise CopyRefused(f"FROM {target.shown!r} does not exist (no file {target.path})")


async def _open(role: str, url: str) -> SqlStore:
    """The store on `url`, created or migrated as at the bot's start."""
    try:
        return await connect_store(url)
    except ConfigError as exc:
        raise _refused(role, exc) from None
    except StoreUnavailable as exc:
        # SQLSTATE class 08: no connection at all (refused, no such host); else a lock, a full disk…
        what = "cannot be reached" if (exc.code or "").startswith("08") else "cannot be used now"
        raise CopyRefused(f"{role} {shown_url(url)!r} {what} ({exc.message})") from None


def _refused(role: str, exc: ConfigError) -> CopyRefused:
    """The store's own message, about FROM or TO: they all begin "DATABASE_URL 'url' …" (password masked)."""
    message = str(exc)
    if message.startswith("DATABASE_URL "):
        return CopyRefused(f"{role} {message.removeprefix('DATABASE_URL ')}")
    return CopyRefused(f"{role}: {message}")


@contextlib.contextmanager
def _faults(role: str, store: SqlStore) -> Iterator[None]:
    """A fault met mid-copy (the server gone, the file locked) as a refusal naming FROM or TO."""
    try:
        yield
    except StoreUnavailable as exc:
        raise CopyRefused(f"{role} {store.target.shown!r} failed during the copy ({exc.message})") from None


async def _read(source: SqlStore, lock_wait: float) -> Snapshot:
    snapshot = Snapshot()
    with _faults("FROM", source):
        async with source._connection(write=False) as tx:
            await _snapshot(tx.conn, source.is_postgresql)
            if source.is_postgresql:
                await _refuse_if_led(tx.conn, "FROM", source, lock_wait)
            for table in COPIED:
                result = await tx.conn.execute(sa.select(table).order_by(*table.primary_key.columns))
                snapshot.rows[table.name] = [dict(row) for row in result.mappings()]
            marks = await _marks(tx.conn, source.is_postgresql)
            term = await tx.conn.scalar(sa.select(sa.func.coalesce(sa.func.max(leadership.c.term), 0)))
            snapshot.term = int(term or 0)
    for table in COPIED:
        column = table.autoincrement_column
        if column is not None:
            top = max((row[column.name] for row in snapshot.rows[table.name]), default=0)
            snapshot.marks[table.name] = max(marks.get(table.name, 0), top)
    return snapshot


async def _snapshot(conn: AsyncConnection, postgresql: bool) -> None:
    """Read every table as of one moment (the store's SQLite reads are otherwise a snapshot per statement)."""
    if postgresql:
        await conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    else:
        await conn.exec_driver_sql("BEGIN")


async def _write(target: SqlStore, snapshot: Snapshot, lock_wait: float) -> int:
    """Copy `snapshot` into TO in one transaction; the term TO keeps."""
    with _faults("TO", target):
        async with target._connection(write=True) as tx:
            conn = tx.conn
            if target.is_postgresql:
                await _refuse_if_led(conn, "TO", target, lock_wait)
            await _refuse_if_not_empty(conn, target)
            for table in COPIED:
                rows = snapshot.rows[table.name]
                for start in range(0, len(rows), CHUNK):
                    try:
                        await conn.execute(table.insert(), rows[start : start + CHUNK])
                    except sa.exc.IntegrityError as exc:
                        # FROM broke a rule TO enforces (an episode of an alert that is gone): say which, copy nothing.
                        detail = str(exc.orig).strip().splitlines()[0]
                        raise CopyRefused(
                            f"TO {target.target.shown!r} refused a row of {table.name}: {detail}"
                        ) from None
            theirs = await _marks(conn, target.is_postgresql)
            for name, mark in snapshot.marks.items():
                if mark > theirs.get(name, 0):
                    await _set_mark(conn, target.is_postgresql, name, mark)
            own = await conn.scalar(sa.select(leadership.c.term).where(leadership.c.id == 1))
            term = max(snapshot.term, int(own or 0))
            if own is None:  # the migration inserts the row; a hand-made database may lack it
                await conn.execute(leadership.insert().values(id=1, term=term))
            elif term != own:
                await conn.execute(leadership.update().where(leadership.c.id == 1).values(term=term))
            tx.changed = True
    return term


async def _refuse_if_led(conn: AsyncConnection, role: str, store: SqlStore, lock_wait: float) -> None:
    """Take the bot's advisory lock for this transaction, waiting `lock_wait` at most: a running leader holds it.

    The key is the migration's, and the leader lease's too (`bot.leader.LOCK_KEY`): a lease is held for as long as
    its replica leads, a migration for well under a second.
    """
    before = await conn.scalar(sa.text("SELECT current_setting('lock_timeout')"))
    await conn.execute(
        sa.text("SELECT set_config('lock_timeout', :ms, true)"), {"ms": f"{max(1, int(lock_wait * 1000))}"}
    )
    try:
        await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    except sa.exc.DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        raise CopyRefused(
            f"{role} {store.target.shown!r} is in use: a dis-bot holds its lock (the leader of running replicas); "
            "stop every replica, then copy"
        ) from None
    await conn.execute(sa.text("SELECT set_config('lock_timeout', :before, true)"), {"before": before})


async def _refuse_if_not_empty(conn: AsyncConnection, target: SqlStore) -> None:
    counts = {t.name: int(await conn.scalar(sa.select(sa.func.count()).select_from(t)) or 0) for t in COPIED}
    held = ", ".join(f"{name} {n}" for name, n in counts.items() if n)
    if held:
        raise CopyRefused(
            f"TO {target.target.shown!r} already holds rows ({held}): migrate-db copies only into an empty "
            "database (copying into a live one would alert twice)"
        )


async def _marks(conn: AsyncConnection, postgresql: bool) -> dict[str, int]:
    """The highest id each table's generator has handed out (0 for none)."""
    marks: dict[str, int] = {}
    if not postgresql:
        if await conn.run_sync(lambda c: sa.inspect(c).has_table("sqlite_sequence")):
            rows = await conn.execute(sa.text("SELECT name, seq FROM sqlite_sequence"))
            marks = {name: int(seq or 0) for name, seq in rows}
        return marks
    for table in COPIED:
        column = table.autoincrement_column
        sequence = await _sequence(conn, table.name, column.name) if column is not None else None
        if sequence:
            # The name is the server's own, quoted by it. A sequence not used yet reports its start value with
            # is_called false: nothing handed out.
            last, called = (await conn.execute(sa.text(f"SELECT last_value, is_called FROM {sequence}"))).one()
            marks[table.name] = int(last) if called else int(last) - 1
    return marks


async def _sequence(conn: AsyncConnection, table: str, column: str) -> str | None:
    """The name of the sequence behind a serial/identity column, as the server quotes it."""
    stmt = sa.text("SELECT pg_get_serial_sequence(:table, :column)")
    name = await conn.scalar(stmt, {"table": table, "column": column})
    return str(name) if name is not None else None


async def _set_mark(conn: AsyncConnection, postgresql: bool, table: str, mark: int) -> None:
    """Make the next generated id of `table` `mark + 1`."""
    if postgresql:
        column = metadata.tables[table].autoincrement_column
        assert column is not None
        sequence = await _sequence(conn, table, column.name)
        await conn.execute(sa.text("SELECT setval(:sequence, :mark)"), {"sequence": sequence, "mark": mark})
        return
    await conn.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = :table"), {"table": table})
    await conn.execute(
        sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:table, :mark)"), {"table": table, "mark": mark}
    )
