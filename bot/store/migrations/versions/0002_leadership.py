"""The leadership row: the fencing term of the replica that leads the watcher and the outbox.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    leadership = op.create_table(
        "leadership",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("term", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("holder", sa.Text(), nullable=True),
        sa.Column("acquired_at", sa.REAL().with_variant(sa.DOUBLE_PRECISION(), "postgresql"), nullable=True),
        sa.CheckConstraint("id = 1", name="leadership_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(leadership, [{"id": 1, "term": 0}])


def downgrade() -> None:
    op.drop_table("leadership")
