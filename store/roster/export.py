"""`export_roster` and `write_template`: the roster back out, in the import's own layout.

Exported files are opened in Excel by people who trust them, so any text cell that
Excel would read as a formula (= + - @, or a leading tab/CR) is prefixed with a single
quote (CSV/formula injection); the import strips that quote again, so export → import
round-trips. Every export leaves an audit entry: the file holds ID numbers.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from store import idcard
from store.masking import mask_id, mask_phone
from store.models import (
    Assignment,
    AuditEntry,
    FamilyLink,
    HouseholdMember,
    Jurisdiction,
    Person,
    Role,
    Subject,
    assignment_current,
)
from store.roster.columns import ROSTER_COLUMNS, STAFF_COLUMNS, Column
from store.roster.importer import local_today
from store.workbook import append, cell, neutralize

ID_KEYS = frozenset({"id_number", "visitor_id", "disability_cert"})  # 残疾人证号 = ID + 2
PHONE_KEYS = frozenset({"phone", "emergency_phone", "child_phone", "visitor_phone"})
TEXT_KEYS = ID_KEYS | PHONE_KEYS  # XLSX cells formatted as text so Excel keeps all digits


def export_roster(session_factory: sessionmaker[Session], path: str | Path, *,
                  masked: bool = False, actor_id: int | None = None,
                  today: date | None = None) -> int:
    """Write every subject to `path` (.csv or .xlsx); returns the number of rows.

    `masked` writes ID numbers and phones masked, for a copy that leaves the office;
    `today` (the county's date) says whose assignment has ended.
    """
    path = Path(path)
    _check_suffix(path)
    with session_factory() as session, session.begin():
        conn = session.connection()
        rows = list(_roster_rows(conn, today or local_today()))
        session.add(AuditEntry(actor_id=actor_id, action="roster_export",
                               detail=f"{len(rows)} rows → {path.name}"
                                      f"{' (masked)' if masked else ''}"))
    if masked:
        rows = [_mask_row(r) for r in rows]
    _write(path, ROSTER_COLUMNS, rows)
    return len(rows)


def write_template(path: str | Path, *, staff: bool = False) -> None:
    """An empty template with one example row (which the user overwrites)."""
    path = Path(path)
    _check_suffix(path)
    columns = STAFF_COLUMNS if staff else ROSTER_COLUMNS
    _write(path, columns, [{c.key: c.example or None for c in columns}],
           notes=_TEMPLATE_NOTES if not staff else _STAFF_NOTES)


def _check_suffix(path: Path) -> None:
    if path.suffix.lower() not in (".csv", ".xlsx"):
        raise ValueError(f"文件名应以 .csv 或 .xlsx 结尾：{path.name}")


# --- reading the store ---------------------------------------------------------------


def _roster_rows(conn: Connection, today: date) -> Iterator[dict[str, Any]]:
    village, township, county = (aliased(Jurisdiction) for _ in range(3))
    visitor_of: dict[int, int] = {}
    for sid, vid in conn.execute(
        select(Assignment.subject_id, Assignment.visitor_id)
        .where(assignment_current(today))
        .order_by(Assignment.starts_on, Assignment.id)
    ).all():
        visitor_of[sid] = vid  # the latest start wins
    visitors = {pid: (name, phone, number) for pid, name, phone, number in conn.execute(
        select(Person.id, Person.name, Person.phone, Person.id_number)
        .where(Person.id.in_(select(Assignment.visitor_id).distinct()))).all()}
    titles = {(pid, jid): title for pid, jid, title in conn.execute(
        select(Role.person_id, Role.jurisdiction_id, Role.title)
        .where(Role.role == "visitor")).all()}
    children: dict[int, list[tuple[str, str | None, str | None, date | None]]] = {}
    for sid, name, phone, relation, back in conn.execute(
        select(FamilyLink.subject_id, Person.name, Person.phone, FamilyLink.relation,
               FamilyLink.planned_return)
        .join(Person, Person.id == FamilyLink.person_id)
        .order_by(FamilyLink.subject_id, FamilyLink.is_primary_supporter.desc(), FamilyLink.id)
    ).all():
        children.setdefault(sid, []).append((name, phone, relation, back))

    household: dict[int, list[tuple[str, str | None, str | None]]] = {}
    for sid, name, relation, health in conn.execute(
        select(HouseholdMember.subject_id, HouseholdMember.name, HouseholdMember.relation,
               HouseholdMember.health).where(HouseholdMember.co_resident.is_(True))
        .order_by(HouseholdMember.subject_id, HouseholdMember.id)
    ).all():
        household.setdefault(sid, []).append((name, relation, health))

    s_cols = [c.label(f"s_{c.key}") for c in Subject.__table__.columns]
    query = (
        select(*s_cols, Person.name.label("p_name"), Person.gender.label("p_gender"),
               Person.birth_date.label("p_birth"), Person.id_number.label("p_id"),
               Person.phone.label("p_phone"), Person.jurisdiction_id.label("p_jur"),
               county.name.label("c_name"), township.name.label("t_name"),
               village.name.label("v_name"))
        .join(Person, Person.id == Subject.person_id)
        .outerjoin(village, village.id == Person.jurisdiction_id)
        .outerjoin(township, township.id == village.parent_id)
        .outerjoin(county, county.id == township.parent_id)
        .order_by(county.name, township.name, village.name, Person.id)
    )
    for m in conn.execute(query.execution_options(yield_per=2000)).mappings():
        s = {k[2:]: v for k, v in m.items() if k.startswith("s_")}
        vid = visitor_of.get(s["person_id"])
        v_name, v_phone, v_number = visitors.get(vid, (None, None, None)) if vid else (
            None, None, None)
        kids = children.get(s["person_id"], [])
        members = household.get(s["person_id"], [])
        born = m["p_birth"]
        yield {
            "name": m["p_name"], "gender": m["p_gender"],
            "birth": f"{born:%Y-%m}" if born else None, "id_number": m["p_id"],
            "county": m["c_name"], "township": m["t_name"], "village": m["v_name"],
            "address": s["address"], "hukou": s["hukou_type"],
            "categories": "、".join(s["categories"] or []) or None,
            "policy": s["policy"], "self_care": s["self_care"],
            "health": s["health_status"], "diseases": s["diseases"],
            "lives_alone": _yn(s["lives_alone"]), "empty_nest": _yn(s["empty_nest"]),
            "left_behind": _yn(s["left_behind"]), "disabled": _yn(s["disabled"]),
            "disability_cert": s["disability_cert_no"],
            "fp_special": _yn(s["family_planning_special"]),
            "children_count": s["children_count"], "income_source": s["income_source"],
            "annual_income": _money(s["annual_income_wan"]),
            "monthly_income": _money(s["monthly_income"]),
            "benefits": s["monthly_benefits"], "water_safe": _yn(s["water_safe"]),
            "fire_safe": _yn(s["fire_power_gas_safe"]),
            "housing_safe": _yn(s["housing_safe"]), "phone": m["p_phone"],
            "emergency_name": s["emergency_contact_name"],
            "emergency_phone": s["emergency_contact_phone"],
            "child_name": _join(k[0] for k in kids), "child_phone": _join(k[1] for k in kids),
            "child_relation": _join_same(k[2] for k in kids),
            "child_return": _join_same(k[3].isoformat() if k[3] else None for k in kids),
            "visitor_name": v_name, "visitor_phone": v_phone, "visitor_id": v_number,
            "visitor_title": titles.get((vid, m["p_jur"])) if vid else None,
            "help_org": s["help_org_name"], "help_measures": s["help_measures"],
            "notify_consent": _yn(s["family_notify_consent"]), "notes": s["notes"],
            "lives_at_hukou": _yn(s["lives_at_hukou"]),
            "household_names": _join(h[0] for h in members),
            "household_relations": _join_same(h[1] for h in members),
            "household_health": _join_same(h[2] for h in members),
        }


def _yn(value: bool | None) -> str | None:
    return None if value is None else ("是" if value else "否")


def _money(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _join(values: Iterator[str | None]) -> str | None:
    items = [v or "" for v in values]
    return "、".join(items) if any(items) else None


def _join_same(values: Iterator[str | None]) -> str | None:
    items = [v or "" for v in values]
    if not any(items):
        return None
    return items[0] if len(set(items)) == 1 else "、".join(items)


def _mask_row(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ID_KEYS:
        out[key] = mask_id(out.get(key)) or None
    for key in PHONE_KEYS:
        value = out.get(key)
        out[key] = "、".join(mask_phone(p) for p in value.split("、")) if value else None
    return out


# --- writing files -----------------------------------------------------------------

_TEMPLATE_NOTES = (
    "每行一位探访对象；表头为第1行，请勿修改表头文字。",
    "必填：姓名、身份证号码、所属县(区)、所属乡镇(街道)、所属村(居)、访视责任人、访视责任人电话。",
    "身份证号码、电话请设为“文本”格式，否则 Excel 会丢掉末几位或开头的0。",
    "对象类型可填多个，用“、”分隔：分散供养特困、低保、独居、高龄、孤儿、事实无人抚养儿童、留守、"
    "空巢、失能、半失能、失智、失独、重残、重病、计划生育特殊家庭、与重度残疾子女同住、子女委托、其他。",
    "自理能力：自理 / 半失能 / 失能。是否类各列填“是”或“否”。",
    "访视人员类别：村（居）干部 / 志愿者 / 邻里 / 亲属 / 社工 / 其他。",
    "有多个子女时，姓名和电话分别用“、”分隔，顺序一致；第一位视为主要赡养人。",
    "共同居住人有多位时，姓名、与本人关系、身体状况分别用“、”分隔，顺序一致（关系、身体状况也可只填一个，"
    "表示都相同）；填写后将替换原有的共同居住人，不填则保留原记录。",
    "出生年月可写 1950-03、1950/3/1 或 1950年3月，须与身份证号码一致。",
    "同一身份证号码再次导入会更新原记录，不会重复；换了访视责任人会自动改派。",
)
_STAFF_NOTES = (
    "每行一位工作人员；角色填 村委会 / 乡镇 / 县。",
    "村委会人员须填到村(居)，乡镇人员填到乡镇(街道)，县级人员填到县(区)。",
)


def _cells(columns: Sequence[Column], row: dict[str, Any]) -> list[Any]:
    return [neutralize(row.get(c.key)) for c in columns]


def _write(path: Path, columns: Sequence[Column], rows: list[dict[str, Any]],
           notes: Sequence[str] = ()) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        # UTF-8 with BOM: Excel on Windows opens it as UTF-8 instead of guessing GBK.
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([c.header for c in columns])
            for row in rows:
                writer.writerow(["" if v is None else v for v in _cells(columns, row)])
        return
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("名单")
    bold = Font(bold=True)
    header = []
    for c in columns:
        head = cell(ws, c.header)
        head.font = bold
        header.append(head)
    append(ws, header)
    text_cols = [c.key in TEXT_KEYS for c in columns]
    for row in rows:
        out: list[Any] = []
        for is_text, value in zip(text_cols, _cells(columns, row), strict=True):
            if is_text:
                text = cell(ws, value)
                text.number_format = "@"
                out.append(text)
            else:
                out.append(value)
        append(ws, out)
    if notes:
        help_ws = wb.create_sheet("填写说明")
        for line in notes:
            append(help_ws, [line])
    wb.save(path)


def example_id() -> str:
    """The template's example ID number: well-formed, in an unassigned region (99)."""
    return idcard.make("990101", date(1938, 5, 12), 2)
