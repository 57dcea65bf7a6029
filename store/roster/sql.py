"""Set-based writes behind the roster import: one statement per table per chunk.

Every helper takes a Connection inside the caller's transaction and a batch of rows;
lookups are `WHERE key IN (…)` over the batch, writes are bulk INSERT … ON CONFLICT,
so the number of round trips depends on the number of chunks, not of rows.

PostgreSQL gets each batch as one array per column (`INSERT … SELECT FROM unnest(…)`,
`key = ANY(array)`): a statement with one parameter per column instead of one per
cell, which psycopg neither splits nor pipelines row by row (5x faster here). SQLite
takes a plain executemany, which its C driver runs quickly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Connection,
    Table,
    Text,
    any_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql.elements import ColumnElement

from store.base import utcnow
from store.models import (
    Assignment,
    FamilyLink,
    HouseholdMember,
    Jurisdiction,
    Person,
    Role,
    Subject,
    assignment_current,
)

J = cast(Table, Jurisdiction.__table__)
P = cast(Table, Person.__table__)
R = cast(Table, Role.__table__)
S = cast(Table, Subject.__table__)
F = cast(Table, FamilyLink.__table__)
A = cast(Table, Assignment.__table__)
H = cast(Table, HouseholdMember.__table__)

# Bound parameters per IN (…) list: far below SQLite's 32766 and PostgreSQL's 65535.
IN_BATCH = 5000


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _batches(items: Sequence[Any], size: int = IN_BATCH) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _in(conn: Connection, col: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """`col IN (…)`; on PostgreSQL `col = ANY(:array)`, one parameter for the lot."""
    if _is_pg(conn):
        return cast(ColumnElement[bool], col == any_(
            sql_cast(bindparam(None, list(values), type_=ARRAY(col.type)), ARRAY(col.type))))
    return cast(ColumnElement[bool], col.in_(list(values)))


def _pg_source(table: Table, cols: list[str], rows: list[dict[str, Any]]) -> Any:
    """SELECT … FROM unnest(:col1_array, :col2_array, …): the rows as column arrays.

    A column whose value is the same in every row is sent once, as a scalar.
    """
    exprs: dict[str, Any] = {}
    arrays: list[Any] = []
    names: list[str] = []
    for i, c in enumerate(cols):
        col_type = table.c[c].type
        values = [r[c] for r in rows]
        if isinstance(col_type, JSON):  # JSONB on PostgreSQL: sent as text, cast there
            values = [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
            elem, target = Text(), JSONB()
        else:
            elem, target = col_type, col_type
        first = values[0]
        if i > 0 and all(v == first and type(v) is type(first) for v in values):
            exprs[c] = sql_cast(bindparam(None, first, type_=elem), target)
        else:
            arrays.append(sql_cast(bindparam(None, values, type_=ARRAY(elem)), ARRAY(target)))
            names.append(c)
    src = func.unnest(*arrays).table_valued(*names).render_derived(name="src")
    return select(*[exprs[c].label(c) if c in exprs else src.c[c] for c in cols])


def bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]], *,
                conflict: Sequence[str] | None = None,
                set_: Callable[[Any], dict[str, Any]] | None = None,
                returning: Sequence[Any] = ()) -> list[Any]:
    """INSERT rows [ON CONFLICT (conflict) DO UPDATE SET set_(excluded) | DO NOTHING].

    Rows must share their keys. Rows repeating a conflict key are merged (last wins):
    PostgreSQL refuses to update one row twice in a statement.
    """
    if not rows:
        return []
    if conflict:
        rows = list({tuple(r[c] for c in conflict): r for r in rows}.values())
    cols = list(rows[0])
    pg = _is_pg(conn)
    stmt: Any
    if pg:
        stmt = postgresql.insert(table).from_select(cols, _pg_source(table, cols, rows))
    else:
        stmt = sqlite.insert(table)
    if conflict is not None:
        if set_ is None:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
        else:
            stmt = stmt.on_conflict_do_update(index_elements=list(conflict),
                                              set_=set_(stmt.excluded))
    if returning:
        stmt = stmt.returning(*returning)
    result = conn.execute(stmt) if pg else conn.execute(stmt, rows)
    return [tuple(r) for r in result.all()] if returning else []


# --- the jurisdiction tree -----------------------------------------------------------

Path3 = tuple[str, str | None, str | None]  # (county, township, village)


def ensure_tree(conn: Connection, paths: Iterable[Path3]) -> tuple[dict[Path3, int], int]:
    """Ids for every county/township/village path, creating missing nodes.

    Returns ({path: id} for each prefix of each path, nodes created). A few hundred
    nodes at most, so three small rounds (one per level) are plenty.
    """
    paths = set(paths)
    created = 0
    ids: dict[Path3, int] = {}
    counties = sorted({p[0] for p in paths})
    # A county may already hang under a city someone created; match it by name and level.
    found = conn.execute(
        select(J.c.name, J.c.id).where(J.c.level == "county", _in(conn, J.c.name, counties))
        .order_by(J.c.id)
    ).all()
    for name, jid in found:
        ids.setdefault((name, None, None), jid)
    missing = [{"name": c, "level": "county", "parent_id": None}
               for c in counties if (c, None, None) not in ids]
    if missing:
        rows = bulk_insert(conn, J, missing, returning=(J.c.name, J.c.id))
        created += len(rows)
        for name, jid in rows:
            ids[(name, None, None)] = jid

    for level, depth in (("township", 1), ("village", 2)):
        wanted: dict[tuple[int, str], Path3] = {}
        for p in paths:
            if p[depth] is None:
                continue
            prefix = (p[0], p[1], None) if depth == 2 else (p[0], None, None)
            node = (p[0], p[1], p[2]) if depth == 2 else (p[0], p[1], None)
            wanted[(ids[prefix], cast(str, node[depth]))] = node
        if not wanted:
            continue
        parents = sorted({k[0] for k in wanted})
        existing = {(pid, name): jid for jid, pid, name in conn.execute(
            select(J.c.id, J.c.parent_id, J.c.name).where(_in(conn, J.c.parent_id, parents))
        ).all()}
        new_rows = [{"name": name, "level": level, "parent_id": pid}
                    for (pid, name) in wanted if (pid, name) not in existing]
        if new_rows:
            for pid, name, jid in bulk_insert(conn, J, new_rows,
                                              returning=(J.c.parent_id, J.c.name, J.c.id)):
                existing[(pid, name)] = jid
            created += len(new_rows)
        for key, node in wanted.items():
            ids[node] = existing[key]
    return ids, created


# --- people ------------------------------------------------------------------------


def existing_by_id_number(conn: Connection, numbers: Sequence[str]) -> dict[str, tuple[int, bool]]:
    """{id_number: (person_id, is_subject)} for those already stored."""
    out: dict[str, tuple[int, bool]] = {}
    for batch in _batches(numbers):
        for number, pid, sid in conn.execute(
            select(P.c.id_number, P.c.id, S.c.person_id)
            .select_from(P.outerjoin(S, S.c.person_id == P.c.id))
            .where(_in(conn, P.c.id_number, batch))
        ).all():
            out[number] = (pid, sid is not None)
    return out


def upsert_people_by_id(conn: Connection, rows: list[dict[str, Any]],
                        *, set_jurisdiction: bool) -> dict[str, int]:
    """INSERT … ON CONFLICT (id_number) DO UPDATE; returns {id_number: person_id}.

    Subjects move with the roster (their village is set); visitors keep a village
    once they have one, since they may serve several.
    """
    if not rows:
        return {}
    now = utcnow()
    for r in rows:
        r.setdefault("created_at", now)
        r["updated_at"] = now

    def set_(ex: Any) -> dict[str, Any]:
        return {"name": ex.name, "gender": ex.gender, "birth_date": ex.birth_date,
                "phone": func.coalesce(ex.phone, P.c.phone),
                "jurisdiction_id": ex.jurisdiction_id if set_jurisdiction
                else func.coalesce(P.c.jurisdiction_id, ex.jurisdiction_id),
                "updated_at": ex.updated_at}

    return dict(bulk_insert(conn, P, rows, conflict=["id_number"], set_=set_,
                            returning=(P.c.id_number, P.c.id)))


def resolve_by_phone(conn: Connection, wanted: dict[str, dict[str, Any]],
                     *, avoid: dict[str, set[int]] | None = None,
                     rename: bool = False) -> tuple[dict[str, int], int]:
    """People keyed by phone (no ID number known): find, else create.

    A phone is not unique in `people` (a cadre may also be a child), so: prefer a person
    who is not a subject (an elder's phone is often the child's), never one of `avoid`
    (the subject of the same row), lowest id first for stability. Returns
    ({phone: person_id}, created).
    """
    phones = sorted(wanted)
    candidates: dict[str, list[tuple[bool, int, str | None, str]]] = {}
    for batch in _batches(phones):
        for phone, pid, sid, number, name in conn.execute(
            select(P.c.phone, P.c.id, S.c.person_id, P.c.id_number, P.c.name)
            .select_from(P.outerjoin(S, S.c.person_id == P.c.id))
            .where(_in(conn, P.c.phone, batch))
        ).all():
            candidates.setdefault(phone, []).append((sid is not None, pid, number, name))
    out: dict[str, int] = {}
    renames: list[dict[str, Any]] = []
    for phone in phones:
        banned = (avoid or {}).get(phone, set())
        options = sorted(c for c in candidates.get(phone, []) if not c[0] and c[1] not in banned)
        if options:
            _is_subject, pid, number, name = options[0]
            out[phone] = pid
            # Only phone-keyed people are renamed: an ID-keyed one has an authoritative name.
            if rename and number is None and name != wanted[phone]["name"]:
                renames.append({"pid": pid, "new_name": wanted[phone]["name"]})
    if renames:
        conn.execute(update(P).where(P.c.id == bindparam("pid")).values(
            name=bindparam("new_name"), updated_at=utcnow()), renames)
    now = utcnow()
    new_rows = [{**wanted[p], "phone": p, "created_at": now, "updated_at": now}
                for p in phones if p not in out]
    for phone, pid in bulk_insert(conn, P, new_rows, returning=(P.c.phone, P.c.id)):
        out[phone] = pid
    return out, len(new_rows)


# --- roles, subjects, families -----------------------------------------------------


def upsert_roles(conn: Connection, rows: list[dict[str, Any]], *, update_title: bool) -> None:
    """Roles are unique per (person, role, jurisdiction); a title is refreshed if given."""
    bulk_insert(conn, R, rows, conflict=["person_id", "role", "jurisdiction_id"],
                set_=(lambda ex: {"title": func.coalesce(ex.title, R.c.title), "on_duty": True})
                if update_title else None)


def drop_moved_subject_roles(conn: Connection, village_of: dict[int, int]) -> None:
    """A subject moved village: their old subject role would keep them in the old scope."""
    pids = sorted(village_of)
    stale: list[int] = []
    for batch in _batches(pids):
        for rid, pid, jid in conn.execute(
            select(R.c.id, R.c.person_id, R.c.jurisdiction_id)
            .where(R.c.role == "subject", _in(conn, R.c.person_id, batch))
        ).all():
            if village_of[pid] != jid:
                stale.append(rid)
    for batch in _batches(stale):
        conn.execute(delete(R).where(_in(conn, R.c.id, batch)))


# Columns of `subjects` the roster owns. Not here, on purpose: tier_override and status*
# (set by officers), first_contact_person_id and extra (set elsewhere); a re-import
# must not undo those.
SUBJECT_ROSTER_COLUMNS = (
    "policy", "categories", "tier", "address", "hukou_type", "health_status", "diseases",
    "self_care", "disabled", "disability_cert_no", "lives_alone", "empty_nest",
    "left_behind", "family_planning_special", "income_source", "annual_income_wan",
    "monthly_income", "monthly_benefits", "water_safe", "fire_power_gas_safe",
    "housing_safe", "children_count", "emergency_contact_name", "emergency_contact_phone",
    "help_org_name", "helper_name", "helper_phone", "helper_identity", "help_measures",
    "notes", "family_notify_consent", "lives_at_hukou",
)


def upsert_subjects(conn: Connection, rows: list[dict[str, Any]]) -> None:
    bulk_insert(conn, S, rows, conflict=["person_id"],
                set_=lambda ex: {c: getattr(ex, c) for c in SUBJECT_ROSTER_COLUMNS})


def replace_household(conn: Connection, members: dict[int, list[dict[str, Any]]]) -> None:
    """Each named subject's co-residents become exactly these."""
    if not members:
        return
    ids = list(members)
    for batch in _batches(ids):
        conn.execute(delete(H).where(_in(conn, H.c.subject_id, list(batch))))
    rows = [{"subject_id": sid, **m} for sid, ms in members.items() for m in ms]
    if rows:
        conn.execute(insert(H), rows)
def apply_tier_overrides(conn: Connection, subject_ids: list[int]) -> None:
    """An officer's tier_override wins over the tier the roster's facts give."""
    for batch in _batches(sorted(subject_ids)):
        conn.execute(update(S).where(_in(conn, S.c.person_id, batch),
                                     S.c.tier_override.isnot(None), S.c.tier_override != "",
                                     S.c.tier != S.c.tier_override)
                     .values(tier=S.c.tier_override))


def upsert_family_links(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """`notify` is left alone on update: a child who asked to stop notices stays stopped."""
    bulk_insert(conn, F, rows, conflict=["subject_id", "person_id"],
                set_=lambda ex: {"relation": ex.relation,
                                 "is_primary_supporter": ex.is_primary_supporter,
                                 "planned_return": ex.planned_return})


def sync_assignments(conn: Connection, visitor_of: dict[int, int], today: date) -> tuple[int, int]:
    """Make `visitor_of[subject]` the subject's active visitor from today.

    Active means ends_on is NULL or not yet past (as bot/chat/scope.py reads it). A replaced
    assignment gets ends_on = yesterday, so the old visitor is out of scope from today;
    one that started today is deleted instead (same-day correction). Returns
    (created, ended).
    """
    yesterday = date.fromordinal(today.toordinal() - 1)
    active: dict[int, list[tuple[int, int, date]]] = {}
    for batch in _batches(sorted(visitor_of)):
        for aid, sid, vid, starts in conn.execute(
            select(A.c.id, A.c.subject_id, A.c.visitor_id, A.c.starts_on).where(
                _in(conn, A.c.subject_id, batch), assignment_current(today, A))
        ).all():
            active.setdefault(sid, []).append((aid, vid, starts))
    new_rows: list[dict[str, Any]] = []
    to_end: list[int] = []
    to_delete: list[int] = []
    for sid, vid in visitor_of.items():
        current = active.get(sid, [])
        if not any(v == vid for _a, v, _s in current):
            new_rows.append({"subject_id": sid, "visitor_id": vid, "starts_on": today,
                             "ends_on": None})
        for aid, v, starts in current:
            if v != vid:
                (to_delete if starts >= today else to_end).append(aid)
    for batch in _batches(to_end):
        conn.execute(update(A).where(_in(conn, A.c.id, batch)).values(ends_on=yesterday))
    for batch in _batches(to_delete):
        conn.execute(delete(A).where(_in(conn, A.c.id, batch)))
    bulk_insert(conn, A, new_rows)
    return len(new_rows), len(to_end) + len(to_delete)
