"""Roster import on both stores: tree, people, subjects, assignments; all or nothing."""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from store import idcard
from store.models import Assignment, FamilyLink, Jurisdiction, Person, Role, Subject
from store.roster.importer import import_roster
from store.roster.read import RosterFileError
from store.samples import SAMPLE_ROSTER, SAMPLE_STAFF
from tests.integration.test_roster_support import (
    active_visitor_phone,
    counts,
    sample_rows,
    write_csv,
)

POLICY = "linzi-2022"
DAY1 = date(2025, 3, 1)
DAY2 = date(2025, 4, 1)


def _import(sessions: sessionmaker[Session], path: Path, **kw: object):  # type: ignore[no-untyped-def]
    return import_roster(sessions, path, policy_default=POLICY, **kw)  # type: ignore[arg-type]


def test_sample_import_builds_everything(sessions: sessionmaker[Session]) -> None:
    report = _import(sessions, SAMPLE_ROSTER, today=DAY1)
    assert report.committed and not report.errors
    assert (report.subjects_created, report.subjects_updated) == (20, 0)
    assert report.visitors == 6 and report.villages == 4
    assert report.jurisdictions_created == 7  # 1 county, 2 townships, 4 villages
    assert report.assignments_created == 20
    assert report.families == 15
    with sessions() as s:
        levels = {j.name: (j.level, j.parent.name if j.parent else None)
                  for j in s.scalars(select(Jurisdiction))}
        assert levels["示范县"] == ("county", None)
        assert levels["东关镇"] == ("township", "示范县")
        assert levels["南刘村"] == ("village", "东关镇")
        subject = s.scalars(select(Subject).join(Person, Person.id == Subject.person_id)
                            .where(Person.name == "张玉珍")).one()
        assert subject.self_care == "失能" and subject.tier == "key"
        assert subject.categories == ["高龄", "空巢", "失能"]
        assert subject.policy == POLICY and subject.family_notify_consent
        assert subject.person.jurisdiction is not None
        assert subject.person.jurisdiction.name == "东关村"
        # the store keeps the birth month (出生年月); the day stays in the sealed ID only
        assert subject.person.gender == "女" and subject.person.birth_date == date(1933, 1, 1)
        kids = s.execute(select(Person.name, FamilyLink.relation, FamilyLink.is_primary_supporter)
                         .join(FamilyLink, FamilyLink.person_id == Person.id)
                         .where(FamilyLink.subject_id == subject.person_id)).all()
        assert {tuple(k) for k in kids} == {("张国梁", "儿子", False), ("张国栋", "儿子", True)}
        ordinary = s.scalars(select(Subject).join(Person, Person.id == Subject.person_id)
                             .where(Person.name == "刘德胜")).one()
        assert ordinary.tier == "ordinary"
        assignment = s.scalars(select(Assignment).where(
            Assignment.subject_id == subject.person_id)).one()
        assert assignment.starts_on == DAY1 and assignment.ends_on is None
        visitor = s.get(Person, assignment.visitor_id)
        assert visitor is not None and visitor.name == "李春梅"
        role = s.scalars(select(Role).where(Role.person_id == visitor.id,
                                            Role.role == "visitor")).one()
        assert role.title == "村（居）干部"
        assert s.get(Jurisdiction, role.jurisdiction_id).name == "东关村"  # type: ignore[union-attr]
        subject_roles = s.scalars(select(Role).where(Role.role == "subject")).all()
        assert len(subject_roles) == 20


def test_staff_sheet_makes_officers_at_their_level(sessions: sessionmaker[Session]) -> None:
    _import(sessions, SAMPLE_ROSTER, today=DAY1)
    report = _import(sessions, SAMPLE_STAFF)
    assert report.kind == "staff" and report.committed and report.officers == 6
    assert report.jurisdictions_created == 0  # the roster made the tree already
    with sessions() as s:
        rows = s.execute(select(Person.name, Jurisdiction.name, Jurisdiction.level, Role.title)
                         .join(Role, Role.person_id == Person.id)
                         .join(Jurisdiction, Jurisdiction.id == Role.jurisdiction_id)
                         .where(Role.role == "officer")).all()
    found = {name: (place, level) for name, place, level, _title in rows}
    assert found["孙玉华"] == ("东关村", "village")
    assert found["吴国庆"] == ("东关镇", "township")
    assert found["冯志明"] == ("示范县", "county")


def test_reimport_updates_without_duplicates(sessions: sessionmaker[Session]) -> None:
    _import(sessions, SAMPLE_ROSTER, today=DAY1)
    _import(sessions, SAMPLE_STAFF)
    before = counts(sessions)
    report = _import(sessions, SAMPLE_ROSTER, today=DAY2)
    assert (report.subjects_created, report.subjects_updated) == (0, 20)
    assert report.visitors_created == 0 and report.family_people_created == 0
    assert report.assignments_created == 0 and report.assignments_ended == 0
    assert counts(sessions) == before


def test_reimport_applies_changes_and_moves_assignment(
        sessions: sessionmaker[Session], tmp_path: Path) -> None:
    _import(sessions, SAMPLE_ROSTER, today=DAY1)
    headers, rows = sample_rows()
    target = rows[0]  # 王秀英, visited by 李春梅
    target["访视责任人"], target["访视责任人电话"] = "钱新来", "13905339999"
    target["访视责任人身份证号码"], target["访视人员类别"] = "", "志愿者"
    target["自理能力"] = "失能"
    target["所属村(居)"] = "南刘村"  # she moved to another village
    report = _import(sessions, write_csv(tmp_path / "r.csv", headers, rows), today=DAY2)
    assert report.committed
    assert (report.assignments_created, report.assignments_ended) == (1, 1)
    assert report.visitors_created == 1
    number = target["身份证号码"]
    assert active_visitor_phone(sessions, number) == ["13905339999"]
    with sessions() as s:
        person = s.scalars(select(Person).where(Person.id_number == number)).one()
        ended = s.scalars(select(Assignment).where(Assignment.subject_id == person.id,
                                                   Assignment.ends_on.is_not(None))).one()
        assert ended.ends_on == date(2025, 3, 31)  # last day with the old visitor
        roles = s.execute(select(Jurisdiction.name).join(Role, Role.jurisdiction_id ==
                                                         Jurisdiction.id)
                          .where(Role.person_id == person.id, Role.role == "subject")).scalars()
        assert list(roles) == ["南刘村"]
        subject = s.get(Subject, person.id)
        assert subject is not None and subject.self_care == "失能"


def test_same_day_correction_replaces_assignment(
        sessions: sessionmaker[Session], tmp_path: Path) -> None:
    _import(sessions, SAMPLE_ROSTER, today=DAY1)
    headers, rows = sample_rows()
    rows[0]["访视责任人"], rows[0]["访视责任人电话"] = "钱新来", "13905339999"
    rows[0]["访视责任人身份证号码"] = ""
    _import(sessions, write_csv(tmp_path / "r.csv", headers, rows), today=DAY1)
    with sessions() as s:
        person_id = s.scalar(select(Person.id).where(
            Person.id_number == rows[0]["身份证号码"]))
        assignments = s.scalars(select(Assignment).where(
            Assignment.subject_id == person_id)).all()
    assert [(a.starts_on, a.ends_on) for a in assignments] == [(DAY1, None)]


def test_officer_overrides_survive_reimport(sessions: sessionmaker[Session]) -> None:
    _import(sessions, SAMPLE_ROSTER, today=DAY1)
    with sessions() as s:
        subject = s.scalars(select(Subject).join(Person, Person.id == Subject.person_id)
                            .where(Person.name == "刘德胜")).one()
        subject.tier_override, subject.status = "key", "hospital"
        link = s.scalars(select(FamilyLink)).first()
        assert link is not None
        link.notify = False
        link_id = link.id
        s.commit()
        sid = subject.person_id
    _import(sessions, SAMPLE_ROSTER, today=DAY2)
    with sessions() as s:
        subject = s.get(Subject, sid)
        assert subject is not None
        assert (subject.tier_override, subject.status) == ("key", "hospital")
        assert s.get(FamilyLink, link_id).notify is False  # type: ignore[union-attr]


def test_bad_rows_change_nothing(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    _import(sessions, SAMPLE_ROSTER, today=DAY1)
    before = counts(sessions)
    headers, rows = sample_rows()
    rows[2]["身份证号码"] = rows[2]["身份证号码"][:-1] + "9"  # wrong check digit (row 4)
    rows[4]["联系电话"] = "1234"  # row 6
    rows[6]["出生年月"] = "1937年13月"  # row 8
    rows[7]["是否独居"] = "不知道"  # row 9
    rows[9]["对象类型"] = "贫困户"  # row 11
    rows[10]["姓名"] = "新人"  # a valid change that must not be applied either
    report = _import(sessions, write_csv(tmp_path / "bad.csv", headers, rows), today=DAY2)
    assert not report.committed
    found = {(e.row, e.column) for e in report.errors}
    assert found == {(4, "身份证号码"), (6, "联系电话"), (8, "出生年月"), (9, "是否独居"),
                     (11, "对象类型")}
    assert counts(sessions) == before
    with sessions() as s:
        assert s.scalar(select(Person.id).where(Person.name == "新人")) is None


def test_skip_invalid_imports_the_good_rows(sessions: sessionmaker[Session],
                                            tmp_path: Path) -> None:
    headers, rows = sample_rows()
    rows[0]["身份证号码"] = "123"
    rows[5]["访视责任人电话"] = ""
    report = _import(sessions, write_csv(tmp_path / "r.csv", headers, rows),
                     skip_invalid=True, today=DAY1)
    assert report.committed and report.rows_skipped == 2 and report.rows_imported == 18
    assert {e.row for e in report.errors} == {2, 7}
    assert counts(sessions)["Subject"] == 18


def test_missing_column_is_one_clear_error(sessions: sessionmaker[Session],
                                           tmp_path: Path) -> None:
    headers, rows = sample_rows()
    headers.remove("身份证号码")
    report = _import(sessions, write_csv(tmp_path / "r.csv", headers, rows), skip_invalid=True)
    assert not report.committed
    errors = [(e.row, e.column, e.reason) for e in report.errors]
    assert errors == [(1, "身份证号码", "缺少必需的列")]
    assert counts(sessions)["Person"] == 0


def test_duplicate_ids_name_both_rows(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    headers, rows = sample_rows()
    for col in ("身份证号码", "出生年月", "性别"):  # rows 4 and 9 as Excel shows them
        rows[7][col] = rows[2][col]
    report = _import(sessions, write_csv(tmp_path / "r.csv", headers, rows))
    assert not report.committed
    dup = [e for e in report.errors if "重复" in e.reason]
    assert {e.row for e in dup} == {4, 9}
    assert "第9行" in next(e.reason for e in dup if e.row == 4)
    assert counts(sessions)["Person"] == 0


def test_gbk_csv_from_excel(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    headers, rows = sample_rows()
    path = write_csv(tmp_path / "gbk.csv", headers, rows, encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    report = _import(sessions, path)
    assert report.committed and report.subjects_created == 20
    with sessions() as s:
        assert s.scalar(select(Jurisdiction.id).where(Jurisdiction.name == "东关镇"))


def test_utf8_bom_and_header_variants(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    headers, rows = sample_rows()
    renamed = {"身份证号码": "身份证号", "联系电话": "电话", "所属县(区)": "所属县（区）"}
    new_headers = [renamed.get(h, h) for h in headers] + ["爱好"]
    new_rows = [{renamed.get(k, k): v for k, v in r.items()} | {"爱好": "下棋"} for r in rows]
    path = write_csv(tmp_path / "bom.csv", new_headers, new_rows, encoding="utf-8-sig")
    report = _import(sessions, path)
    assert report.committed and report.subjects_created == 20
    assert any("爱好" in w for w in report.warnings)


def test_xlsx_with_excel_cell_types(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    headers, rows = sample_rows()
    wb = Workbook()
    ws = wb.active
    ws.append(["示范县特殊困难老年人名单"])  # a title row above the header
    ws.append(headers)
    for r in rows:
        values: list[object] = [r[h] or None for h in headers]
        # What Excel users actually produce: a real date cell and numeric phone cells.
        born = r["出生年月"]
        values[headers.index("出生年月")] = date(int(born[:4]), int(born[5:7]), 1)
        values[headers.index("访视责任人电话")] = int(r["访视责任人电话"])
        values[headers.index("年收入(万元)")] = float(r["年收入(万元)"])
        ws.append(values)
    path = tmp_path / "r.xlsx"
    wb.save(path)
    report = _import(sessions, path)
    assert report.errors == [] and report.committed and report.subjects_created == 20


def test_xlsx_id_stored_as_number_is_explained(sessions: sessionmaker[Session],
                                               tmp_path: Path) -> None:
    headers, rows = sample_rows()
    wb = Workbook()
    ws = wb.active
    ws.append(headers)
    for r in rows[:2]:
        ws.append([r[h] or None for h in headers])
    ws.cell(row=3, column=headers.index("身份证号码") + 1, value=990101194108030000)
    path = tmp_path / "r.xlsx"
    wb.save(path)
    report = _import(sessions, path)
    assert not report.committed
    assert [(e.row, e.column) for e in report.errors] == [(3, "身份证号码")]
    assert "文本" in report.errors[0].reason


def test_zip_bomb_is_refused(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"<" + b" " * (64 * 1024 * 1024))
    assert path.stat().st_size < 1024 * 1024
    with pytest.raises(RosterFileError, match="zip bomb"):
        _import(sessions, path)
    assert counts(sessions)["Person"] == 0


def test_child_sharing_the_subjects_phone_is_a_separate_person(
        sessions: sessionmaker[Session], tmp_path: Path) -> None:
    headers, rows = sample_rows()
    row = rows[0]
    row["联系电话"] = row["子女/赡养人电话"]  # the elder's phone is the son's
    path = write_csv(tmp_path / "r.csv", headers, rows)
    _import(sessions, path)
    _import(sessions, path)
    with sessions() as s:
        sid = s.scalar(select(Person.id).where(Person.id_number == row["身份证号码"]))
        links = s.scalars(select(FamilyLink).where(FamilyLink.subject_id == sid)).all()
        assert len(links) == 1 and links[0].person_id != sid


def test_progress_is_called_per_chunk(sessions: sessionmaker[Session]) -> None:
    seen: list[tuple[int, int]] = []
    _import(sessions, SAMPLE_ROSTER, progress=lambda done, total: seen.append((done, total)),
            chunk_rows=8)
    assert seen == [(0, 20), (8, 20), (16, 20), (20, 20)]


def test_visitor_known_by_id_and_phone_is_one_person(
        sessions: sessionmaker[Session], tmp_path: Path) -> None:
    headers, rows = sample_rows()
    li = [r for r in rows if r["访视责任人"] == "李春梅"]
    li[1]["访视责任人身份证号码"] = ""  # same phone, ID given on another row
    report = _import(sessions, write_csv(tmp_path / "r.csv", headers, rows))
    assert report.visitors == 6
    with sessions() as s:
        assert len(s.scalars(select(Person).where(Person.phone == "13905339001")).all()) == 1


def test_make_is_valid_for_sample_ids() -> None:
    _headers, rows = sample_rows()
    assert all(idcard.is_valid(r["身份证号码"]) for r in rows)
