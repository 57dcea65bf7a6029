"""Lists and ledgers: liuzhou 附件1/2/3 and linzi 附件1 (台账), streamed for big counties."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased
from tqdm import tqdm

from store.models import Person, Subject, Visit
from store.reports.audit import audit
from store.reports.forms import household_facts, linzi_info_form, liuzhou, write_grids, ym
from store.reports.formspec import Q
from store.reports.layout import Grid, P, T, clauses, place
from store.reports.period import Month
from store.reports.queries import Scope, load_scope, subjects_in_scope
from store.reports.records import load_cases, load_visit_records
from store.workbook import append, cell, print_setup

BATCH = 2000


def liuzhou_types(categories: list[str]) -> str:
    """访视对象类型（1至4）from the subject's categories."""
    out = set()
    for c in categories:
        if "孤儿" in c or "无人抚养" in c:
            out.add("4")
        elif "特困" in c:
            out.add("1")
        elif "低保" in c:
            out.add("2")
        elif "高龄" in c or "独居" in c:
            out.add("3")
    return "、".join(sorted(out))


LIUZHOU_NOTE = ("访视对象类型:1.独居、重残、重病的分散供养特困人员；2.独居、重残、重病的低保对象；"
                "3.独居的高龄老人；4.孤儿及事实无人抚养儿童。")


def _list_xlsx(path: Path, title: str, header: list[str], widths: list[int], lead: str,
               rows: Iterator[list[object]], foot: list[str], total: int | None = None) -> int:
    """A titled list in a write-only workbook: rows go to disk as they are produced.

    Bordered, wrapped cells, A4 landscape fitted to the page width, header row repeated on
    every page: it prints as the PDF does."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title[:28])
    for i, w in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = w
    print_setup(ws, title_rows="3:3")
    t = cell(ws, title)
    t.font = Font(name="宋体", bold=True, size=14)
    t.alignment = Alignment(horizontal="center")
    append(ws, [t])
    ws.merged_cells.add(f"A1:{get_column_letter(len(header))}1")
    append(ws, [lead])
    heads = []
    for h in header:
        c = cell(ws, h)
        c.font = Font(name="宋体", bold=True)
        c.border = _BOX
        c.alignment = _WRAP
        heads.append(c)
    append(ws, heads)
    n = 0
    for n, row in enumerate(tqdm(rows, total=total, file=sys.stderr, leave=False,  # noqa: B007
                                 desc=title[:12], disable=total is not None and total < 5000),
                            1):
        append(ws, [_boxed(ws, v) for v in row])
    for line in foot:
        append(ws, [line])
    wb.save(path)
    return n


_THIN = Side(style="thin")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP = Alignment(vertical="center", wrap_text=True)


def _boxed(ws: Any, value: object) -> Any:
    c = cell(ws, value)
    c.border = _BOX
    c.alignment = _WRAP
    return c


def _list_pdf(path: Path, title: str, header: list[str], lead: str, rows: Iterator[list[object]],
              foot: list[str], widths: list[int] | None = None) -> int:
    from store.reports.render_pdf import html_to_pdf, render_html

    data = [[("" if v is None else v) for v in r] for r in rows]
    # the workbook's column widths as shares of the page: no column squeezed to one
    # character per line (names, addresses in the 26-column 台账)
    shares = [w * 100 / sum(widths) for w in widths] if widths else []
    html_to_pdf(render_html("list.html.j2", title=title, header=header, lead=lead, rows=data,
                            foot=foot, shares=shares), path)
    return len(data)


def _write_list(fmt: str, path: Path, title: str, header: list[str], widths: list[int], lead: str,
                rows: Iterator[list[object]], foot: list[str]) -> int:
    if fmt == "xlsx":
        return _list_xlsx(path, title, header, widths, lead, rows, foot)
    return _list_pdf(path, title, header, lead, rows, foot, widths)


def _county_of(session: Session, scope: Scope) -> str:
    from store.reports.records import place_names

    # The county sits above a township root, outside the loaded subtree: walk up.
    return place_names(session, scope.roots[0].id)[0] if scope.roots else "　　"


def export_liuzhou(session: Session, roots: list[int], month: Month, annex: int, fmt: str,
                   path: Path, actor_id: int | None = None) -> Path:
    scope = load_scope(session, roots)
    county = place(_county_of(session, scope), "county", "县（区、新区）")
    lead = f"填报单位：{scope.title}　　　　时间：{month.last.year}年{month.last.month}月　日"
    # 附件1 says 填表人, 附件2 填报人 (柳州 seed, 附件1 and 附件2 footers)
    signer = "填报人" if annex == 2 else "填表人"
    foot = [LIUZHOU_NOTE, f"{signer}：　　　　　　　　联系电话："]
    if annex == 1:
        title = f"柳州市{county}特殊民政服务对象纳入访视人员名单"
        rows = ([n, s.name, s.gender, s.id_number, s.address, liuzhou_types(s.categories), ""]
                for n, s in enumerate(subjects_in_scope(session, scope, month.last), 1))
        count = _write_list(fmt, path, title, ["序号", "姓名", "性别", "身份证号码", "住址",
                                                "访视对象类型（1至4）", "备注"],
                            [6, 10, 6, 21, 36, 12, 16], lead, rows, foot)
    elif annex == 2:
        title = f"柳州市{county}特殊民政服务对象访视情况月汇总表"
        count = _write_list(fmt, path, title, ["序号", "姓名", "性别", "住址",
                                                "访视对象类型（1至4）", "访视人", "访视时间",
                                                "有关建议", "落实情况"],
                            [6, 10, 6, 30, 10, 10, 12, 30, 30], lead,
                            _liuzhou_month_rows(session, scope, month), foot)
    elif annex == 3:
        grids: list[Grid] = []
        for recs in _month_visit_batches(session, scope, month):
            for r in recs:  # one sheet per visit, named for the person visited
                g = liuzhou(r)
                g.name = f"{len(grids) + 1:03d}-{r.person.name}"
                grids.append(g)
        if not grids:
            g = liuzhou_blank(county)
            grids = [g]
        write_grids(grids, fmt, path, f"{scope.title} {month.label} 访视情况登记表")
        count = len(grids)
    else:
        raise ValueError("annex must be 1, 2 or 3")
    audit(session, actor_id, f"export_liuzhou_{annex}", None, scope=roots, month=month.key,
          format=fmt, rows=count)
    session.commit()
    return path


def liuzhou_blank(county: str) -> Grid:
    title = f"柳州市{county}特殊民政服务对象访视情况登记表"
    g = Grid("登记表", title, 2, [14, 60])
    g.row(T(title, 2))
    g.row(P("本月无已归档的访视记录。", 2))
    return g


def _month_visits(session: Session, scope: Scope, month: Month) -> Iterator[Visit]:
    from store.reports.queries import _in_scope

    q = (select(Visit).join(Person, Person.id == Visit.subject_id)
         .where(_in_scope(scope), Visit.status == "filed", Visit.visited_on >= month.first,
                Visit.visited_on <= month.last)
         .order_by(Person.jurisdiction_id, Visit.visited_on, Visit.id)
         .execution_options(yield_per=BATCH))
    yield from session.scalars(q)


def _month_visit_batches(session: Session, scope: Scope, month: Month):  # type: ignore[no-untyped-def]
    batch: list[Visit] = []
    for v in _month_visits(session, scope, month):
        batch.append(v)
        if len(batch) >= 200:
            yield load_visit_records(session, batch)
            batch = []
    if batch:
        yield load_visit_records(session, batch)


def _liuzhou_month_rows(session: Session, scope: Scope, month: Month) -> Iterator[list[object]]:
    """附件2: one row per filed visit of the month; answers and cases loaded per batch."""
    from store.models import Answer
    from store.reports.queries import _in_scope

    vis = aliased(Person)
    q = (select(Visit.id, Person.name, Person.gender, Subject.address, Subject.categories,
                vis.name, Visit.visited_on, Visit.policy)
         .join(Person, Person.id == Visit.subject_id)
         .join(Subject, Subject.person_id == Visit.subject_id)
         .outerjoin(vis, vis.id == Visit.visitor_id)
         .where(_in_scope(scope), Visit.status == "filed", Visit.visited_on >= month.first,
                Visit.visited_on <= month.last)
         .order_by(Visit.visited_on, Visit.id).execution_options(yield_per=BATCH))
    n = 0
    buf: list[Any] = []

    def flush() -> Iterator[list[object]]:
        nonlocal n
        ids = [r[0] for r in buf]
        sugg_ids = {Q.get(r[7], {}).get("suggestions", "suggestions") for r in buf}
        sugg = dict(session.execute(select(Answer.visit_id, Answer.display).where(
            Answer.visit_id.in_(ids), Answer.question_id.in_(sugg_ids))).all())
        cases = load_cases(session, ids)
        for r in buf:
            n += 1
            res = clauses(f"{c.display}：{c.resolution or '处理中'}" for c in cases[r[0]])
            yield [n, r[1], r[2], r[3], liuzhou_types(list(r[4] or [])), r[5], r[6],
                   sugg.get(r[0], ""), res]

    for row in session.execute(q):
        buf.append(row)
        if len(buf) >= BATCH:
            yield from flush()
            buf = []
    if buf:
        yield from flush()


# --- linzi 附件1: the information collection form (台账) ------------------------------------


LEDGER_HEADER = ["序号", "镇（街道）", "村（居）", "姓名", "性别", "出生年月", "身份证号码",
                 "家庭住址", "健康状况", "患病种类或残疾等级", "生活来源", "年收入（万元）",
                 "共同居住人", "与本人关系", "共同居住人身体状况", "子女个数", "主要赡养人",
                 "联系电话", "外出时间", "外出地点", "计划返回时间", "帮扶联系人", "联系电话",
                 "身份", "帮扶人所在单位", "其他需要说明的问题"]


def _ledger_rows(session: Session, scope: Scope, as_of: date) -> Iterator[list[object]]:
    n = 0
    batch: list[tuple[Subject, Person]] = []
    q = (select(Subject, Person).join(Person, Person.id == Subject.person_id)
         .where(Person.jurisdiction_id.in_(scope.ids), Subject.status == "active")
         .order_by(Person.jurisdiction_id, Person.name, Person.id)
         .execution_options(yield_per=BATCH))

    def flush() -> Iterator[list[object]]:
        nonlocal n
        members, supporter = household_facts(session, [s.person_id for s, _ in batch])
        for s, p in batch:
            n += 1
            town, village = scope.path(p.jurisdiction_id)
            ms = members.get(s.person_id, [])
            fl, sp = supporter.get(s.person_id, (None, None))
            yield [n, town, village, p.name, p.gender, ym(p.birth_date), p.id_number, s.address,
                   s.health_status, s.diseases, s.income_source,
                   None if s.annual_income_wan is None else float(s.annual_income_wan),
                   "、".join(m.name for m in ms), "、".join(m.relation or "" for m in ms),
                   "、".join(m.health or "" for m in ms), s.children_count,
                   sp.name if sp else None, sp.phone if sp else None,
                   fl.away_since if fl else None, fl.away_place if fl else None,
                   ym(fl.planned_return) if fl else None, s.helper_name, s.helper_phone,
                   s.helper_identity, s.help_org_name, s.notes]

    for row in session.execute(q):
        batch.append(row)
        if len(batch) >= BATCH:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


def export_ledger(session: Session, roots: list[int], fmt: str, path: Path, *,
                  id_number: str | None = None, as_of: date, actor_id: int | None = None) -> Path:
    if id_number:
        from store.reports.forms import subject_by_id_number

        s, p = subject_by_id_number(session, id_number)
        write_grids([linzi_info_form(session, s, p)], fmt, path)
        audit(session, actor_id, "export_ledger", s.person_id, format=fmt)
        session.commit()
        return path
    scope = load_scope(session, roots)
    count = _write_list(fmt, path, f"{scope.title} 特殊关爱群体老年人信息台账", LEDGER_HEADER,
                        [6, 10, 10, 8, 5, 9, 20, 24] + [10] * (len(LEDGER_HEADER) - 8),
                        f"截至 {as_of}", _ledger_rows(session, scope, as_of), [])
    audit(session, actor_id, "export_ledger", None, scope=roots, format=fmt, rows=count)
    session.commit()
    return path
