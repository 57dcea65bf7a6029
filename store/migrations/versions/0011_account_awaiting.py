"""accounts remember what the bot asked them to write next (a case's resolution note)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("awaiting", sa.String(64), nullable=True))
        batch.add_column(sa.Column("awaiting_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("awaiting_until")
        batch.drop_column("awaiting")
