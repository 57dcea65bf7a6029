"""What the printed lists look like: names, ID numbers and phones are never broken across
lines in the PDFs (pdftotext), and Liuzhou 附件3's sheets are named for the person."""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from store.models import Jurisdiction, Person, Subject, Visit
from store.reports.lists import export_ledger, export_liuzhou
from store.reports.period import Month
from store.roster.importer import import_roster
from store.samples import SAMPLE_ROSTER
from tests.integration.test_report_every_answer import DOUBLED
from tests.integration.test_report_monthly import need
from tests.integration.test_roster_support import sample_rows


def _text(pdf: Path) -> list[str]:
    need("pdftotext")
    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                         check=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def test_lists_keep_names_and_numbers_whole(sessions: sessionmaker[Session],
                                            tmp_path: Path) -> None:
    report = import_roster(sessions, SAMPLE_ROSTER, policy_default="linzi-2022",
                           today=date(2026, 11, 1))
    assert report.committed
    _headers, rows = sample_rows()
    with sessions() as s:
        county = s.scalars(select(Jurisdiction).where(Jurisdiction.level == "county")).one()
        for fmt in ("pdf", "xlsx"):
            export_ledger(s, [county.id], fmt, tmp_path / f"ledger.{fmt}",
                          as_of=date(2026, 11, 30))
        export_liuzhou(s, [county.id], Month(2026, 11), 1, "pdf", tmp_path / "annex1.pdf")
        # two filed visits for 附件3
        people = s.scalars(select(Person).join(Subject, Subject.person_id == Person.id)
                           .order_by(Person.id).limit(2)).all()
        for p in people:
            day = date(2026, 11, 10)
            s.add(Visit(subject_id=p.id, policy="liuzhou-2021", due_on=day, visited_on=day,
                        mode="phone", status="filed", filed_at=datetime(2026, 11, 10,
                                                                        tzinfo=UTC)))
        s.commit()
        names = [p.name for p in people]
        export_liuzhou(s, [county.id], Month(2026, 11), 3, "xlsx", tmp_path / "annex3.xlsx")
    for pdf in ("ledger.pdf", "annex1.pdf"):
        lines = _text(tmp_path / pdf)
        # place names are composed in the title (the table's cells hold them as recorded;
        # pdftotext interleaves a dense table's wrapped cells, so only the title is read)
        assert not DOUBLED.findall(lines[0]), f"{pdf}: doubled place word in {lines[0]}"
        for r in rows:
            for want in (r["姓名"], r["身份证号码"]):
                assert any(want in ln for ln in lines), f"{pdf}: {want} broken across lines"
    ledger = _text(tmp_path / "ledger.pdf")
    for r in rows:
        if r["子女/赡养人电话"]:
            phone = r["子女/赡养人电话"].split("、")[0]
            assert any(phone in ln for ln in ledger), f"ledger.pdf: {phone} broken"
    assert load_workbook(tmp_path / "annex3.xlsx").sheetnames == [
        f"{i:03d}-{n}" for i, n in enumerate(names, 1)]
    ws = load_workbook(tmp_path / "ledger.xlsx").worksheets[0]
    assert ws.print_title_rows == "$3:$3" and ws.page_setup.orientation == "landscape"


def test_anshan_quarter_blocks_are_not_split_across_pages(sessions: sessionmaker[Session],
                                                          tmp_path: Path) -> None:
    from store.reports.forms import export_subject_form
    from tests.integration.test_report_forms import ID, make_visit

    with sessions() as s:
        make_visit(s, "anshan-2020", {"problems_handling": "屋顶漏雨，已联系维修" * 4})
    with sessions() as s:
        pdf = export_subject_form(s, ID, 2026, "pdf", tmp_path / "year.pdf")
    need("pdfinfo")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    pages = int(next(ln.split()[-1] for ln in info.splitlines() if ln.startswith("Pages:")))
    assert pages > 1  # four blocks do not fit one page: the break must fall between them
    starts = ends = 0
    for page in range(1, pages + 1):
        text = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"],
                              capture_output=True, text=True, check=True).stdout
        # each block holds its quarter's name (第一季度 …) and closes with its 其他情况 line
        assert text.count("季度") == text.count("其他情况"), f"page {page} splits a block"
        starts += text.count("季度")
        ends += text.count("其他情况")
    assert starts == ends == 4


def test_anshan_workbook_breaks_pages_between_quarters(sessions: sessionmaker[Session],
                                                       tmp_path: Path) -> None:
    from store.reports.forms import export_subject_form
    from tests.integration.test_report_forms import ID, make_visit

    with sessions() as s:
        make_visit(s, "anshan-2020", {"problems_handling": "屋顶漏雨，已联系维修" * 4})
    with sessions() as s:
        x = export_subject_form(s, ID, 2026, "xlsx", tmp_path / "year.xlsx")
    ws = load_workbook(x).worksheets[0]
    breaks = [b.id for b in ws.row_breaks.brk]
    assert breaks  # the sheet is longer than a page
    quarter_rows = [c.row for row in ws.iter_rows() for c in row
                    if isinstance(c.value, str) and "季度" in c.value]
    assert len(quarter_rows) == 4
    for after in breaks:  # every break falls just before a quarter's block
        assert after + 1 in quarter_rows, (after, quarter_rows)
