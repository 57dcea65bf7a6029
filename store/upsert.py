"""Dialect-aware INSERT … ON CONFLICT, the primitive behind every idempotent write."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignore(session: Session, table: Table, rows: list[dict[str, Any]] | dict[str, Any],
                  conflict: list[str] | None = None) -> int:
    """Insert rows, silently skipping those that hit a unique constraint.

    Returns how many rows were actually inserted.
    """
    if isinstance(rows, dict):
        rows = [rows]
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    mod = postgresql if dialect == "postgresql" else sqlite
    stmt = mod.insert(table).on_conflict_do_nothing(index_elements=conflict)
    # psycopg reports rowcount -1 here; RETURNING counts exactly on every backend
    returning = stmt.returning(*table.primary_key.columns)
    if len(rows) == 1:
        return len(session.execute(returning.values(**rows[0])).all())
    return len(session.execute(returning, rows).all())


def upsert(session: Session, table: Table, row: dict[str, Any], conflict: list[str]) -> None:
    """Insert the row, or overwrite the one with the same `conflict` key: one statement
    where a delete and an insert would be two round trips."""
    dialect = session.get_bind().dialect.name
    mod = postgresql if dialect == "postgresql" else sqlite
    stmt = mod.insert(table).values(**row)
    stmt = stmt.on_conflict_do_update(
        index_elements=conflict,
        set_={k: stmt.excluded[k] for k in row if k not in conflict})
    session.execute(stmt)
