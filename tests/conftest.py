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
        check_outbox_masked(f"sqlite:///{path}")
        return
    name = _new_pg_db()
    try:
        yield f"{PG_BASE}/{name}"
        check_outbox_masked(f"{PG_BASE}/{name}")
    finally:
        _drop_pg_db(name)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A migrated PostgreSQL database only (multi-process and locking tests)."""
    name = _new_pg_db()
    try:
        yield f"{PG_BASE}/{name}"
        check_outbox_masked(f"{PG_BASE}/{name}")
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


# --- no workbook the suite writes holds a formula ------------------------------------------
# Every .xlsx visitbot writes is reopened after saving and each cell's type checked: text
# typed in chat or imported from a roster (`=HYPERLINK(…)`) must stay text.

_formula_cells: list[str] = []


def _check_saved_workbook(filename: object) -> None:
    from openpyxl import load_workbook

    if not isinstance(filename, str | os.PathLike):
        return
    wb = load_workbook(filename, read_only=True)
    try:
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for c in row:
                    if getattr(c, "data_type", None) == "f":
                        _formula_cells.append(f"{Path(filename).name}!{ws.title}!"
                                              f"{c.coordinate}: {c.value!r}")
    finally:
        wb.close()


@pytest.fixture(scope="session", autouse=True)
def _workbooks_hold_no_formulas() -> Iterator[None]:
    from openpyxl.workbook.workbook import Workbook

    original = Workbook.save

    def save(self: Workbook, filename: str) -> None:
        original(self, filename)
        _check_saved_workbook(filename)

    Workbook.save = save  # type: ignore[method-assign]
    try:
        yield
    finally:
        Workbook.save = original  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _no_formula_written() -> Iterator[None]:
    _formula_cells.clear()
    yield
    found = list(_formula_cells)
    _formula_cells.clear()
    if found:
        pytest.fail("a workbook was written with formula cells:\n" + "\n".join(found[:20]))
# --- no message the suite writes may carry a full phone or ID number ------------------


def _unmasked_in_outbox(url: str) -> list[str]:
    """Outbox rows whose text shows a phone or ID number in full (store.masking's
    patterns). A reply an officer asked for with 联系人 N (audited) says so in its meta."""
    import json

    from store.masking import mask_text

    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(text("SELECT id, idempotency_key, payload FROM outbox")).all()
    except Exception:  # a test that dropped or never migrated its tables
        return []
    finally:
        eng.dispose()
    bad = []
    for row_id, key, payload in rows:
        data = json.loads(payload) if isinstance(payload, str) else payload or {}
        if (data.get("meta") or {}).get("reveals") == "contact":
            continue
        shown = [data.get("text") or "", *map(str, (data.get("fields") or {}).values()),
                 *(str(c[1]) for c in data.get("choices") or ())]
        for part in shown:
            if mask_text(part) != part:
                bad.append(f"outbox {row_id} ({key}): {mask_text(part)[:160]!r}")
                break
    return bad


def check_outbox_masked(url: str) -> None:
    bad = _unmasked_in_outbox(url)
    if bad:
        pytest.fail("messages with an unmasked phone or ID number:\n" + "\n".join(bad))
