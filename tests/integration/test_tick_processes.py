"""Several scheduler processes on one PostgreSQL behave as one: no duplicate visits or
reminders, no crash on the unique keys, the same result as a single process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from scheduler.tick import tick
from store.db import make_engine, session_factory
from store.models import Account, OutboxMessage, Role, Visit
from store.roster.importer import import_roster
from store.samples import SAMPLE_ROSTER, SAMPLE_STAFF
from tests.integration.tick_worker import days

ROOT = Path(__file__).resolve().parents[2]
START, DAYS = date(2026, 11, 1), 40
WORKERS = int(os.environ.get("TICK_WORKERS", "3"))


def load(sessions: sessionmaker[Session]) -> None:
    import_roster(sessions, SAMPLE_ROSTER, policy_default="linzi-2022")
    import_roster(sessions, SAMPLE_STAFF, policy_default="linzi-2022")
    with sessions() as s:  # every visitor bound, so reminders have somewhere to go
        for pid in s.scalars(select(Role.person_id).where(Role.role == "visitor").distinct()).all():
            s.add(Account(person_id=pid, platform="console", external_id=f"v{pid}"))
        s.commit()


def outcome(sessions: sessionmaker[Session]) -> tuple[Counter, Counter]:
    with sessions() as s:
        visits = Counter(tuple(r) for r in s.execute(
            select(Visit.kind, Visit.status, Visit.due_on)))
        out = Counter(dict(s.execute(select(OutboxMessage.kind, func.count())
                                     .group_by(OutboxMessage.kind)).all()))
    return visits, out


@pytest.mark.postgres
@pytest.mark.parametrize("lock", ["1", "0"], ids=["advisory-lock", "unique-keys-only"])
def test_three_tick_processes_equal_one(pg_url: str, lock: str, tmp_path: Path,
                                        _sqlite_template: Path) -> None:
    engine = make_engine(pg_url)
    sessions = session_factory(engine)
    load(sessions)
    go = tmp_path / "go"
    procs = [subprocess.Popen(
        [sys.executable, "-m", "tests.integration.tick_worker", pg_url, str(tmp_path),
         START.isoformat(), str(DAYS), lock, str(w), str(WORKERS)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE)
        for w in range(WORKERS)]
    time.sleep(0.5)
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-2000:]

    # The same days ticked once, by one process, on a fresh database.
    ref_path = tmp_path / "ref.db"
    shutil.copy(_sqlite_template, ref_path)
    ref_engine = make_engine(f"sqlite:///{ref_path}")
    ref = session_factory(ref_engine)
    load(ref)
    for now in days(START, DAYS):
        tick(ref, now)

    visits, out = outcome(sessions)
    ref_visits, ref_out = outcome(ref)
    assert out["reminder"] > 0 and sum(visits.values()) > 0  # the run did real work
    assert visits == ref_visits
    assert out == ref_out
    engine.dispose()
    ref_engine.dispose()
