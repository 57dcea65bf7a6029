"""Set-based report queries: every figure is one GROUP BY over all rows in scope.

Counts are grouped by the subject's own jurisdiction (normally a village) and rolled up
to townships and the root in Python: a county has hundreds of villages, not thousands,
so the roll-up is cheap while the heavy lifting stays in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session, aliased

from conversations.numbers import read_int
from store.labels import SEVERITY_LABELS as LABELS_OF_SEVERITY
from store.models import (
    Assignment,
    Case,
    Jurisdiction,
    Person,
    Subject,
    Visit,
    assignment_in_force,
)
from store.reports.period import DEFAULT_TZ, Month

# Modes as the seeds name them; remote monitoring and "other" share one column.
MODE_COLUMNS = {"in_person": "上门", "phone": "电话", "video": "视频", "other": "其他"}
SEVERITIES = ("watch", "high", "emergency")
SEVERITY_LABELS = LABELS_OF_SEVERITY  # the one table (store/labels.py)
# An ad-hoc record is a visit made, not one owed: it counts as done, never as 应访.
UNOWED_KINDS = ("adhoc",)


# --- the jurisdiction tree ------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    id: int
    name: str
    level: str
    parent_id: int | None


@dataclass
class Scope:
    """The jurisdictions under some roots, with each node's township and village."""

    roots: list[Node]
    nodes: dict[int, Node]

    @property
    def ids(self) -> list[int]:
        return list(self.nodes)

    @property
    def title(self) -> str:
        return "、".join(r.name for r in self.roots) or "（无辖区）"

    def ancestor(self, jid: int | None, level: str) -> Node | None:
        seen = 0
        while jid is not None and jid in self.nodes and seen < 16:
            node = self.nodes[jid]
            if node.level == level:
                return node
            jid = node.parent_id
            seen += 1
        return None

    def path(self, jid: int | None) -> tuple[str, str]:
        """(township, village) names for grouping and sorting."""
        town = self.ancestor(jid, "township")
        village = self.ancestor(jid, "village")
        if town is None and jid in self.nodes and self.nodes[jid].level not in ("village",):
            # A subject filed directly under the county: show the county as its "township".
            town = self.nodes[jid]
        return (town.name if town else "", village.name if village else "")


def subtree_select(root_ids: Iterable[int]) -> Select[tuple[int]]:
    """A recursive CTE of the given jurisdictions and everything below them."""
    base = select(Jurisdiction.id).where(Jurisdiction.id.in_(list(root_ids))).cte(
        "jtree", recursive=True)
    child = select(Jurisdiction.id).where(Jurisdiction.parent_id == base.c.id)
    tree = base.union_all(child)
    return select(tree.c.id)


def load_scope(session: Session, root_ids: Iterable[int]) -> Scope:
    roots = list(root_ids)
    rows = session.execute(
        select(Jurisdiction.id, Jurisdiction.name, Jurisdiction.level, Jurisdiction.parent_id)
        .where(Jurisdiction.id.in_(subtree_select(roots)))
    ).all()
    nodes = {r.id: Node(r.id, r.name, r.level, r.parent_id) for r in rows}
    return Scope([nodes[r] for r in roots if r in nodes], nodes)


def find_jurisdiction(session: Session, name_or_id: str, level: str | None = None) -> int:
    """Resolve a jurisdiction given by id or by (unique) name."""
    if (n := read_int(name_or_id)) is not None:
        jid = session.get(Jurisdiction, n)
        if jid is None:
            raise LookupError(f"no jurisdiction with id {name_or_id}")
        return jid.id
    q = select(Jurisdiction.id, Jurisdiction.level).where(Jurisdiction.name == name_or_id)
    if level:
        q = q.where(Jurisdiction.level == level)
    rows = session.execute(q).all()
    if not rows:
        raise LookupError(f"no jurisdiction named {name_or_id!r}")
    if len(rows) > 1:
        raise LookupError(f"{len(rows)} jurisdictions are named {name_or_id!r}; give the id")
    return rows[0].id


def top_roots(session: Session) -> list[int]:
    return list(session.scalars(select(Jurisdiction.id).where(Jurisdiction.parent_id.is_(None))))


# --- the monthly figures --------------------------------------------------------------


@dataclass
class Counts:
    subjects: int = 0
    due: int = 0
    on_time: int = 0
    late: int = 0
    missing: int = 0
    pending: int = 0
    done: int = 0  # filed visits made this month, whatever their due date
    visited_subjects: int = 0
    by_mode: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MODE_COLUMNS, 0))
    cases_opened: int = 0
    cases_open: int = 0  # open at the end of the month (or now, for the current month)
    cases_resolved: int = 0
    open_by_severity: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEVERITIES, 0))

    @property
    def not_visited(self) -> int:
        return max(self.subjects - self.visited_subjects, 0)

    @property
    def coverage(self) -> float | None:
        """月探访率: share of subjects in scope visited at least once this month."""
        return self.visited_subjects / self.subjects if self.subjects else None

    @property
    def in_person_share(self) -> float | None:
        """上门占比: share of this month's filed visits made in person. The seeds ask for
        visits 「以上门巡访为主」 (Jingdezhen, Linzi) while allowing phone and video, so the
        office needs to see how far 'mainly' holds."""
        return self.by_mode.get("in_person", 0) / self.done if self.done else None

    def add(self, other: Counts) -> None:
        for name in ("subjects", "due", "on_time", "late", "missing", "pending", "done",
                     "visited_subjects", "cases_opened", "cases_open", "cases_resolved"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.by_mode.items():
            self.by_mode[k] = self.by_mode.get(k, 0) + v
        for k, v in other.open_by_severity.items():
            self.open_by_severity[k] = self.open_by_severity.get(k, 0) + v


def _sum(cond: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _in_scope(scope: Scope) -> ColumnElement[bool]:
    # The subtree is already loaded: a plain IN list of a few hundred ids lets SQLite and
    # PostgreSQL use the jurisdiction index, where a recursive CTE next to a correlated
    # subquery made SQLite re-run the CTE per row (seconds per thousand subjects).
    return Person.jurisdiction_id.in_(scope.ids)


def mode_bucket(mode: str | None) -> str:
    return mode if mode in ("in_person", "phone", "video") else "other"


def counts_by_jurisdiction(session: Session, scope: Scope, month: Month, as_of: date,
                           tz: str = DEFAULT_TZ) -> dict[int | None, Counts]:
    """The month's figures per subject jurisdiction, in five aggregate queries.

    Definitions (the test suite recomputes them from raw rows):
    - subjects: active subjects in scope (their current status);
    - due: visits owed this month (ad-hoc records and cancelled visits excluded); each is
      exactly one of on_time (filed by its deadline, or due date when it has none, or
      covered by an ad-hoc visit inside its window), late (filed after),
      missing (marked missed, or still open past its deadline as of `as_of`) or pending;
    - done/by_mode/visited_subjects: filed visits made this month, by their visit date;
    - cases: opened this month, resolved this month, open at the end of the month.
    """
    out: dict[int | None, Counts] = {}

    def get(jid: int | None) -> Counts:
        return out.setdefault(jid, Counts())

    in_scope = _in_scope(scope)
    jid = Person.jurisdiction_id

    for r in session.execute(
        select(jid, func.count()).select_from(Subject).join(Person, Person.id == Subject.person_id)
        .where(in_scope, Subject.status == "active").group_by(jid)
    ):
        get(r[0]).subjects = r[1]

    limit = func.coalesce(Visit.deadline, Visit.due_on)
    filed = Visit.status == "filed"
    open_ = Visit.status.in_(("planned", "in_progress"))
    # a period settled by an ad-hoc visit inside its window (scheduler.due) was visited
    # in time: the visit that covered it lies between the window's opening and deadline
    covered = Visit.status == "covered"
    for r in session.execute(
        select(jid, func.count(),
               _sum(or_(covered, and_(filed, Visit.visited_on <= limit))),
               _sum(and_(filed, or_(Visit.visited_on.is_(None), Visit.visited_on > limit))),
               _sum(or_(Visit.status == "missed", and_(open_, limit < as_of))),
               _sum(and_(open_, limit >= as_of)))
        .select_from(Visit).join(Person, Person.id == Visit.subject_id)
        .where(in_scope, Visit.due_on >= month.first, Visit.due_on <= month.last,
               Visit.status != "cancelled", Visit.kind.notin_(UNOWED_KINDS))
        .group_by(jid)
    ):
        c = get(r[0])
        c.due, c.on_time, c.late, c.missing, c.pending = (int(x) for x in r[1:])

    mode = case(*((Visit.mode == m, literal(m)) for m in ("in_person", "phone", "video")),
                else_=literal("other"))
    done = and_(filed, Visit.visited_on >= month.first, Visit.visited_on <= month.last)
    for r in session.execute(
        select(jid, mode, func.count())
        .select_from(Visit).join(Person, Person.id == Visit.subject_id)
        .where(in_scope, done).group_by(jid, mode)
    ):
        c = get(r[0])
        c.by_mode[r[1]] = r[2]
        c.done += r[2]
    # Distinct subjects cannot be summed over modes: one more grouped count. Only active
    # subjects count, so that visited + not visited = subjects in scope.
    for r in session.execute(
        select(jid, func.count(Visit.subject_id.distinct()))
        .select_from(Visit).join(Person, Person.id == Visit.subject_id)
        .join(Subject, Subject.person_id == Visit.subject_id)
        .where(in_scope, done, Subject.status == "active").group_by(jid)
    ):
        get(r[0]).visited_subjects = r[1]

    start, end = month.utc_bounds(tz)
    open_at_end = and_(Case.opened_at < end,
                       or_(Case.resolved_at.is_(None), Case.resolved_at >= end))
    sev_cols = [_sum(and_(open_at_end, Case.severity == s)) for s in SEVERITIES]
    for r in session.execute(
        select(jid,
               _sum(and_(Case.opened_at >= start, Case.opened_at < end)),
               _sum(and_(Case.resolved_at >= start, Case.resolved_at < end)),
               _sum(open_at_end), *sev_cols)
        .select_from(Case).join(Person, Person.id == Case.subject_id)
        .where(in_scope, Case.opened_at < end).group_by(jid)
    ):
        c = get(r[0])
        c.cases_opened, c.cases_resolved, c.cases_open = int(r[1]), int(r[2]), int(r[3])
        c.open_by_severity = {s: int(v) for s, v in zip(SEVERITIES, r[4:], strict=True)}
    return out


@dataclass
class Row:
    township: str
    village: str
    counts: Counts


@dataclass
class MonthlyFigures:
    scope: Scope
    month: Month
    as_of: date
    villages: list[Row]  # sorted by township, village
    townships: list[Row]
    total: Counts

    def village_rows(self, township: str) -> list[Row]:
        return [r for r in self.villages if r.township == township]


def monthly_figures(session: Session, scope: Scope, month: Month, as_of: date,
                    tz: str = DEFAULT_TZ) -> MonthlyFigures:
    by_jid = counts_by_jurisdiction(session, scope, month, as_of, tz)
    villages: dict[tuple[str, str], Counts] = {}
    # Every village in scope appears, even one with no subjects yet: a blank row is news.
    for node in scope.nodes.values():
        if node.level == "village":
            villages[scope.path(node.id)] = Counts()
    for jid, counts in by_jid.items():
        villages.setdefault(scope.path(jid), Counts()).add(counts)
    towns: dict[str, Counts] = {}
    total = Counts()
    for (town, _village), c in villages.items():
        towns.setdefault(town, Counts()).add(c)
        total.add(c)
    return MonthlyFigures(
        scope, month, as_of,
        [Row(t, v, c) for (t, v), c in sorted(villages.items())],
        [Row(t, "", c) for t, c in sorted(towns.items())],
        total,
    )


# --- subject lists (streamed) -------------------------------------------------------------


@dataclass(frozen=True)
class SubjectLine:
    subject_id: int
    name: str
    gender: str | None
    address: str | None
    categories: list[str]
    jurisdiction_id: int | None
    visitor: str | None
    last_visit: date | None
    id_number: str | None = None
    phone: str | None = None


def _visited_ids(month: Month) -> Select[tuple[int]]:
    # An uncorrelated set, not NOT EXISTS: without ANALYZE statistics SQLite probes the
    # (status, due_on) index once per subject for a correlated subquery, which took
    # seconds per thousand subjects; a set is built once and looked up by hash/index.
    return select(Visit.subject_id).where(
        Visit.status == "filed", Visit.visited_on >= month.first, Visit.visited_on <= month.last)


def not_visited(session: Session, scope: Scope, month: Month,
                batch: int = 2000) -> Iterator[SubjectLine]:
    """Active subjects in scope with no filed visit made this month, streamed."""
    yield from _subject_lines(session, scope, [Subject.person_id.not_in(_visited_ids(month))],
                              month.last, batch)


def subjects_in_scope(session: Session, scope: Scope, as_of: date,
                      batch: int = 2000) -> Iterator[SubjectLine]:
    yield from _subject_lines(session, scope, [], as_of, batch)


def _subject_lines(session: Session, scope: Scope, extra: list[ColumnElement[bool]],
                   as_of: date, batch: int) -> Iterator[SubjectLine]:
    vis = aliased(Person)
    visitor = (
        select(Assignment.subject_id.label("sid"), func.min(vis.name).label("visitor"))
        .join(vis, vis.id == Assignment.visitor_id)
        .where(assignment_in_force(as_of))
        .group_by(Assignment.subject_id).subquery()
    )
    last = (
        select(Visit.subject_id.label("sid"), func.max(Visit.visited_on).label("last"))
        .where(Visit.status == "filed", Visit.visited_on <= as_of)
        .group_by(Visit.subject_id).subquery()
    )
    town = aliased(Jurisdiction)
    q = (
        select(Subject.person_id, Person.name, Person.gender, Subject.address, Subject.categories,
               Person.jurisdiction_id, visitor.c.visitor, last.c.last,
               Person.id_number, Person.phone)
        .join(Person, Person.id == Subject.person_id)
        .outerjoin(visitor, visitor.c.sid == Subject.person_id)
        .outerjoin(last, last.c.sid == Subject.person_id)
        .outerjoin(Jurisdiction, Jurisdiction.id == Person.jurisdiction_id)
        .outerjoin(town, town.id == Jurisdiction.parent_id)
        .where(_in_scope(scope), Subject.status == "active", *extra)
        .order_by(town.name, Jurisdiction.name, Person.name, Subject.person_id)
        .execution_options(yield_per=batch)
    )
    for r in session.execute(q):
        yield SubjectLine(r[0], r[1], r[2], r[3], list(r[4] or []), r[5], r[6], r[7], r[8], r[9])


def count_not_visited(session: Session, scope: Scope, month: Month) -> int:
    return session.scalar(
        select(func.count()).select_from(Subject).join(Person, Person.id == Subject.person_id)
        .where(_in_scope(scope), Subject.status == "active",
               Subject.person_id.not_in(_visited_ids(month)))
    ) or 0
