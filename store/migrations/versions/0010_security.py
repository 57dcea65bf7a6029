"""security: shared callback replay guard, ID-key check value, one-time dashboard tokens,
invite codes kept only as their SHA-256

Revision ID: 0010
Revises: 0012
Create Date: 2026-12-02 13:30:00
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callback_nonces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("timestamp", sa.String(length=16), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_nonces")),
        sa.UniqueConstraint("platform", "timestamp", "nonce",
                            name=op.f("uq_callback_nonces_platform_timestamp_nonce")),
    )
    with op.batch_alter_table("callback_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_callback_nonces_seen_at"), ["seen_at"],
                              unique=False)
    op.create_table(
        "key_checks",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("sealed", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_key_checks")),
    )
    op.create_table(
        "dashboard_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"],
                                name=op.f("fk_dashboard_tokens_person_id_people"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_dashboard_tokens")),
    )
    with op.batch_alter_table("dashboard_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dashboard_tokens_expires_at"), ["expires_at"],
                              unique=False)

    # invite codes: keep only their hash (codes already handed out keep working)
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.alter_column("code", new_column_name="code_hash",
                              existing_type=sa.String(length=32), type_=sa.String(length=64),
                              existing_nullable=False)
    bind = op.get_bind()
    invites = sa.table("invites", sa.column("code_hash", sa.String(64)))
    for (code,) in bind.execute(sa.select(invites.c.code_hash)).all():
        bind.execute(invites.update().where(invites.c.code_hash == code).values(
            code_hash=hashlib.sha256(code.strip().upper().encode()).hexdigest()))


def downgrade() -> None:
    # the codes cannot be recovered from their hashes: outstanding invites are dropped
    op.execute("DELETE FROM invites")
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.alter_column("code_hash", new_column_name="code",
                              existing_type=sa.String(length=64), type_=sa.String(length=32),
                              existing_nullable=False)
    with op.batch_alter_table("dashboard_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dashboard_tokens_expires_at"))
    op.drop_table("dashboard_tokens")
    op.drop_table("key_checks")
    with op.batch_alter_table("callback_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callback_nonces_seen_at"))
    op.drop_table("callback_nonces")
