"""alert delivery: outbox priority and a follow-up written on delivery

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

URGENT = sa.text("status IN ('pending', 'sending') AND priority < 2")


def upgrade() -> None:
    # plain ADD COLUMN (SQLite can): a batch copy of the table would risk its partial
    # indexes
    op.add_column("outbox", sa.Column("priority", sa.Integer(), server_default="2",
                                      nullable=False))
    op.add_column("outbox", sa.Column(
        "on_sent", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
        nullable=True))
    op.create_index("ix_outbox_urgent", "outbox", ["priority", "not_before"],
                    postgresql_where=URGENT, sqlite_where=URGENT)


def downgrade() -> None:
    op.drop_index("ix_outbox_urgent", table_name="outbox")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("on_sent")
        batch_op.drop_column("priority")
