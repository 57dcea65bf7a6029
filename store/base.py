"""Declarative base and column helpers shared by all models."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, MetaData, TypeDecorator
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on every backend: SQLite keeps no zone, so store UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class BirthMonth(TypeDecorator[date]):
    """A birth date kept to its month: the forms print 出生年月 and the age rules need no
    more, while a full birth date beside name, gender and village says too much about a
    person (the full date stays inside the sealed ID number). Any date given is stored as
    the first of its month, also a bound comparison value, so `birth_date <= cutoff`
    compares months (as `scheduler.policy.subject_facts` does)."""

    impl = Date
    cache_ok = True

    def process_bind_param(self, value: date | None, dialect: Any) -> date | None:
        return birth_month(value)


def birth_month(value: date | None) -> date | None:
    """What the store keeps of a birth date: the first of its month."""
    return None if value is None else value.replace(day=1)


# JSONB on PostgreSQL (indexable, compact), plain JSON text elsewhere.
JSONType = JSON().with_variant(postgresql.JSONB(), "postgresql")
