"""Shared fixtures: every store test runs on SQLite and on PostgreSQL.

PostgreSQL tests skip when no server answers, except in CI (CI=true), where a
missing server is a failure: the same contract must hold on both stores.
"""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from store.db import make_engine, session_factory
from store.migrate import upgrade

# One ID key for the whole run (and the processes it starts): commands outside the demo
# refuse to start without a configured key.
os.environ.setdefault("VISITBOT_ID_KEY", base64.b64encode(os.urandom(64)).decode())

PG_BASE = os.environ.get("VISITBOT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@cache
def _pg_admin() -> Engine | None:
    eng = create_engine(
        f"{PG_BASE}/postgres", isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3},
        pool_pre_ping=True,  # the restart test stops the server under this pool
    )
    try:
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return None
    return eng


def require_postgres() -> Engine:
    admin = _pg_admin()
    if admin is None:
        if IN_CI:
            pytest.fail(f"CI=true but PostgreSQL does not answer at {PG_BASE}")
        pytest.skip("PostgreSQL not reachable")
    return admin


@cache
def _pg_template() -> str:
    """Migrate one template database per run; each test clones it (fast)."""
    admin = require_postgres()
    name = f"vb_tpl_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    upgrade(f"{PG_BASE}/{name}")
    return name


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    upgrade(f"sqlite:///{path}")
    # Fold the WAL into the main file: tests copy the file alone.
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()
    return path


def _new_pg_db() -> str:
    admin = require_postgres()
    tpl = _pg_template()
    name = f"vb_t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{tpl}"'))
    return name


def _drop_pg_db(name: str) -> None:
    admin = _pg_admin()
    if admin is None:
        return
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, _sqlite_template: Path) -> Iterator[str]:
    """A migrated, empty database URL on each store."""
    if request.param == "sqlite":
        path = tmp_path / "visitbot.db"
        shutil.copy(_sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    name = _new_pg_db()
    try:
        yield f"{PG_BASE}/{name}"
    finally:
        _drop_pg_db(name)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A migrated PostgreSQL database only (multi-process and locking tests)."""
    name = _new_pg_db()
    try:
        yield f"{PG_BASE}/{name}"
    finally:
        _drop_pg_db(name)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    admin = _pg_admin() if _pg_template.cache_info().currsize else None
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "vb_tpl_{os.getpid()}" WITH (FORCE)'))
