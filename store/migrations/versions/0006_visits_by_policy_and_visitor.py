"""planned visits by policy and visitor: the reminder pass reads them a batch of visitors
at a time

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 04:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_visits_status_policy_visitor", "visits",
                    ["status", "policy", "visitor_id"])


def downgrade() -> None:
    op.drop_index("ix_visits_status_policy_visitor", table_name="visits")
