"""Small SQL building blocks that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    Table,
    and_,
    cast,
    exists,
    func,
    literal,
    select,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from store.models import Assignment, assignment_in_force


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def insert_for(session: Session, table: Table) -> Any:
    """The dialect's INSERT (both have on_conflict_do_nothing)."""
    mod = postgresql if dialect(session) == "postgresql" else sqlite
    return mod.insert(table)


def add_days(session: Session, expr: Any, days: int) -> Any:
    if dialect(session) == "postgresql":
        return cast(expr + literal(days, Integer), Date)
    return func.date(expr, f"{days:+d} days", type_=Date)


def greatest(session: Session, a: Any, b: Any) -> Any:
    if dialect(session) == "postgresql":
        return func.greatest(a, b, type_=Date)
    return func.max(a, b, type_=Date)  # SQLite's two-argument max() is scalar


def json_has_any(session: Session, column: Any, values: Iterable[str]) -> Any:
    """True where the JSON array `column` holds any of `values`."""
    vals = sorted(values)
    if dialect(session) == "postgresql":
        return type_coerce(column, JSONB).has_any(postgresql.array(vals))
    each = func.json_each(column).table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value.in_(vals)))


def current_assignments(today: date) -> Any:
    """Subquery (subject_id, visitor_id): each subject's newest assignment in force today.

    Written as an anti-join (no newer one in force) rather than `id IN (SELECT max(id) …
    GROUP BY subject_id)`: with stale statistics (tiers just updated) PostgreSQL chose to
    rescan that aggregate for every subject, which took minutes at 100,000 subjects.
    """
    a = Assignment.__table__.alias("a")
    newer = Assignment.__table__.alias("newer")
    return (
        select(a.c.subject_id, a.c.visitor_id)
        .where(assignment_in_force(today, a), ~exists(select(newer.c.id).where(
            newer.c.subject_id == a.c.subject_id, newer.c.id > a.c.id,
            assignment_in_force(today, newer))))
        .subquery("cur")
    )


def all_of(*conds: Any) -> Any:
    return and_(*conds) if conds else literal(True)
