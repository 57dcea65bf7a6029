"""The benchmarks' databases: a fresh one on either store, seeded visitors, dropped after."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, insert, text

PG_BASE = os.environ.get("VISITBOT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


def new_database(kind: str) -> tuple[str, str | None]:
    """(url, PostgreSQL database name or None) of an empty database, not yet migrated."""
    if kind == "sqlite":
        return f"sqlite:///{Path(tempfile.mkdtemp(prefix='vb-bench-')) / 'bench.db'}", None
    name = f"vb_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{PG_BASE}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{PG_BASE}/{name}", name


def drop_database(name: str) -> None:
    admin = create_engine(f"{PG_BASE}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def seed_visitors(url: str, users: int, platform: str, external_id: Callable[[int], str]
                  ) -> None:
    """`users` bound visitors in one village; visitor i (1…users) chats as external_id(i)."""
    from store.base import utcnow
    from store.models import Account, Jurisdiction, Person, Role

    eng = create_engine(url)
    now = utcnow()
    with eng.begin() as conn:
        conn.execute(insert(Jurisdiction), [{"id": 1, "name": "样例村", "level": "village"}])
        conn.execute(insert(Person), [{"id": i, "name": f"探访员{i}", "jurisdiction_id": 1,
                                       "created_at": now, "updated_at": now}
                                      for i in range(1, users + 1)])
        conn.execute(insert(Role), [{"person_id": i, "role": "visitor", "jurisdiction_id": 1,
                                     "on_duty": True} for i in range(1, users + 1)])
        conn.execute(insert(Account), [{"person_id": i, "platform": platform,
                                        "external_id": external_id(i), "bound_at": now,
                                        "last_inbound_at": now, "free_sent": 0}
                                       for i in range(1, users + 1)])
    eng.dispose()
