"""`import_roster`: a whole roster (or staff sheet) in one all-or-nothing transaction.

First every row is validated (store/roster/validate.py); with any error and no
`skip_invalid`, nothing is written. Then the rows go in set-based, chunk by chunk
(store/roster/sql.py): jurisdictions, visitors, then per chunk people, subjects, roles,
children and assignments. The ID number is a subject's key, so re-importing a corrected
file updates in place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from time import perf_counter
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from store.idcard import parse
from store.roster import sql
from store.roster.columns import detect_kind
from store.roster.read import RosterFileError, open_sheet
from store.roster.validate import RosterRow, RowError, StaffRow, validate_sheet

__all__ = ["ImportReport", "PolicyBook", "RosterFileError", "import_roster", "import_staff",
           "local_today"]

CHUNK_ROWS = 5000
Progress = Callable[[int, int], None]  # (rows done so far, rows to import)
# assignment dates are calendar days of the county's time zone (VISITBOT_TIMEZONE, which
# callers pass); this is its default
CALENDAR_TZ = "Asia/Shanghai"


def local_today(tz: str = CALENDAR_TZ) -> date:
    return datetime.now(ZoneInfo(tz)).date()


@dataclass
class ImportReport:
    path: str
    kind: str  # roster|staff
    rows_total: int = 0
    rows_imported: int = 0
    rows_skipped: int = 0
    subjects_created: int = 0
    subjects_updated: int = 0
    visitors: int = 0
    visitors_created: int = 0
    families: int = 0
    family_people_created: int = 0
    villages: int = 0
    jurisdictions_created: int = 0
    assignments_created: int = 0
    assignments_ended: int = 0
    officers: int = 0
    officers_created: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    committed: bool = False  # False: the database was not touched

    @property
    def ok(self) -> bool:
        return self.committed

    @property
    def rows_per_second(self) -> float:
        return self.rows_imported / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        if not self.committed:
            return f"未导入：{len(self.errors)} 处错误，数据库未作任何改动"
        head = f"共 {self.rows_total} 行，导入 {self.rows_imported} 行"
        if self.rows_skipped:
            head += f"（跳过有错误的 {self.rows_skipped} 行）"
        if self.kind == "staff":
            body = f"工作人员 {self.officers} 人（新建 {self.officers_created} 人）"
        else:
            body = (f"对象 新增 {self.subjects_created}、更新 {self.subjects_updated}；"
                    f"访视责任人 {self.visitors} 人（新建 {self.visitors_created}）；"
                    f"家属联系 {self.families} 条；村（居）{self.villages} 个；"
                    f"分派 新建 {self.assignments_created}、结束 {self.assignments_ended}")
        return (f"{head}；{body}；用时 {self.seconds:.1f} 秒"
                f"（{self.rows_per_second:,.0f} 行/秒）")


class PolicyBook(Protocol):
    """The policies, as scheduler.policy_book.PolicyBook gives them (store/ cannot import
    scheduler/): the names that load, and the tier a row's facts give under a policy."""

    def names(self) -> list[str]: ...

    def tier(self, name: str, facts: Mapping[str, Any], today: date) -> str: ...


def import_roster(session_factory: sessionmaker[Session], path: str | Path, *,
                  policy_default: str, skip_invalid: bool = False,
                  progress: Progress | None = None, today: date | None = None,
                  chunk_rows: int = CHUNK_ROWS,
                  policies: PolicyBook | None = None) -> ImportReport:
    """Import a roster or staff sheet (detected by its header).

    Raises RosterFileError when the file cannot be read at all (format, encoding, zip
    bomb). Content problems come back in `report.errors`; then nothing is written
    unless `skip_invalid`, which imports the good rows and lists the skipped ones.
    """
    started = perf_counter()
    path = Path(path)
    today = today or local_today()
    sheet = open_sheet(path)
    kind = detect_kind(sheet.headers)
    checked = validate_sheet(sheet, kind, policy_default=policy_default, today=today,
                             policies=None if policies is None else set(policies.names()))
    report = ImportReport(path=str(path), kind=kind, rows_total=checked.rows_total,
                          errors=checked.errors, warnings=checked.warnings)
    if checked.fatal or (checked.errors and not skip_invalid):
        report.seconds = perf_counter() - started
        return report
    report.rows_skipped = len({e.row for e in checked.errors if e.row != checked.header_row})
    with session_factory() as session, session.begin():
        conn = session.connection()
        if kind == "staff":
            _staff(conn, [r for r in checked.records if isinstance(r, StaffRow)], report)
        else:
            rows = [r for r in checked.records if isinstance(r, RosterRow)]
            _roster(conn, rows, report, today, progress, max(1, chunk_rows), policies)
    report.committed = True
    report.seconds = perf_counter() - started
    return report


def import_staff(session_factory: sessionmaker[Session], path: str | Path) -> ImportReport:
    """Officers from a staff sheet; the same as import_roster, which detects the kind."""
    return import_roster(session_factory, path, policy_default="")


# --- roster rows -------------------------------------------------------------------


def _roster(conn: Connection, rows: list[RosterRow], report: ImportReport, today: date,
            progress: Progress | None, chunk_rows: int, policies: PolicyBook | None) -> None:
    tree, report.jurisdictions_created = sql.ensure_tree(
        conn, {(r.county, r.township, r.village) for r in rows})
    report.villages = len({(r.county, r.township, r.village) for r in rows})
    visitor_ids = _visitors(conn, rows, tree, report)
    total = len(rows)
    if progress is not None:
        progress(0, total)
    for start in range(0, total, chunk_rows):
        chunk = rows[start:start + chunk_rows]
        _roster_chunk(conn, chunk, tree, visitor_ids, report, today, policies)
        report.rows_imported += len(chunk)
        if progress is not None:
            progress(report.rows_imported, total)


def _visitors(conn: Connection, rows: list[RosterRow], tree: dict[sql.Path3, int],
              report: ImportReport) -> dict[str, int]:
    """One person per visitor (by ID number, else phone) and a visitor role per village."""
    first: dict[str, RosterRow] = {}
    titles: dict[tuple[str, int], str | None] = {}
    for r in rows:
        first.setdefault(r.visitor_key, r)
        village = tree[(r.county, r.township, r.village)]
        if titles.get((r.visitor_key, village)) is None:
            titles[(r.visitor_key, village)] = r.visitor_title
    report.visitors = len(first)

    by_id = [r for r in first.values() if r.visitor_id]
    numbers = [r.visitor_id for r in by_id if r.visitor_id]
    known = sql.existing_by_id_number(conn, numbers)
    id_rows = []
    for r in by_id:
        info = parse(r.visitor_id or "")
        id_rows.append({"id_number": info.number, "name": r.visitor_name,
                        "phone": r.visitor_phone, "gender": info.gender,
                        "birth_date": info.birth_date,
                        "jurisdiction_id": tree[(r.county, r.township, r.village)]})
    keyed = {f"id:{k}": v for k, v in sql.upsert_people_by_id(
        conn, id_rows, set_jurisdiction=False).items()}
    report.visitors_created += sum(1 for n in numbers if n not in known)

    by_phone = {r.visitor_phone: {"name": r.visitor_name,
                                  "jurisdiction_id": tree[(r.county, r.township, r.village)]}
                for r in first.values() if not r.visitor_id}
    phone_ids, created = sql.resolve_by_phone(conn, by_phone, rename=True)
    report.visitors_created += created
    keyed.update({f"tel:{p}": pid for p, pid in phone_ids.items()})

    sql.upsert_roles(conn, [
        {"person_id": keyed[key], "role": "visitor", "jurisdiction_id": village, "title": title,
         "on_duty": True}
        for (key, village), title in titles.items()
    ], update_title=True)
    return keyed


def _roster_chunk(conn: Connection, chunk: list[RosterRow], tree: dict[sql.Path3, int],
                  visitor_ids: dict[str, int], report: ImportReport, today: date,
                  policies: PolicyBook | None) -> None:
    known = sql.existing_by_id_number(conn, [r.id_number for r in chunk])
    village = {r.id_number: tree[(r.county, r.township, r.village)] for r in chunk}
    pids = sql.upsert_people_by_id(conn, [
        {"id_number": r.id_number, "name": r.name, "gender": r.gender,
         "birth_date": r.birth_date, "phone": r.phone, "jurisdiction_id": village[r.id_number]}
        for r in chunk
    ], set_jurisdiction=True)
    was_subject = {pids[n] for n, (_pid, is_subject) in known.items() if is_subject}
    report.subjects_updated += len(was_subject)
    report.subjects_created += len(chunk) - len(was_subject)

    sql.upsert_subjects(conn, [
        _subject_values(r, pids[r.id_number], _tier(r, policies, today)) for r in chunk])
    # an officer's tier_override (never touched by the import) still wins
    sql.apply_tier_overrides(conn, [pids[r.id_number] for r in chunk])
    sql.upsert_roles(conn, [
        {"person_id": pids[r.id_number], "role": "subject",
         "jurisdiction_id": village[r.id_number], "title": None, "on_duty": True}
        for r in chunk
    ], update_title=False)
    if was_subject:
        sql.drop_moved_subject_roles(conn, {
            pids[r.id_number]: village[r.id_number] for r in chunk
            if pids[r.id_number] in was_subject})

    _children(conn, chunk, pids, village, report)
    # A row that names co-residents replaces the subject's household; an empty cell
    # leaves what is recorded.
    sql.replace_household(conn, {pids[r.id_number]: [
        {"name": m.name, "relation": m.relation, "health": m.health, "co_resident": True}
        for m in r.household] for r in chunk if r.household})
    created, ended = sql.sync_assignments(
        conn, {pids[r.id_number]: visitor_ids[r.visitor_key] for r in chunk}, today)
    report.assignments_created += created
    report.assignments_ended += ended


def _tier(r: RosterRow, policies: PolicyBook | None, today: date) -> str:
    """The policy's tier for the row's facts: the tick derives the same from the same
    facts. Without a policy book (a library caller) the roster's own rough rule."""
    if policies is None:
        return r.tier
    return policies.tier(r.policy, {
        "self_care": r.self_care, "categories": r.categories, "lives_alone": r.lives_alone,
        "disabled": r.disabled, "birth_date": r.birth_date}, today)


def _subject_values(r: RosterRow, person_id: int, tier: str) -> dict[str, Any]:
    return {
        "person_id": person_id, "policy": r.policy, "categories": r.categories,
        "tier": tier, "status": "active", "address": r.address, "hukou_type": r.hukou,
        "health_status": r.health, "diseases": r.diseases, "self_care": r.self_care,
        "disabled": r.disabled, "disability_cert_no": r.disability_cert,
        "lives_alone": r.lives_alone, "empty_nest": r.empty_nest,
        "left_behind": r.left_behind, "family_planning_special": r.fp_special,
        "income_source": r.income_source, "annual_income_wan": r.annual_income,
        "monthly_income": r.monthly_income, "monthly_benefits": r.benefits,
        "water_safe": r.water_safe, "fire_power_gas_safe": r.fire_safe,
        "housing_safe": r.housing_safe, "children_count": r.children_count,
        "emergency_contact_name": r.emergency_name,
        "emergency_contact_phone": r.emergency_phone, "help_org_name": r.help_org,
        # linzi 附件1's 帮扶联系人 is the responsible visitor: kept in step with the roster.
        "helper_name": r.visitor_name, "helper_phone": r.visitor_phone,
        "helper_identity": r.visitor_title, "help_measures": r.help_measures,
        "notes": r.notes, "family_notify_consent": r.notify_consent, "extra": {},
        "lives_at_hukou": r.lives_at_hukou,
    }


def _children(conn: Connection, chunk: list[RosterRow], pids: dict[str, int],
              village: dict[str, int], report: ImportReport) -> None:
    wanted: dict[str, dict[str, Any]] = {}
    avoid: dict[str, set[int]] = {}
    for r in chunk:
        for child in r.children:
            wanted.setdefault(child.phone, {"name": child.name, "jurisdiction_id": None})
            avoid.setdefault(child.phone, set()).add(pids[r.id_number])
    if not wanted:
        return
    child_ids, created = sql.resolve_by_phone(conn, wanted, avoid=avoid)
    report.family_people_created += created
    links: dict[tuple[int, int], dict[str, Any]] = {}
    roles: dict[tuple[int, int], dict[str, Any]] = {}
    for r in chunk:
        sid = pids[r.id_number]
        for child in r.children:
            cid = child_ids[child.phone]
            if cid == sid:
                continue
            links.setdefault((sid, cid), {
                "subject_id": sid, "person_id": cid, "relation": child.relation,
                "is_primary_supporter": child.primary, "planned_return": child.planned_return,
                "notify": True})
            roles.setdefault((cid, village[r.id_number]), {
                "person_id": cid, "role": "family", "jurisdiction_id": village[r.id_number],
                "title": child.relation, "on_duty": True})
    sql.upsert_family_links(conn, list(links.values()))
    sql.upsert_roles(conn, list(roles.values()), update_title=False)
    report.families += len(links)


# --- staff rows --------------------------------------------------------------------


def _staff(conn: Connection, rows: list[StaffRow], report: ImportReport) -> None:
    paths = {(r.county, r.township, r.village) for r in rows}
    tree, report.jurisdictions_created = sql.ensure_tree(conn, paths)
    node = {r.row: tree[(r.county, r.township, r.village)] for r in rows}
    with_id = {r.id_number: r for r in rows if r.id_number}
    known = sql.existing_by_id_number(conn, list(with_id))
    by_id = sql.upsert_people_by_id(conn, [
        {"id_number": n, "name": r.name, "phone": r.phone, "gender": parse(n).gender,
         "birth_date": parse(n).birth_date, "jurisdiction_id": node[r.row]}
        for n, r in with_id.items()
    ], set_jurisdiction=False)
    by_phone, created = sql.resolve_by_phone(conn, {
        r.phone: {"name": r.name, "jurisdiction_id": node[r.row]}
        for r in rows if not r.id_number}, rename=True)
    report.officers_created = created + sum(1 for n in with_id if n not in known)
    roles: dict[tuple[int, int], dict[str, Any]] = {}
    for r in rows:
        pid = by_id[r.id_number] if r.id_number else by_phone[r.phone]
        roles.setdefault((pid, node[r.row]), {
            "person_id": pid, "role": "officer", "jurisdiction_id": node[r.row],
            "title": r.title, "on_duty": True})
    sql.upsert_roles(conn, list(roles.values()), update_title=True)
    report.officers = len({pid for pid, _node in roles})
    report.rows_imported = len(rows)
