"""Problem kinds: an episode is a task's state (ERROR/ABNORMAL) or one of the silent problems DIS does not report
(stalled, failed partitions, discarding), with what it needs to render and edit; task states keep the discard
count of the last deep read (the baseline growth is measured from, so a restart does not take a new one).

The one-open-episode uniqueness moves to (channel, stream, task, kind, problem): a task may have one open problem
of each kind. Existing rows are state problems.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_SECONDS: sa.types.TypeEngine[float] = sa.REAL().with_variant(sa.DOUBLE_PRECISION(), "postgresql")


def upgrade() -> None:
    # Columns are added in place (ALTER TABLE ADD COLUMN on both engines): batch mode never needs to copy a table.
    with op.batch_alter_table("episodes") as batch:
        batch.add_column(sa.Column("problem", sa.Text(), server_default="state", nullable=False))
        batch.add_column(sa.Column("detail", _DOCUMENT, nullable=True))
        batch.drop_index("episodes_one_open")
    op.create_index(
        "episodes_one_open",
        "episodes",
        ["channel_id", "stream", "task_name", "kind", "problem"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    with op.batch_alter_table("task_states") as batch:
        batch.add_column(sa.Column("discarded", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("discarded_at", _SECONDS, nullable=True))


def downgrade() -> None:
    op.drop_index("episodes_one_open", table_name="episodes")
    op.execute("DELETE FROM episodes WHERE problem <> 'state' AND ended_at IS NULL")
    with op.batch_alter_table("episodes") as batch:
        batch.drop_column("detail")
        batch.drop_column("problem")
    op.create_index(
        "episodes_one_open",
        "episodes",
        ["channel_id", "stream", "task_name", "kind"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    with op.batch_alter_table("task_states") as batch:
        batch.drop_column("discarded_at")
        batch.drop_column("discarded")
