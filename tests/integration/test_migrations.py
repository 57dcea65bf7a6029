from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from store.base import Base
from store.migrate import current_revision, head_revision


def test_migrations_reach_head_and_match_models(engine: Engine, db_url: str) -> None:
    assert current_revision(engine) == head_revision(db_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []
    assert {"visits", "answers", "outbox", "subjects"} <= set(inspect(engine).get_table_names())
