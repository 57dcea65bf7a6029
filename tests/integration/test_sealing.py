"""ID numbers are sealed at rest: a copy of the database without the key shows none."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from store import sealing
from store.db import make_engine
from store.migrate import alembic_config, upgrade
from store.models import Person
from store.roster.importer import import_roster
from store.samples import SAMPLE_ROSTER

ID = "990101190001010018"


def test_stored_sealed_found_by_equality(sessions: sessionmaker[Session]) -> None:
    import_roster(sessions, SAMPLE_ROSTER, policy_default="linzi-2022")
    with sessions() as s:
        s.add(Person(name="王秀英", id_number=ID))
        s.commit()
        raw = s.scalars(text("SELECT id_number FROM people WHERE id_number IS NOT NULL")).all()
        assert raw and all(v.startswith("v1:") for v in raw)
        assert not any(ID in v or v[3:].isdigit() for v in raw)
        # the ORM and Core see plain values, and equality finds the row
        assert s.scalar(select(Person.name).where(Person.id_number == ID)) == "王秀英"
        plain = s.scalars(select(Person.id_number).where(Person.id_number.is_not(None))).all()
        assert ID in plain and all(len(v) == 18 for v in plain)


def test_migration_seals_what_was_plain(db_url: str) -> None:
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0003")
    engine = make_engine(db_url)
    with engine.begin() as c:
        c.execute(text("INSERT INTO people (name, id_number, created_at, updated_at) "
                       "VALUES ('甲', :n, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"n": ID})
    upgrade(db_url)
    with engine.begin() as c:
        stored = c.scalar(text("SELECT id_number FROM people WHERE name = '甲'"))
    assert stored.startswith("v1:") and sealing.unseal(stored) == ID
    command.downgrade(cfg, "0003")  # and back: the plain value returns
    with engine.begin() as c:
        assert c.scalar(text("SELECT id_number FROM people WHERE name = '甲'")) == ID
    upgrade(db_url)
    engine.dispose()


def test_wrong_or_bad_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    sealed = sealing.seal(ID)
    assert sealing.seal(ID) == sealed  # deterministic: searchable
    try:
        monkeypatch.setenv("VISITBOT_ID_KEY", base64.b64encode(os.urandom(64)).decode())
        sealing._cipher.cache_clear()
        with pytest.raises(sealing.SealingError, match="VISITBOT_ID_KEY"):
            sealing.unseal(sealed)
        monkeypatch.setenv("VISITBOT_ID_KEY", "not base64!")
        sealing._cipher.cache_clear()
        with pytest.raises(sealing.SealingError, match="not base64"):
            sealing.seal(ID)
        monkeypatch.delenv("VISITBOT_ID_KEY")
        loose = tmp_path / "id.key"
        loose.write_text(base64.b64encode(os.urandom(64)).decode())
        loose.chmod(0o644)
        monkeypatch.setenv("VISITBOT_ID_KEY_FILE", str(loose))
        sealing._cipher.cache_clear()
        with pytest.raises(sealing.SealingError, match="chmod 600"):
            sealing.seal(ID)
    finally:
        monkeypatch.undo()
        sealing._cipher.cache_clear()
    assert sealing.unseal(sealed) == ID
