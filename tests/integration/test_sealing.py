"""ID numbers and phones are sealed at rest and birth dates kept to the month: a copy of
the database without the key shows no ID number, no phone and no day of birth."""

from __future__ import annotations

import base64
import csv
import os
import re
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
from store.samples import SAMPLE_ROSTER, SAMPLE_STAFF

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


ROSTER_TABLES = ("people", "subjects", "household_members", "family_links", "roles",
                 "assignments", "jurisdictions")


def _sheet_secrets() -> tuple[set[str], set[str]]:
    """Every phone and every full birth date (from the ID numbers) the sample sheets hold."""
    phones: set[str] = set()
    births: set[str] = set()
    for sheet in (SAMPLE_ROSTER, SAMPLE_STAFF):
        for row in csv.reader(sheet.read_text(encoding="utf-8-sig").splitlines()):
            for cell in row:
                phones.update(re.findall(r"1[3-9]\d{9}", cell))
                for n in re.findall(r"\d{17}[\dX]", cell):
                    births.add(f"{n[6:10]}-{n[10:12]}-{n[12:14]}")
    return phones, births


def test_no_phone_or_birth_day_in_any_roster_table(sessions: sessionmaker[Session]) -> None:
    """Every column of every table an import writes, read raw: no phone of the sheets and
    no day of birth in clear; the ORM still finds a person by phone."""
    import_roster(sessions, SAMPLE_ROSTER, policy_default="linzi-2022")
    import_roster(sessions, SAMPLE_STAFF, policy_default="")
    phones, births = _sheet_secrets()
    assert len(phones) > 20 and len(births) > 20
    births = {b for b in births if not b.endswith("-01")}
    with sessions() as s:
        names = {t for t in s.connection().dialect.get_table_names(s.connection())}
        seen = 0
        for table in ROSTER_TABLES:
            assert table in names
            for row in s.execute(text(f"SELECT * FROM {table}")).mappings():
                for column, value in row.items():
                    shown = str(value)
                    seen += 1
                    assert not any(p in shown for p in phones), (table, column)
                    assert not any(b in shown for b in births), (table, column)
        assert seen > 500
        raw = s.scalars(text("SELECT phone FROM people WHERE phone IS NOT NULL")).all()
        assert raw and all(v.startswith("v1:") for v in raw)
        days = s.scalars(text("SELECT birth_date FROM people WHERE birth_date IS NOT NULL")).all()
        assert days and all(str(d).endswith("-01") for d in days)
        # searchable: the visitor of the sample sheet, by the phone as typed
        assert s.scalar(select(Person.name).where(Person.phone == "13905339001")) == "李春梅"
        assert "13905339001" in s.scalars(select(Person.phone)).all()


def test_migration_seals_phones_and_drops_the_birth_day(db_url: str) -> None:
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0011")
    engine = make_engine(db_url)
    with engine.begin() as c:
        c.execute(text("INSERT INTO people (name, phone, birth_date, created_at, updated_at) "
                       "VALUES ('乙', '13905330999', '1941-08-23', CURRENT_TIMESTAMP, "
                       "CURRENT_TIMESTAMP)"))
    upgrade(db_url)
    with engine.begin() as c:
        phone, born = c.execute(text("SELECT phone, birth_date FROM people WHERE name = '乙'")
                                ).one()
    assert phone.startswith("v1:") and sealing.unseal(phone) == "13905330999"
    assert str(born).startswith("1941-08-01")
    command.downgrade(cfg, "0011")  # and back: the phone returns plain (the day does not)
    with engine.begin() as c:
        assert c.scalar(text("SELECT phone FROM people WHERE name = '乙'")) == "13905330999"
    upgrade(db_url)
    engine.dispose()
