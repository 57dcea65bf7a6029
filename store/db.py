"""Engines and sessions: SQLite as the embedded default, PostgreSQL to scale out."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker


class DatabaseUnavailable(RuntimeError):
    """The database URL cannot be reached; the message is one clear line for the user."""


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own transaction handling defers BEGIN; we issue it ourselves (below).
    dbapi_conn.isolation_level = None
    # WAL lets readers go on while one writer writes; foreign keys are off by default.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front, so two transactions never deadlock
    # upgrading read locks (SQLITE_BUSY without waiting); SQLite serves one process.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _jsonb_dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def _postgres_defaults(kwargs: dict[str, Any]) -> None:
    """Pool sizes (unless another pool is given), and the JSONB columns' codec in C:
    a checklist's state is read and written on every answer. orjson reads and writes
    the same values as the standard library's json, keys that are not text included."""
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("json_serializer", _jsonb_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)


def make_engine(url: str, **kwargs: Any) -> Engine:
    if is_sqlite(url):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 10}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    _postgres_defaults(kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    # psycopg forgets an INSERT's rowcount once SQLAlchemy closes the cursor: without
    # this, INSERT … SELECT reports -1 and the tick's counts (and what they decide) lie
    options = {"preserve_rowcount": True, **kwargs.pop("execution_options", {})}
    return create_engine(url, execution_options=options, **kwargs)


def async_session_factory(url: str, **kwargs: Any) -> async_sessionmaker[AsyncSession]:
    """Sessions over the async driver (PostgreSQL), for code that runs on an event loop:
    the same pool sizes and options as `make_engine`, without the per-checkout ping (a
    dropped connection invalidates the pool and the caller runs again)."""
    _postgres_defaults(kwargs)
    options = {"preserve_rowcount": True, **kwargs.pop("execution_options", {})}
    engine = create_async_engine(url, execution_options=options, **kwargs)
    return async_sessionmaker(engine, expire_on_commit=False)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def check_connection(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        safe = engine.url.render_as_string(hide_password=True)
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseUnavailable(f"cannot reach the database {safe}: {reason}") from None
