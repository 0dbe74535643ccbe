"""The store's tables, written once: the SQL (`bot.store.sql`) and the migrations' check read them from here.

SQLAlchemy Core `Table`s, no ORM: the records in `bot.store.base` are built from rows by column name
(`from_row`), so a column is named here and in its record, and nowhere else. The migrations in
`bot/store/migrations/versions` create exactly these tables (a test compares a migrated database with this
metadata on both engines).

Types are the ones both engines store the same way: epoch seconds are `Seconds` (SQLite REAL, PostgreSQL
DOUBLE PRECISION, never a 4-byte float), DIS's millisecond timestamps are 64-bit, ids are INTEGER so SQLite
keeps them as its rowid with AUTOINCREMENT (an outbox id is never reused: `posted_seq` compares them).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()

#: Epoch seconds.
Seconds: sa.types.TypeEngine[float] = sa.REAL().with_variant(postgresql.DOUBLE_PRECISION(), "postgresql")
#: A JSON document (the outbox payload): JSONB on PostgreSQL, JSON text on SQLite.
Document = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


schema_version = sa.Table(
    # Kept from the pre-Alembic store (version 1), so a release before Alembic still opens a migrated SQLite file;
    # `check_writable` rewrites its row (a write that changes nothing and that no replica contends for).
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("channel_id", sa.Text, primary_key=True),
    sa.Column("stream", sa.Text, primary_key=True),
    sa.Column("mention", sa.Text),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text),
    sa.Column("created_at", Seconds, nullable=False),
    sa.Column("baseline_pending", sa.Boolean(create_constraint=False), nullable=False, server_default=sa.true()),
    sa.Column("delivery_error", sa.Text),
    sa.Column("delivery_error_at", Seconds),
    sa.Index("subscriptions_stream", "stream"),
)

task_states = sa.Table(
    "task_states",
    metadata,
    sa.Column("stream", sa.Text, primary_key=True),
    sa.Column("task_name", sa.Text, primary_key=True),
    sa.Column("task_id", sa.Text),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("since", Seconds, nullable=False),
    sa.Column("last_transfer_ms", sa.BigInteger),
    # The discard count of the task's last deep read, and when: the baseline its growth is measured from.
    sa.Column("discarded", sa.BigInteger),
    sa.Column("discarded_at", Seconds),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("ts", sa.Text),
    sa.Column("created_at", Seconds, nullable=False),
    sa.Column("posted_at", Seconds),
    sa.Column("posted_seq", sa.Integer),
    sa.Column("mention", sa.Text),
    sa.Column("acked_by", sa.Text),
    sa.Column("acked_at", Seconds),
    sa.Column("last_reminder_at", Seconds),
    sa.Column("reminders", sa.Integer, nullable=False, server_default="0"),
    sa.Column("resolved_at", Seconds),
    sa.Index("alerts_open", "resolved_at"),
    sqlite_autoincrement=True,
)

episodes = sa.Table(
    "episodes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel_id", sa.Text, nullable=False),
    sa.Column("stream", sa.Text, nullable=False),
    sa.Column("task_name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("task_id", sa.Text),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("problem_state", sa.Text, nullable=False),
    sa.Column("previous_state", sa.Text),
    sa.Column("baseline", sa.Boolean(create_constraint=False), nullable=False, server_default=sa.false()),
    sa.Column("started_at", Seconds, nullable=False),
    sa.Column("ended_at", Seconds),
    sa.Column("end_state", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("last_transfer_ms", sa.BigInteger),
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id")),
    sa.Column("recovery_noted", sa.Boolean(create_constraint=False), nullable=False, server_default=sa.false()),
    # Which problem of the task: its state (ERROR/ABNORMAL), or stalled / partitions / discarding.
    sa.Column("problem", sa.Text, nullable=False, server_default="state"),
    # What a silent problem shows and is edited by (backlog, last transfer, retention bucket, discard counts).
    sa.Column("detail", Document),
    # At most one open episode per task, channel and problem: the heart of "never alert twice".
    sa.Index(
        "episodes_one_open",
        "channel_id",
        "stream",
        "task_name",
        "kind",
        "problem",
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    ),
    sa.Index("episodes_alert", "alert_id"),
    sa.Index(
        "episodes_unnoted",
        "recovery_noted",
        sqlite_where=sa.text("ended_at IS NOT NULL AND recovery_noted = 0"),
        postgresql_where=sa.text("ended_at IS NOT NULL AND NOT recovery_noted"),
    ),
    sqlite_autoincrement=True,
)

snoozes = sa.Table(
    "snoozes",
    metadata,
    sa.Column("channel_id", sa.Text, primary_key=True),
    sa.Column("stream", sa.Text, primary_key=True),
    sa.Column("task_name", sa.Text, primary_key=True),
    sa.Column("until", Seconds, nullable=False),
    sa.Column("by", sa.Text),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.Text, nullable=False, unique=True),
    sa.Column("channel_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("alert_id", sa.Integer),
    sa.Column("payload", Document, nullable=False, server_default="{}"),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("not_before", Seconds, nullable=False, server_default="0"),
    sa.Column("created_at", Seconds, nullable=False),
    sa.Column("delivered_at", Seconds),
    sa.Column("last_error", sa.Text),
    sa.Index("outbox_pending", "state", "channel_id", "id"),
    sa.Index("outbox_alert", "alert_id", "kind", "state"),
    sqlite_autoincrement=True,
)

stream_health = sa.Table(
    "stream_health",
    metadata,
    sa.Column("stream", sa.Text, primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("first_failure_at", Seconds),
    sa.Column("error_kind", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("warned", sa.Boolean(create_constraint=False), nullable=False, server_default=sa.false()),
)

stream_polls = sa.Table(
    # The last poll of each stream, as the leader saw it at the end of its last cycle: what a standby shows in
    # `/dis watching` and App Home (a single instance shows its memory, and never writes these rows).
    "stream_polls",
    metadata,
    sa.Column("stream", sa.Text, primary_key=True),
    sa.Column("at", Seconds, nullable=False),
    sa.Column("ok", sa.Boolean(create_constraint=False), nullable=False),
    sa.Column("counts", Document, nullable=False, server_default="{}"),
    sa.Column("error_kind", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
)

leadership = sa.Table(
    # One row (id = 1): the fencing term of the replica that leads the watcher and the outbox. `Store.fence(term)`
    # makes the leader's writes check it (see `bot.store.sql`); the leader election itself writes it.
    "leadership",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("term", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("holder", sa.Text),
    sa.Column("acquired_at", Seconds),
    sa.CheckConstraint("id = 1", name="leadership_one_row"),
)
