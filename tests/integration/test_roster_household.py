"""Co-residents (共同居住人), 是否居住在户籍所在地 and 帮扶单位 go from the roster to the
linzi 附件1 and guangxi 附件2 forms, and back out in the roster export."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from store.models import HouseholdMember, Person, Subject, Visit
from store.reports.forms import export_subject_form, export_visit_form
from store.roster.columns import ROSTER_COLUMNS
from store.roster.export import export_roster, write_template
from store.roster.importer import import_roster
from tests.integration.test_report_forms import right_of
from tests.integration.test_roster_support import sample_rows, write_csv

NEW = ["是否居住在户籍所在地", "共同居住人", "共同居住人与本人关系", "共同居住人身体状况"]


def _roster(tmp: Path) -> tuple[Path, list[dict[str, str]]]:
    headers, rows = sample_rows()
    rows[0].update({"适用政策": "guangxi-2023", "是否居住在户籍所在地": "否",
                    "共同居住人": "李桂花、王小明", "共同居住人与本人关系": "配偶、孙子",
                    "共同居住人身体状况": "一般、健康", "帮扶单位": "东关村村民委员会"})
    rows[1].update({"共同居住人": "刘德福", "共同居住人与本人关系": "配偶",
                    "共同居住人身体状况": "较差"})
    return write_csv(tmp / "roster.csv", headers + NEW, rows), rows


def test_template_has_the_household_and_hukou_columns(tmp_path: Path) -> None:
    write_template(tmp_path / "t.xlsx")
    header = [c.value for c in next(load_workbook(tmp_path / "t.xlsx").worksheets[0].iter_rows())]
    assert set(NEW) <= set(header)
    assert {c.header for c in ROSTER_COLUMNS} >= set(NEW)


def test_household_reaches_the_forms(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path, rows = _roster(tmp_path)
    report = import_roster(sessions, path, policy_default="linzi-2022", today=date(2026, 11, 1))
    assert report.committed, report.errors
    gx_id, lz_id = rows[0]["身份证号码"], rows[1]["身份证号码"]
    with sessions() as s:
        gx = s.scalars(select(Subject).join(Person, Person.id == Subject.person_id)
                       .where(Person.id_number == gx_id)).one()
        assert gx.lives_at_hukou is False
        members = s.scalars(select(HouseholdMember).where(HouseholdMember.subject_id
                                                          == gx.person_id)).all()
        assert [(m.name, m.relation, m.health) for m in members] == [
            ("李桂花", "配偶", "一般"), ("王小明", "孙子", "健康")]
        day = date(2026, 11, 12)
        v = Visit(subject_id=gx.person_id, policy="guangxi-2023", due_on=day, visited_on=day,
                  mode="in_person", status="filed", seq=1,
                  filed_at=datetime(2026, 11, 12, 8, tzinfo=UTC))
        s.add(v)
        s.commit()
        vid = v.id
    with sessions() as s:
        x = export_visit_form(s, vid, "xlsx", tmp_path / "gx.xlsx")
    assert right_of(x, "是否居住在户籍所在地") == "☐是 ☑否"
    assert "☑乡镇（街道）、村（居）民委员会" in str(right_of(x, "帮扶单位（组织）"))
    ws = load_workbook(x).worksheets[0]
    rows_text = [" ".join(str(c.value) for c in r if c.value) for r in ws.iter_rows()]
    assert any("李桂花" in t and "配偶" in t and "一般" in t for t in rows_text)
    assert any("王小明" in t and "孙子" in t and "健康" in t for t in rows_text)

    with sessions() as s:
        info = export_subject_form(s, lz_id, 2026, "xlsx", tmp_path / "lz.xlsx")
    assert right_of(info, "共同居住人\n姓名") == "刘德福"
    assert right_of(info, "与本人关系") == "☑配偶 ☐残疾子女 ☐其他"
    assert right_of(info, "共同居住人\n身体状况") == "☐健康 ☐一般 ☑较差"

    # the export carries them back out; a re-import without the columns keeps the household
    export_roster(sessions, tmp_path / "out.csv")
    with (tmp_path / "out.csv").open(encoding="utf-8-sig") as fh:
        out = {r["身份证号码"]: r for r in csv.DictReader(fh)}
    assert out[gx_id]["共同居住人"] == "李桂花、王小明"
    assert out[gx_id]["共同居住人与本人关系"] == "配偶、孙子"
    assert out[gx_id]["是否居住在户籍所在地"] == "否"
    assert out[lz_id]["共同居住人身体状况"] == "较差"
    headers, plain = sample_rows()
    again = import_roster(sessions, write_csv(tmp_path / "plain.csv", headers, plain),
                          policy_default="linzi-2022", today=date(2026, 11, 2))
    assert again.committed
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(HouseholdMember)) == 3


def test_household_columns_must_agree(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    headers, rows = sample_rows()
    rows[0].update({"共同居住人": "李桂花、王小明", "共同居住人与本人关系": "配偶、孙子、女儿"})
    rows[1].update({"共同居住人身体状况": "一般"})
    path = write_csv(tmp_path / "bad.csv", headers + NEW, rows)
    report = import_roster(sessions, path, policy_default="linzi-2022", today=date(2026, 11, 1))
    assert not report.committed
    assert {(e.row, e.column) for e in report.errors} == {
        (2, "共同居住人与本人关系"), (3, "共同居住人")}
