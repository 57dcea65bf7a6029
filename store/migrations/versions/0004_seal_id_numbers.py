"""seal ID numbers at rest (AES-SIV, store/sealing.py)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 11:00:00

Widens the columns to hold the sealed text and seals what is stored in plain. Rows are
read and written in batches by primary key, so a large roster does not sit in memory.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.sealing import PREFIX, seal, unseal

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = (("people", "id", "id_number", 18), ("household_members", "id", "id_number", 18),
           ("subjects", "person_id", "disability_cert_no", 32))
BATCH = 5000


def _rewrite(table: str, key: str, column: str, fn, wanted) -> None:  # type: ignore[no-untyped-def]
    conn = op.get_bind()
    t = sa.table(table, sa.column(key, sa.Integer), sa.column(column, sa.String))
    last = None
    while True:
        q = sa.select(t.c[key], t.c[column]).where(t.c[column].is_not(None))
        if last is not None:
            q = q.where(t.c[key] > last)
        rows = conn.execute(q.order_by(t.c[key]).limit(BATCH)).all()
        if not rows:
            return
        changes = [{"k": k, "v": fn(v)} for k, v in rows if wanted(v)]
        if changes:
            conn.execute(sa.update(t).where(t.c[key] == sa.bindparam("k"))
                         .values({column: sa.bindparam("v")}), changes)
        last = rows[-1][0]


def upgrade() -> None:
    for table, key, column, _ in COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.String(64), existing_nullable=True)
        _rewrite(table, key, column, seal, lambda v: not v.startswith(PREFIX))


def downgrade() -> None:
    for table, key, column, size in COLUMNS:
        _rewrite(table, key, column, unseal, lambda v: v.startswith(PREFIX))
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.String(size), existing_nullable=True)
