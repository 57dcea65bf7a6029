"""visit and outbox indexes for the tick, the dispatcher and reports

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

WAITING = sa.text("status IN ('pending', 'sending')")


def upgrade() -> None:
    op.create_index("ix_visits_status_opens", "visits", ["status", "window_opens"])
    op.create_index("ix_visits_subject_status_visited", "visits",
                    ["subject_id", "status", "visited_on"])
    op.create_index("ix_outbox_waiting", "outbox", ["not_before"],
                    postgresql_where=WAITING, sqlite_where=WAITING)


def downgrade() -> None:
    op.drop_index("ix_outbox_waiting", table_name="outbox")
    op.drop_index("ix_visits_subject_status_visited", table_name="visits")
    op.drop_index("ix_visits_status_opens", table_name="visits")
