"""The monthly summary (月汇总) for any policy: XLSX streamed, PDF with charts."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tqdm import tqdm

from store.models import Role
from store.reports.audit import audit
from store.reports.period import DEFAULT_TZ, Month, today_in
from store.reports.queries import (
    MODE_COLUMNS,
    Counts,
    MonthlyFigures,
    SubjectLine,
    count_not_visited,
    load_scope,
    monthly_figures,
    not_visited,
)
from store.workbook import append, cell, print_setup

SUMMARY_HEADER = ["乡镇（街道）", "村（居）", "对象数", "应访次数", "按时完成", "逾期完成",
                  "未访", "待访", "本月已访次数", *MODE_COLUMNS.values(), "上门占比", "已访对象",
                  "未访对象", "月探访率", "本月新增案件", "本月办结案件", "月末未结案件"]
LIST_HEADER = ["序号", "乡镇（街道）", "村（居）", "姓名", "性别", "住址", "对象类型", "访视人",
               "最近探访日期"]
PERCENT_COLUMNS = frozenset({"上门占比", "月探访率"})
PDF_LIST_LIMIT = 3000  # past this the PDF says "see the workbook": paper lists stop helping


def counts_row(c: Counts) -> list[object]:
    return [c.subjects, c.due, c.on_time, c.late, c.missing, c.pending, c.done,
            *(c.by_mode.get(k, 0) for k in MODE_COLUMNS), c.in_person_share,
            c.visited_subjects, c.not_visited,
            c.coverage, c.cases_opened, c.cases_resolved, c.cases_open]


@dataclass
class SummaryLine:
    kind: str  # village|township|total
    township: str
    village: str
    counts: Counts


def summary_lines(f: MonthlyFigures) -> Iterator[SummaryLine]:
    for t in f.townships:
        for v in f.village_rows(t.township):
            if v.village:
                yield SummaryLine("village", v.township, v.village, v.counts)
        # Subjects filed under the township itself (no village) are part of the subtotal.
        yield SummaryLine("township", t.township, "小计", t.counts)
    yield SummaryLine("total", "合计", "", f.total)


def line_cells(ln: SummaryLine) -> list[object]:
    return [ln.township, ln.village, *counts_row(ln.counts)]


# --- XLSX (write-only: rows go to disk as they are made) ---------------------------------

_THIN = Side(style="thin")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEAD_FILL = PatternFill("solid", fgColor="DDDDDD")
_SUB_FILL = PatternFill("solid", fgColor="F2F2F2")


def _cells(ws: WriteOnlyWorksheet, values: list[object], *, bold: bool = False,
           fill: PatternFill | None = None, pct_cols: frozenset[int] = frozenset()
           ) -> list[Any]:
    out = []
    for i, v in enumerate(values):
        c = cell(ws, v)
        c.border = _BOX
        c.font = Font(name="宋体", bold=bold, size=10)
        c.alignment = Alignment(vertical="center", wrap_text=bold)
        if fill is not None:
            c.fill = fill
        if i in pct_cols:
            c.number_format = "0.0%"
        out.append(c)
    return out


def _title(ws: WriteOnlyWorksheet, text: str, width: int) -> None:
    c = cell(ws, text)
    c.font = Font(name="宋体", bold=True, size=14)
    c.alignment = Alignment(horizontal="center")
    append(ws, [c])
    ws.merged_cells.add(f"A1:{get_column_letter(width)}1")


def write_monthly_xlsx(f: MonthlyFigures, lines: Iterator[SubjectLine], n_lines: int,
                       path: Path, charts: list[bytes] | None = None,
                       progress: bool = True) -> int:
    """Write the workbook; return how many not-visited subjects were listed."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("月汇总")
    widths = [14, 14] + [9] * (len(SUMMARY_HEADER) - 2)
    for i, w in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.freeze_panes = "C4"
    print_setup(ws, title_rows="3:3")
    _title(ws, f"{f.scope.title} {f.month.label} 探访情况月汇总", len(SUMMARY_HEADER))
    append(ws, [f"统计口径：{f.month.first}～{f.month.last}；截至 {f.as_of}。"
                "月探访率＝本月已访对象÷对象数；应访＝按时完成＋逾期完成＋未访＋待访。"])
    append(ws, _cells(ws, list(SUMMARY_HEADER), bold=True, fill=_HEAD_FILL))
    pct = frozenset(i for i, h in enumerate(SUMMARY_HEADER) if h in PERCENT_COLUMNS)
    for ln in summary_lines(f):
        fill = None if ln.kind == "village" else _SUB_FILL
        append(ws, _cells(ws, line_cells(ln), bold=ln.kind != "village", fill=fill, pct_cols=pct))

    ws2 = wb.create_sheet("本月未探访对象")
    for i, w in enumerate([7, 14, 14, 10, 6, 36, 24, 10, 13], 1):
        ws2.column_dimensions[get_column_letter(i)].width = w
    ws2.freeze_panes = "A3"
    print_setup(ws2, title_rows="2:2")
    _title(ws2, f"{f.scope.title} {f.month.label} 未探访对象名单（{n_lines}人）", len(LIST_HEADER))
    append(ws2, _cells(ws2, list(LIST_HEADER), bold=True, fill=_HEAD_FILL))
    n = 0
    bar = tqdm(total=n_lines, desc="未探访名单", unit="人", file=sys.stderr,
               disable=not progress, leave=False)
    for n, s in enumerate(lines, 1):
        town, village = f.scope.path(s.jurisdiction_id)
        # Plain values (not styled cells): a 50,000-row list stays fast and small.
        append(ws2, [n, town, village, s.name, s.gender, s.address, "、".join(s.categories),
                    s.visitor, s.last_visit])
        bar.update()
    bar.close()

    if charts:
        from openpyxl.drawing.image import Image

        ws3 = wb.create_sheet("图表")
        import io

        for i, png in enumerate(charts):
            img = Image(io.BytesIO(png))
            img.anchor = f"A{1 + i * 32}"
            ws3.add_image(img)
    wb.save(path)
    return n


# --- PDF ----------------------------------------------------------------------------------


def write_monthly_pdf(f: MonthlyFigures, lines: Iterator[SubjectLine], n_lines: int, path: Path,
                      charts: list[bytes] | None = None, list_limit: int = PDF_LIST_LIMIT,
                      progress: bool = True) -> int:
    from store.reports.render_pdf import html_to_pdf, render_html

    listed: list[dict[str, object]] = []
    bar = tqdm(total=min(n_lines, list_limit), desc="未探访名单", unit="人", file=sys.stderr,
               disable=not progress, leave=False)
    for i, s in enumerate(lines, 1):
        if i > list_limit:
            break
        town, village = f.scope.path(s.jurisdiction_id)
        listed.append({"n": i, "town": town, "village": village, "name": s.name,
                       "gender": s.gender or "", "address": s.address or "",
                       "categories": "、".join(s.categories), "visitor": s.visitor or "",
                       "last": s.last_visit or ""})
        bar.update()
    bar.close()
    html = render_html("monthly.html.j2", f=f, header=SUMMARY_HEADER, lines=list(summary_lines(f)),
                       cells=line_cells, listed=listed, n_lines=n_lines, charts=charts or [],
                       list_header=LIST_HEADER, today=date.today())  # noqa: DTZ011 - a label
    html_to_pdf(html, path)
    return len(listed)


# --- one call for the CLI, the chat command and the dashboard --------------------------------


def officer_roots(session: Session, person_id: int) -> list[int]:
    return [r for r in session.scalars(
        select(Role.jurisdiction_id).where(Role.person_id == person_id, Role.role == "officer",
                                           Role.jurisdiction_id.is_not(None))) if r is not None]


def export_monthly(session: Session, root_ids: list[int], month: Month, fmt: str, path: Path,
                   *, actor_id: int | None = None, as_of: date | None = None,
                   tz: str = DEFAULT_TZ, with_charts: bool = True,
                   progress: bool = True) -> Path:
    """Compute and write the monthly summary of the jurisdictions `root_ids`."""
    if fmt not in ("xlsx", "pdf"):
        raise ValueError(f"unknown format {fmt!r}: xlsx or pdf")
    scope = load_scope(session, root_ids)
    today = as_of or today_in(tz)
    figures = monthly_figures(session, scope, month, min(today, month.next_first), tz)
    n_lines = count_not_visited(session, scope, month)
    charts: list[bytes] = []
    if with_charts:
        from store.reports.charts import case_history, cases_png, coverage_history, coverage_png

        charts = [coverage_png(coverage_history(session, scope, month)),
                  cases_png(case_history(session, scope, month, tz=tz))]
    lines = not_visited(session, scope, month)
    writer = write_monthly_xlsx if fmt == "xlsx" else write_monthly_pdf
    listed = writer(figures, lines, n_lines, path, charts=charts, progress=progress)
    audit(session, actor_id, "export_monthly", None, scope=[r.id for r in scope.roots],
          month=month.key, format=fmt, subjects_listed=listed, file=path.name)
    session.commit()
    return path


def monthly_summary_file(session_factory: sessionmaker[Session], officer_person_id: int,
                         month: Month | str, fmt: str = "xlsx", *, folder: Path | None = None,
                         tz: str = DEFAULT_TZ) -> Path:
    """The officer's own jurisdiction's monthly summary as a file (for chat /report)."""
    m = Month.parse(month) if isinstance(month, str) else month
    with session_factory() as session:
        roots = officer_roots(session, officer_person_id)
        if not roots:
            raise PermissionError("only officers with a jurisdiction get monthly summaries")
        scope = load_scope(session, roots)
        out = (folder or Path(tempfile.mkdtemp(prefix="visitbot-report-")))
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"月汇总-{scope.title}-{m.key}.{fmt}"
        return export_monthly(session, roots, m, fmt, path, actor_id=officer_person_id, tz=tz,
                              progress=False)
