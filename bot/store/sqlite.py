"""The SQLite store: stdlib `sqlite3`, one connection, WAL mode, schema created and migrated on open.

Calls are synchronous and made straight from the event loop. That is a deliberate choice: every call is one
or two indexed statements on a local file (tens of microseconds; a commit in WAL mode with
`synchronous=NORMAL` does not fsync), so a thread hop would cost more than it saves. `synchronous=NORMAL`
survives a crash of the bot but may lose the last commits on power loss; that costs at worst a repeated
Slack message, never a missed one (the first poll after start finds the problem again).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import quote

from bot.errors import StoreUnavailable
from bot.store.base import (
    DEAD,
    DONE,
    KIND_TASK,
    OUT_POST,
    PARKED,
    PENDING,
    SENDING,
    SOURCE_COMMAND,
    SOURCE_CONFIG,
    Alert,
    Episode,
    KnownTask,
    OutboxItem,
    Snooze,
    StreamHealth,
    Subscription,
    iter_chunks,
)
from bot.store.faults import StoreFaults

SCHEMA_VERSION = 1

#: Each entry migrates from version i to i+1 (index 0 creates the first schema).
MIGRATIONS: list[str] = [
    """
    CREATE TABLE subscriptions (
        channel_id TEXT NOT NULL,
        stream TEXT NOT NULL,
        mention TEXT,
        source TEXT NOT NULL,
        created_by TEXT,
        created_at REAL NOT NULL,
        baseline_pending INTEGER NOT NULL DEFAULT 1,
        delivery_error TEXT,
        delivery_error_at REAL,
        PRIMARY KEY (channel_id, stream)
    );
    CREATE INDEX subscriptions_stream ON subscriptions (stream);

    CREATE TABLE task_states (
        stream TEXT NOT NULL,
        task_name TEXT NOT NULL,
        task_id TEXT,
        state TEXT NOT NULL,
        since REAL NOT NULL,
        last_transfer_ms INTEGER,
        PRIMARY KEY (stream, task_name)
    );

    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        channel_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        ts TEXT,
        created_at REAL NOT NULL,
        posted_at REAL,
        posted_seq INTEGER,
        mention TEXT,
        acked_by TEXT,
        acked_at REAL,
        last_reminder_at REAL,
        reminders INTEGER NOT NULL DEFAULT 0,
        resolved_at REAL
    );
    CREATE INDEX alerts_open ON alerts (resolved_at);

    CREATE TABLE episodes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        channel_id TEXT NOT NULL,
        stream TEXT NOT NULL,
        task_name TEXT NOT NULL,
        kind TEXT NOT NULL,
        task_id TEXT,
        state TEXT NOT NULL,
        problem_state TEXT NOT NULL,
        previous_state TEXT,
        baseline INTEGER NOT NULL DEFAULT 0,
        started_at REAL NOT NULL,
        ended_at REAL,
        end_state TEXT,
        reason TEXT,
        last_transfer_ms INTEGER,
        alert_id INTEGER REFERENCES alerts (id),
        recovery_noted INTEGER NOT NULL DEFAULT 0
    );
    -- At most one open episode per task per channel: the heart of "never alert twice".
    CREATE UNIQUE INDEX episodes_one_open ON episodes (channel_id, stream, task_name, kind) WHERE ended_at IS NULL;
    CREATE INDEX episodes_alert ON episodes (alert_id);
    CREATE INDEX episodes_unnoted ON episodes (recovery_noted) WHERE ended_at IS NOT NULL AND recovery_noted = 0;

    CREATE TABLE snoozes (
        channel_id TEXT NOT NULL,
        stream TEXT NOT NULL,
        task_name TEXT NOT NULL,
        until REAL NOT NULL,
        by TEXT,
        PRIMARY KEY (channel_id, stream, task_name)
    );

    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        channel_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        alert_id INTEGER,
        payload TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before REAL NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        delivered_at REAL,
        last_error TEXT
    );
    CREATE INDEX outbox_pending ON outbox (state, channel_id, id);
    CREATE INDEX outbox_alert ON outbox (alert_id, kind, state);

    CREATE TABLE stream_health (
        stream TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        first_failure_at REAL,
        error_kind TEXT,
        error TEXT,
        warned INTEGER NOT NULL DEFAULT 0
    );
    """,
]


class SqliteStore:
    """`Store` on one SQLite connection (a file, or `:memory:` for tests).

    Every SQLite *fault* (locked, disk full, read-only, I/O error) leaves as `StoreUnavailable` and is reported to
    `faults`; a commit reports that writes work. While writes fail the store does not wait for the lock
    (`busy_timeout` applies again after the next commit): the calls run on the event loop, and a second wait
    per poll and per outbox row would freeze the bot for as long as another process holds the database.

    Args:
        path: a file path or ":memory:".
        uri_query: SQLite URI parameters (`mode=ro`, `mode=rw`) from DATABASE_URL's `?...` part.
        busy_timeout: seconds a write waits for another connection's lock before it fails.
        faults: the tracker to report to (a new one by default; `/readyz` reads it).
    """

    def __init__(
        self,
        path: str,
        *,
        uri_query: str = "",
        busy_timeout: float = 1.0,
        faults: StoreFaults | None = None,
    ) -> None:
        self.path = path
        self.faults = faults or StoreFaults()
        self._busy_ms = max(0, int(busy_timeout * 1000))
        self._waits_for_lock = True
        target, uri = path, False
        if uri_query and path != ":memory:":
            target, uri = f"file:{quote(path)}?{uri_query}", True
        # Autocommit mode: transactions are explicit (`BEGIN IMMEDIATE` in `transaction()`).
        self._conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False, uri=uri)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = 0
        if path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        self._migrate()

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit everything inside together; nested blocks join the outer transaction.

        Raises:
            StoreUnavailable: SQLite refused to begin, write or commit (the transaction is rolled back).
        """
        with self._lock:
            if self._depth > 0:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self._raise_fault(exc)
                raise
            self._depth = 1
            changes = self._conn.total_changes
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, sqlite3.Error):
                    self._raise_fault(exc)
                raise
            finally:
                self._depth = 0
            if self._conn.total_changes != changes:
                # Only a commit that wrote proves writes work: an empty one (a steady poll) succeeds on a full disk.
                self._wrote()

    def check_writable(self) -> None:
        """Write and commit one row that changes nothing: proves the database takes writes now.

        Raises:
            StoreUnavailable: it does not (`read_only` tells a read-only database from a passing fault).
        """
        with self.transaction():
            self._conn.execute("UPDATE schema_version SET version = version")

    def _rollback(self) -> None:
        # SQLite may have rolled back already (a full disk or an I/O error ends the transaction itself).
        if self._conn.in_transaction:
            with suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")

    def _raise_fault(self, exc: sqlite3.Error) -> None:
        """Raise `StoreUnavailable` (and report it) if `exc` is a fault; return if it is a bug (caller re-raises)."""
        if not _is_fault(exc):
            return
        error = StoreUnavailable(str(exc), code=getattr(exc, "sqlite_errorname", None))
        if self._waits_for_lock:
            # Fail fast until a write works again: the next attempt (next poll, outbox retry) is the retry.
            self._waits_for_lock = False
            with suppress(sqlite3.Error):
                self._conn.execute("PRAGMA busy_timeout=0")
        self.faults.failed(error)
        raise error from exc

    def _wrote(self) -> None:
        if not self._waits_for_lock:
            self._waits_for_lock = True
            with suppress(sqlite3.Error):
                self._conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        self.faults.wrote()

    @property
    def schema_version(self) -> int:
        row = self._conn.execute("SELECT version FROM schema_version").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        try:
            current = self.schema_version
        except sqlite3.OperationalError:  # no schema_version table: a new database
            current = 0
        if current == SCHEMA_VERSION:
            return  # nothing to write: a lock another process holds right now does not stop the start
        with self.transaction():
            self._conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            version = self.schema_version
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"the database {self.path} has schema version {version}, newer than this bot ({SCHEMA_VERSION})"
                )
            for step in MIGRATIONS[version:]:
                for statement in _statements(step):
                    self._conn.execute(statement)
            if version == 0:
                self._conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif version < SCHEMA_VERSION:
                self._conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self.transaction():
            return self._conn.execute(sql, params)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                if self._depth == 0:  # inside a transaction, the transaction reports it once, as it ends
                    self._raise_fault(exc)
                raise

    # ------------------------------------------------------------------ subscriptions

    def upsert_subscription(
        self,
        channel_id: str,
        stream: str,
        *,
        now: float,
        mention: str | None = None,
        set_mention: bool = False,
        source: str = SOURCE_COMMAND,
        created_by: str | None = None,
    ) -> tuple[Subscription, bool]:
        with self.transaction():
            row = self._conn.execute(
                "SELECT * FROM subscriptions WHERE channel_id = ? AND stream = ?", (channel_id, stream)
            ).fetchone()
            if row is None:
                self._conn.execute(
                    "INSERT INTO subscriptions (channel_id, stream, mention, source, created_by, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (channel_id, stream, mention if set_mention else None, source, created_by, now),
                )
                created = True
            else:
                new_source = SOURCE_COMMAND if SOURCE_COMMAND in (row["source"], source) else SOURCE_CONFIG
                self._conn.execute(
                    "UPDATE subscriptions SET source = ?, mention = ? WHERE channel_id = ? AND stream = ?",
                    (new_source, mention if set_mention else row["mention"], channel_id, stream),
                )
                created = False
            sub = self._conn.execute(
                "SELECT * FROM subscriptions WHERE channel_id = ? AND stream = ?", (channel_id, stream)
            ).fetchone()
        return _subscription(sub), created

    def remove_subscription(self, channel_id: str, stream: str) -> bool:
        cur = self._exec("DELETE FROM subscriptions WHERE channel_id = ? AND stream = ?", (channel_id, stream))
        return cur.rowcount > 0

    def subscriptions(self, *, channel_id: str | None = None, stream: str | None = None) -> list[Subscription]:
        where, params = _where(channel_id=channel_id, stream=stream)
        rows = self._rows(f"SELECT * FROM subscriptions{where} ORDER BY channel_id, stream", params)
        return [_subscription(r) for r in rows]

    def set_baseline_done(self, channel_id: str, stream: str) -> None:
        self._exec(
            "UPDATE subscriptions SET baseline_pending = 0 WHERE channel_id = ? AND stream = ?", (channel_id, stream)
        )

    def set_delivery_error(self, channel_id: str, error: str | None, now: float) -> None:
        self._exec(
            "UPDATE subscriptions SET delivery_error = ?, delivery_error_at = ? WHERE channel_id = ?",
            (error, now if error else None, channel_id),
        )

    # ------------------------------------------------------------------ task states

    def task_states(self) -> dict[str, dict[str, KnownTask]]:
        out: dict[str, dict[str, KnownTask]] = {}
        for r in self._rows("SELECT * FROM task_states"):
            out.setdefault(r["stream"], {})[r["task_name"]] = KnownTask(
                stream=r["stream"],
                task_name=r["task_name"],
                state=r["state"],
                task_id=r["task_id"],
                since=r["since"],
                last_transfer_ms=r["last_transfer_ms"],
            )
        return out

    def save_task_states(self, stream: str, upsert: Iterable[KnownTask], delete: Iterable[str] = ()) -> None:
        rows = [(t.stream, t.task_name, t.task_id, t.state, t.since, t.last_transfer_ms) for t in upsert]
        gone = [(stream, name) for name in delete]
        if not rows and not gone:
            return
        with self.transaction():
            self._conn.executemany(
                "INSERT INTO task_states (stream, task_name, task_id, state, since, last_transfer_ms) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (stream, task_name) DO UPDATE SET "
                "task_id = excluded.task_id, state = excluded.state, since = excluded.since, "
                "last_transfer_ms = excluded.last_transfer_ms",
                rows,
            )
            self._conn.executemany("DELETE FROM task_states WHERE stream = ? AND task_name = ?", gone)

    def forget_stream(self, stream: str) -> None:
        with self.transaction():
            self._conn.execute("DELETE FROM task_states WHERE stream = ?", (stream,))
            self._conn.execute("DELETE FROM stream_health WHERE stream = ?", (stream,))

    # ------------------------------------------------------------------ episodes

    def open_episode(
        self,
        *,
        channel_id: str,
        stream: str,
        task_name: str,
        kind: str,
        state: str,
        started_at: float,
        task_id: str | None = None,
        previous_state: str | None = None,
        baseline: bool = False,
        reason: str | None = None,
        last_transfer_ms: int | None = None,
    ) -> tuple[Episode, bool]:
        with self.transaction():
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO episodes (channel_id, stream, task_name, kind, task_id, state, problem_state, "
                "previous_state, baseline, started_at, reason, last_transfer_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    channel_id,
                    stream,
                    task_name,
                    kind,
                    task_id,
                    state,
                    state,
                    previous_state,
                    int(baseline),
                    started_at,
                    reason,
                    last_transfer_ms,
                ),
            )
            created = cur.rowcount > 0
            row = self._conn.execute(
                "SELECT * FROM episodes WHERE channel_id = ? AND stream = ? AND task_name = ? AND kind = ? "
                "AND ended_at IS NULL",
                (channel_id, stream, task_name, kind),
            ).fetchone()
        return _episode(row), created

    def open_episodes(
        self, *, channel_id: str | None = None, stream: str | None = None, kind: str | None = None
    ) -> list[Episode]:
        where, params = _where(channel_id=channel_id, stream=stream, kind=kind)
        where = (where + " AND" if where else " WHERE") + " ended_at IS NULL"
        return [_episode(r) for r in self._rows(f"SELECT * FROM episodes{where} ORDER BY id", params)]

    def unalerted_episodes(self) -> list[Episode]:
        rows = self._rows("SELECT * FROM episodes WHERE ended_at IS NULL AND alert_id IS NULL ORDER BY id")
        return [_episode(r) for r in rows]

    def unnoted_recoveries(self) -> list[Episode]:
        rows = self._rows(
            "SELECT * FROM episodes WHERE ended_at IS NOT NULL AND recovery_noted = 0 AND alert_id IS NOT NULL "
            "ORDER BY id"
        )
        return [_episode(r) for r in rows]

    def episodes_for_alert(self, alert_id: int) -> list[Episode]:
        rows = self._rows("SELECT * FROM episodes WHERE alert_id = ? ORDER BY id", (alert_id,))
        return [_episode(r) for r in rows]

    def update_episode(self, episode_id: int, *, state: str) -> None:
        self._exec("UPDATE episodes SET state = ? WHERE id = ?", (state, episode_id))

    def close_episode(self, episode_id: int, *, ended_at: float, end_state: str, note: bool = True) -> None:
        self._exec(
            "UPDATE episodes SET ended_at = ?, end_state = ?, recovery_noted = ? WHERE id = ? AND ended_at IS NULL",
            (ended_at, end_state, 0 if note else 1, episode_id),
        )

    def mark_recoveries_noted(self, episode_ids: Sequence[int]) -> None:
        with self.transaction():
            for chunk in iter_chunks(list(episode_ids), 500):
                marks = ",".join("?" * len(chunk))
                self._conn.execute(f"UPDATE episodes SET recovery_noted = 1 WHERE id IN ({marks})", chunk)

    def attach_episodes(self, episode_ids: Sequence[int], alert_id: int) -> None:
        with self.transaction():
            for chunk in iter_chunks(list(episode_ids), 500):
                marks = ",".join("?" * len(chunk))
                self._conn.execute(f"UPDATE episodes SET alert_id = ? WHERE id IN ({marks})", (alert_id, *chunk))

    # ------------------------------------------------------------------ alerts

    def create_alert(self, channel_id: str, kind: str, *, now: float, mention: str | None = None) -> Alert:
        cur = self._exec(
            "INSERT INTO alerts (channel_id, kind, created_at, mention) VALUES (?, ?, ?, ?)",
            (channel_id, kind, now, mention),
        )
        alert = self.alert(int(cur.lastrowid or 0))
        assert alert is not None
        return alert

    def alert(self, alert_id: int) -> Alert | None:
        rows = self._rows("SELECT * FROM alerts WHERE id = ?", (alert_id,))
        return _alert(rows[0]) if rows else None

    def open_alerts(self, kind: str | None = None) -> list[Alert]:
        where, params = _where(kind=kind)
        where = (where + " AND" if where else " WHERE") + " resolved_at IS NULL"
        return [_alert(r) for r in self._rows(f"SELECT * FROM alerts{where} ORDER BY id", params)]

    def set_alert_posted(self, alert_id: int, ts: str, now: float, seq: int = 0) -> None:
        self._exec("UPDATE alerts SET ts = ?, posted_at = ?, posted_seq = ? WHERE id = ?", (ts, now, seq, alert_id))

    def set_alert_mention(self, alert_id: int, mention: str | None) -> None:
        self._exec("UPDATE alerts SET mention = ? WHERE id = ?", (mention, alert_id))

    def ack_alert(self, alert_id: int, user_id: str, now: float) -> bool:
        cur = self._exec(
            "UPDATE alerts SET acked_by = ?, acked_at = ? WHERE id = ? AND acked_by IS NULL", (user_id, now, alert_id)
        )
        return cur.rowcount > 0

    def mark_reminded(self, alert_id: int, now: float) -> int:
        with self.transaction():
            self._conn.execute(
                "UPDATE alerts SET reminders = reminders + 1, last_reminder_at = ? WHERE id = ?", (now, alert_id)
            )
            row = self._conn.execute("SELECT reminders FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return int(row[0]) if row else 0

    def resolve_alert(self, alert_id: int, now: float) -> None:
        self._exec("UPDATE alerts SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL", (now, alert_id))

    # ------------------------------------------------------------------ snoozes

    def snooze(self, channel_id: str, stream: str, task_name: str, *, until: float, by: str | None) -> None:
        self._exec(
            "INSERT INTO snoozes (channel_id, stream, task_name, until, by) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (channel_id, stream, task_name) DO UPDATE SET until = excluded.until, by = excluded.by",
            (channel_id, stream, task_name, until, by),
        )

    def snoozes(self, *, now: float, channel_id: str | None = None) -> list[Snooze]:
        where, params = _where(channel_id=channel_id)
        where = (where + " AND" if where else " WHERE") + " until > ?"
        rows = self._rows(f"SELECT * FROM snoozes{where} ORDER BY until", (*params, now))
        return [Snooze(r["channel_id"], r["stream"], r["task_name"], r["until"], r["by"]) for r in rows]

    # ------------------------------------------------------------------ outbox

    def enqueue(
        self,
        key: str,
        channel_id: str,
        kind: str,
        *,
        now: float,
        alert_id: int | None = None,
        payload: dict[str, Any] | None = None,
    ) -> OutboxItem | None:
        with self.transaction():
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO outbox (key, channel_id, kind, alert_id, payload, state, not_before, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, channel_id, kind, alert_id, json.dumps(payload or {}), PENDING, now, now),
            )
            if cur.rowcount == 0:
                return None
            row = self._conn.execute("SELECT * FROM outbox WHERE id = ?", (cur.lastrowid,)).fetchone()
        return _outbox(row)

    def pending_update(self, alert_id: int) -> bool:
        rows = self._rows(
            "SELECT 1 FROM outbox WHERE alert_id = ? AND kind = 'update' AND state = ? LIMIT 1",
            (alert_id, PENDING),
        )
        return bool(rows)

    def outbox_heads(self) -> list[OutboxItem]:
        rows = self._rows(
            # Per channel: the oldest pending alert post, else the oldest other pending row. A row waits while
            # an older row of its own alert is unfinished (its post and its earlier edits and replies, parked
            # ones too); a channel with a row being sent offers nothing.
            "SELECT o.* FROM outbox o JOIN ("
            " SELECT COALESCE(MIN(CASE WHEN c.kind = ? THEN c.id END), MIN(c.id)) AS id FROM outbox c"
            " WHERE c.state = ?"
            " AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.alert_id = c.alert_id AND e.id < c.id"
            " AND e.state IN (?, ?, ?))"
            " AND c.channel_id NOT IN (SELECT channel_id FROM outbox WHERE state = ?)"
            " GROUP BY c.channel_id"
            ") h ON o.id = h.id ORDER BY o.id",
            (OUT_POST, PENDING, PENDING, SENDING, PARKED, SENDING),
        )
        return [_outbox(r) for r in rows]

    def outbox_item(self, item_id: int) -> OutboxItem | None:
        rows = self._rows("SELECT * FROM outbox WHERE id = ?", (item_id,))
        return _outbox(rows[0]) if rows else None

    def outbox_seq(self) -> int:
        rows = self._rows("SELECT COALESCE(MAX(id), 0) FROM outbox")
        return int(rows[0][0])

    def outbox_depth(self) -> int:
        rows = self._rows("SELECT COUNT(*) FROM outbox WHERE state IN (?, ?, ?)", (PENDING, SENDING, PARKED))
        return int(rows[0][0])

    def outbox(self, *, state: str | None = None, channel_id: str | None = None) -> list[OutboxItem]:
        where, params = _where(state=state, channel_id=channel_id)
        return [_outbox(r) for r in self._rows(f"SELECT * FROM outbox{where} ORDER BY id", params)]

    def mark_sending(self, item_id: int) -> None:
        self._exec("UPDATE outbox SET state = ?, attempts = attempts + 1 WHERE id = ?", (SENDING, item_id))

    def mark_done(self, item_id: int, now: float) -> None:
        self._exec(
            "UPDATE outbox SET state = ?, delivered_at = ?, last_error = NULL WHERE id = ?", (DONE, now, item_id)
        )

    def mark_retry(self, item_id: int, *, not_before: float, error: str) -> None:
        self._exec(
            "UPDATE outbox SET state = ?, not_before = ?, last_error = ? WHERE id = ?",
            (PENDING, not_before, error, item_id),
        )

    def park_channel(self, channel_id: str, error: str, *, not_before: float) -> int:
        cur = self._exec(
            "UPDATE outbox SET state = ?, not_before = ?, last_error = ? WHERE channel_id = ? AND state IN (?, ?)",
            (PARKED, not_before, error, channel_id, PENDING, SENDING),
        )
        return cur.rowcount

    def parked_channels(self) -> dict[str, float]:
        """Channels with parked rows, and when each may be tried again."""
        rows = self._rows(
            "SELECT channel_id, MIN(not_before) FROM outbox WHERE state = ? GROUP BY channel_id", (PARKED,)
        )
        return {r[0]: float(r[1]) for r in rows}

    def mark_dead(self, item_id: int, error: str) -> None:
        self._exec("UPDATE outbox SET state = ?, last_error = ? WHERE id = ?", (DEAD, error, item_id))

    def unpark(self, channel_id: str, now: float) -> int:
        cur = self._exec(
            "UPDATE outbox SET state = ?, not_before = ? WHERE channel_id = ? AND state = ?",
            (PENDING, now, channel_id, PARKED),
        )
        return cur.rowcount

    def recover_sending(self) -> int:
        return self._exec("UPDATE outbox SET state = ? WHERE state = ?", (PENDING, SENDING)).rowcount

    # ------------------------------------------------------------------ stream health

    def stream_health(self) -> dict[str, StreamHealth]:
        return {
            r["stream"]: StreamHealth(
                stream=r["stream"],
                failures=r["failures"],
                first_failure_at=r["first_failure_at"],
                error_kind=r["error_kind"],
                error=r["error"],
                warned=bool(r["warned"]),
            )
            for r in self._rows("SELECT * FROM stream_health")
        }

    def put_stream_health(self, health: StreamHealth) -> None:
        self._exec(
            "INSERT INTO stream_health (stream, failures, first_failure_at, error_kind, error, warned) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (stream) DO UPDATE SET failures = excluded.failures, "
            "first_failure_at = excluded.first_failure_at, error_kind = excluded.error_kind, "
            "error = excluded.error, warned = excluded.warned",
            (
                health.stream,
                health.failures,
                health.first_failure_at,
                health.error_kind,
                health.error,
                int(health.warned),
            ),
        )

    def clear_stream_health(self, stream: str) -> None:
        self._exec("DELETE FROM stream_health WHERE stream = ?", (stream,))

    # ------------------------------------------------------------------ housekeeping

    def prune(self, before: float) -> int:
        with self.transaction():
            n = self._conn.execute(
                "DELETE FROM outbox WHERE state IN (?, ?) AND created_at < ?", (DONE, DEAD, before)
            ).rowcount
            n += self._conn.execute(
                "DELETE FROM episodes WHERE ended_at IS NOT NULL AND ended_at < ? AND recovery_noted = 1 AND "
                "(alert_id IS NULL OR alert_id IN (SELECT id FROM alerts WHERE resolved_at IS NOT NULL))",
                (before,),
            ).rowcount
            n += self._conn.execute(
                "DELETE FROM alerts WHERE resolved_at IS NOT NULL AND resolved_at < ? "
                "AND id NOT IN (SELECT alert_id FROM episodes WHERE alert_id IS NOT NULL) "
                "AND id NOT IN (SELECT alert_id FROM outbox WHERE alert_id IS NOT NULL AND state IN (?, ?, ?))",
                (before, PENDING, SENDING, PARKED),
            ).rowcount
            n += self._conn.execute("DELETE FROM snoozes WHERE until < ?", (before,)).rowcount
        return n


# ---------------------------------------------------------------------- row mapping


#: SQLite's error names (and their extended forms, `SQLITE_IOERR_WRITE`) that say "the database cannot serve this
#: now", as opposed to a bug in our SQL or a constraint we broke.
_FAULT_CODES = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_FULL",
    "SQLITE_READONLY",
    "SQLITE_IOERR",
    "SQLITE_CANTOPEN",
    "SQLITE_CORRUPT",
    "SQLITE_NOTADB",
    "SQLITE_PROTOCOL",
    "SQLITE_NOMEM",
    "SQLITE_PERM",
    "SQLITE_NOLFS",
)


def _is_fault(exc: sqlite3.Error) -> bool:
    return str(getattr(exc, "sqlite_errorname", "")).startswith(_FAULT_CODES)


def _statements(script: str) -> list[str]:
    """Split a migration into statements (no `;` inside our literals or comments' code)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _where(**filters: object) -> tuple[str, tuple[object, ...]]:
    parts = [(k, v) for k, v in filters.items() if v is not None]
    if not parts:
        return "", ()
    return " WHERE " + " AND ".join(f"{k} = ?" for k, _ in parts), tuple(v for _, v in parts)


def _subscription(r: sqlite3.Row) -> Subscription:
    return Subscription(
        channel_id=r["channel_id"],
        stream=r["stream"],
        mention=r["mention"],
        source=r["source"],
        created_by=r["created_by"],
        created_at=r["created_at"],
        baseline_pending=bool(r["baseline_pending"]),
        delivery_error=r["delivery_error"],
        delivery_error_at=r["delivery_error_at"],
    )


def _episode(r: sqlite3.Row) -> Episode:
    return Episode(
        id=r["id"],
        channel_id=r["channel_id"],
        stream=r["stream"],
        task_name=r["task_name"],
        kind=r["kind"] or KIND_TASK,
        task_id=r["task_id"],
        state=r["state"],
        problem_state=r["problem_state"],
        previous_state=r["previous_state"],
        baseline=bool(r["baseline"]),
        started_at=r["started_at"],
        ended_at=r["ended_at"],
        end_state=r["end_state"],
        reason=r["reason"],
        last_transfer_ms=r["last_transfer_ms"],
        alert_id=r["alert_id"],
        recovery_noted=bool(r["recovery_noted"]),
    )


def _alert(r: sqlite3.Row) -> Alert:
    return Alert(
        id=r["id"],
        channel_id=r["channel_id"],
        kind=r["kind"],
        ts=r["ts"],
        created_at=r["created_at"],
        posted_at=r["posted_at"],
        posted_seq=r["posted_seq"] or 0,
        mention=r["mention"],
        acked_by=r["acked_by"],
        acked_at=r["acked_at"],
        last_reminder_at=r["last_reminder_at"],
        reminders=r["reminders"],
        resolved_at=r["resolved_at"],
    )


def _outbox(r: sqlite3.Row) -> OutboxItem:
    return OutboxItem(
        id=r["id"],
        key=r["key"],
        channel_id=r["channel_id"],
        kind=r["kind"],
        alert_id=r["alert_id"],
        payload=json.loads(r["payload"] or "{}"),
        state=r["state"],
        attempts=r["attempts"],
        not_before=r["not_before"],
        created_at=r["created_at"],
        delivered_at=r["delivered_at"],
        last_error=r["last_error"],
    )
