"""seal phones at rest; keep birth dates to the month

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-02 17:00:00

people.phone and subjects.emergency_contact_phone and helper_phone are sealed like ID numbers
(AES-SIV, searchable by equality; store/sealing.py). A birth date is kept as the first
of its month (store.base.BirthMonth): the day goes, and a downgrade cannot bring it back
(it stays inside the sealed ID number).
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

from store.sealing import PREFIX, seal, unseal

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None

_0004 = importlib.import_module("store.migrations.versions.0004_seal_id_numbers")
COLUMNS = (("people", "id", "phone"), ("subjects", "person_id", "emergency_contact_phone"),
           ("subjects", "person_id", "helper_phone"))


def upgrade() -> None:
    for table, key, column in COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.String(96), existing_nullable=True)
        _0004._rewrite(table, key, column, seal, lambda v: not v.startswith(PREFIX))
    _birth_to_month()


def _birth_to_month() -> None:
    conn = op.get_bind()
    people = sa.table("people", sa.column("id", sa.Integer), sa.column("birth_date", sa.Date))
    rows = conn.execute(sa.select(people.c.id, people.c.birth_date)
                        .where(people.c.birth_date.is_not(None))).all()
    changes = [{"k": k, "v": d.replace(day=1)} for k, d in rows if d.day != 1]
    for start in range(0, len(changes), _0004.BATCH):
        conn.execute(sa.update(people).where(people.c.id == sa.bindparam("k"))
                     .values(birth_date=sa.bindparam("v")), changes[start:start + _0004.BATCH])


def downgrade() -> None:
    for table, key, column in COLUMNS:
        _0004._rewrite(table, key, column, unseal, lambda v: v.startswith(PREFIX))
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.String(32), existing_nullable=True)
