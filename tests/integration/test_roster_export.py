"""Export → import round trip, formula-injection guard, masking, template."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from store.models import AuditEntry, Person, Subject
from store.roster.export import export_roster, write_template
from store.roster.importer import import_roster
from store.samples import SAMPLE_ROSTER
from tests.integration.test_roster_support import counts, sample_rows, write_csv

POLICY = "linzi-2022"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_round_trip(sessions: sessionmaker[Session], tmp_path: Path, suffix: str) -> None:
    import_roster(sessions, SAMPLE_ROSTER, policy_default=POLICY, today=date(2025, 3, 1))
    first = tmp_path / f"one{suffix}"
    assert export_roster(sessions, first) == 20
    before = counts(sessions)
    report = import_roster(sessions, first, policy_default=POLICY, today=date(2025, 3, 1))
    assert report.errors == [] and report.subjects_updated == 20
    assert report.assignments_created == 0 and report.assignments_ended == 0
    after = counts(sessions)
    assert after.pop("AuditEntry") == before.pop("AuditEntry")
    assert after == before
    second = tmp_path / f"two{suffix}"
    export_roster(sessions, second)
    if suffix == ".csv":
        assert second.read_bytes() == first.read_bytes()
        exported = {r["身份证号码"]: r for r in _read_csv(first)}
        _headers, original = sample_rows()
        for row in original:
            out = exported[row["身份证号码"]]
            for col in ("姓名", "所属村(居)", "对象类型", "自理能力", "访视责任人电话",
                        "子女/赡养人电话", "紧急联系人电话", "同意通知子女", "家庭月收入(元)"):
                assert out[col] == row[col], col
    else:
        rows_one = list(load_workbook(first, read_only=True).worksheets[0].values)
        rows_two = list(load_workbook(second, read_only=True).worksheets[0].values)
        assert rows_one == rows_two


def test_export_into_a_fresh_database_recreates_it(
        sessions: sessionmaker[Session], tmp_path: Path) -> None:
    from store.db import make_engine, session_factory
    from store.migrate import upgrade

    import_roster(sessions, SAMPLE_ROSTER, policy_default=POLICY)
    path = tmp_path / "out.csv"
    export_roster(sessions, path)
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        fresh = session_factory(engine)
        report = import_roster(fresh, path, policy_default=POLICY)
        assert report.subjects_created == 20 and report.families == 15
        copy = tmp_path / "copy.csv"
        export_roster(fresh, copy)
        assert copy.read_bytes() == path.read_bytes()
    finally:
        engine.dispose()


EVIL = {"备注": "=HYPERLINK(\"http://evil.example\",\"点我\")", "住址": "+1+1",
        "帮扶措施": "-2+3", "领取补贴情况": "@SUM(A1)"}


def test_neutralize_cells() -> None:
    from store.roster.export import neutralize

    for value in ("=1", "+1", "-1", "@x", "\t=1", "\r=1"):
        assert neutralize(value) == "'" + value
    assert neutralize("张三") == "张三" and neutralize(3) == 3 and neutralize(None) is None


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_formula_injection_neutralised(sessions: sessionmaker[Session], tmp_path: Path,
                                       suffix: str) -> None:
    headers, rows = sample_rows()
    rows[0].update(EVIL)
    report = import_roster(sessions, write_csv(tmp_path / "in.csv", headers, rows),
                           policy_default=POLICY)
    assert report.committed, report.errors
    out = tmp_path / f"out{suffix}"
    export_roster(sessions, out)
    if suffix == ".csv":
        exported = next(r for r in _read_csv(out) if r["身份证号码"] == rows[0]["身份证号码"])
    else:
        wb = load_workbook(out)  # not read-only: cell data types are checked
        ws = wb.worksheets[0]
        header = [c.value for c in ws[1]]
        line = next(r for r in ws.iter_rows(min_row=2)
                    if r[header.index("身份证号码")].value == rows[0]["身份证号码"])
        assert all(c.data_type != "f" for c in line)
        exported = {h: c.value for h, c in zip(header, line, strict=True)}
    for col, value in EVIL.items():
        assert exported[col] == "'" + value, col
    # …and the import strips the guard again, so nothing changes on a round trip.
    import_roster(sessions, out, policy_default=POLICY)
    with Session(sessions.kw["bind"]) as s:
        subject = s.scalars(select(Subject).join(Person, Person.id == Subject.person_id)
                            .where(Person.id_number == rows[0]["身份证号码"])).one()
        assert subject.notes == EVIL["备注"] and subject.address == EVIL["住址"]


def test_masked_export_and_audit(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    import_roster(sessions, SAMPLE_ROSTER, policy_default=POLICY)
    out = tmp_path / "masked.csv"
    export_roster(sessions, out, masked=True, actor_id=None)
    text = out.read_text(encoding="utf-8-sig")
    _headers, rows = sample_rows()
    for row in rows:
        assert row["身份证号码"] not in text
        assert row["访视责任人电话"] not in text
    assert "9901**********" in text and "139****" in text
    with sessions() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "roster_export")).all()
        assert len(entries) == 1 and "masked" in (entries[0].detail or "")


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_template_example_row_imports(sessions: sessionmaker[Session], tmp_path: Path,
                                      suffix: str) -> None:
    path = tmp_path / f"template{suffix}"
    write_template(path)
    report = import_roster(sessions, path, policy_default=POLICY)
    assert report.errors == [] and report.subjects_created == 1
    staff = tmp_path / f"staff{suffix}"
    write_template(staff, staff=True)
    report = import_roster(sessions, staff, policy_default=POLICY)
    assert report.kind == "staff" and report.errors == [] and report.officers == 1
