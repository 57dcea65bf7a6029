"""Dialect-aware INSERT … ON CONFLICT, the primitive behind every idempotent write.

The statements are built once per table, conflict key and dialect and the rows passed as
parameters: building a statement with the values baked in costs more Python than the
database spends running it (a cache key, a compile) on the hot path of every answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def _dialect_insert(dialect: str) -> Any:
    return (postgresql if dialect == "postgresql" else sqlite).insert


@lru_cache(maxsize=256)
def _ignore_stmt(table: Table, conflict: tuple[str, ...] | None, dialect: str) -> Any:
    stmt = _dialect_insert(dialect)(table).on_conflict_do_nothing(
        index_elements=list(conflict) if conflict else None)
    # psycopg reports rowcount -1 here; RETURNING counts exactly on every backend
    return stmt.returning(*table.primary_key.columns)


@lru_cache(maxsize=256)
def _upsert_stmt(table: Table, columns: tuple[str, ...], conflict: tuple[str, ...],
                 dialect: str) -> Any:
    stmt = _dialect_insert(dialect)(table)
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=list(conflict),
        set_={k: excluded[k] for k in columns if k not in conflict})


def insert_ignore(session: Session, table: Table, rows: list[dict[str, Any]] | dict[str, Any],
                  conflict: Sequence[str] | None = None) -> int:
    """Insert rows, silently skipping those that hit a unique constraint.

    Returns how many rows were actually inserted.
    """
    if isinstance(rows, dict):
        rows = [rows]
    if not rows:
        return 0
    stmt = _ignore_stmt(table, tuple(conflict) if conflict else None,
                        session.get_bind().dialect.name)
    if len(rows) == 1:
        return len(session.execute(stmt, rows[0]).all())
    return len(session.execute(stmt, rows).all())


def upsert(session: Session, table: Table, row: dict[str, Any], conflict: Sequence[str]
           ) -> None:
    """Insert the row, or overwrite the one with the same `conflict` key: one statement
    where a delete and an insert would be two round trips."""
    stmt = _upsert_stmt(table, tuple(row), tuple(conflict), session.get_bind().dialect.name)
    session.execute(stmt, row)


@lru_cache(maxsize=64)
def _ignore_pair_stmt(first: Table, first_cols: tuple[str, ...], first_conflict: tuple[str, ...],
                      then: Table, then_cols: tuple[str, ...], then_conflict: tuple[str, ...]
                      ) -> Any:
    """PostgreSQL: both inserts in one statement, the first as a data-modifying CTE (run
    to completion whatever the main statement reads of it)."""
    ins = postgresql.insert
    head = (ins(first).values({c: bindparam(f"f_{c}", type_=first.c[c].type)
                               for c in first_cols})
            .on_conflict_do_nothing(index_elements=list(first_conflict))
            .returning(*first.primary_key.columns).cte("first_row"))
    return (ins(then).values({c: bindparam(f"t_{c}", type_=then.c[c].type) for c in then_cols})
            .on_conflict_do_nothing(index_elements=list(then_conflict))
            .returning(*then.primary_key.columns).add_cte(head))


def insert_ignore_both(session: Session, first: Table, first_row: dict[str, Any],
                       first_conflict: Sequence[str], then: Table, then_row: dict[str, Any],
                       then_conflict: Sequence[str]) -> bool:
    """Insert two rows, each skipped if it hits its unique key (as `insert_ignore`), in one
    round trip on PostgreSQL (two elsewhere): the end of every chat turn writes its reply
    and its dedupe row together. Whether the second row was inserted."""
    if session.get_bind().dialect.name != "postgresql":
        insert_ignore(session, first, first_row, first_conflict)
        return insert_ignore(session, then, then_row, then_conflict) == 1
    stmt = _ignore_pair_stmt(first, tuple(first_row), tuple(first_conflict),
                             then, tuple(then_row), tuple(then_conflict))
    params = {f"f_{k}": v for k, v in first_row.items()} | {
        f"t_{k}": v for k, v in then_row.items()}
    return len(session.execute(stmt, params).all()) == 1
