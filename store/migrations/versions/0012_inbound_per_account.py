"""inbound messages are deduplicated per sender account and keep their first reply;
channel cursors (Telegram's polling offset) survive restarts

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # Rows seen before this revision keep account '': they are only there to drop
    # redeliveries of a few days at most, and no new key can collide with them.
    with op.batch_alter_table("inbound_seen") as batch:
        batch.add_column(sa.Column("account", sa.String(128), server_default="",
                                   nullable=False))
        batch.add_column(sa.Column("reply", JSON, nullable=True))
        batch.drop_constraint("uq_inbound_seen_platform_message_key", type_="unique")
        batch.create_unique_constraint("uq_inbound_seen_platform_account_message_key",
                                       ["platform", "account", "message_key"])
    op.create_table(
        "channel_cursors",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_channel_cursors")),
    )


def downgrade() -> None:
    op.drop_table("channel_cursors")
    # keys that only differ by account would collide under the old constraint: keep one
    op.execute("DELETE FROM inbound_seen WHERE id NOT IN (SELECT MIN(id) FROM inbound_seen "
               "GROUP BY platform, message_key)")
    with op.batch_alter_table("inbound_seen") as batch:
        batch.drop_constraint("uq_inbound_seen_platform_account_message_key", type_="unique")
        batch.create_unique_constraint("uq_inbound_seen_platform_message_key",
                                       ["platform", "message_key"])
        batch.drop_column("reply")
        batch.drop_column("account")
