"""One filed visit with everything its record form shows, loaded in a few queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.labels import status_label
from store.models import (
    Alert,
    Answer,
    Case,
    FamilyLink,
    HouseholdMember,
    Jurisdiction,
    Person,
    Role,
    Subject,
    Visit,
)
from store.reports.layout import clauses

MODE_LABELS = {"in_person": "上门", "phone": "电话", "video": "视频", "remote": "远程监测",
               "other": "其他"}


@dataclass
class Answers:
    """A visit's answers by question id, read as the forms need them."""

    by_id: dict[str, Answer] = field(default_factory=dict)

    def __contains__(self, qid: str) -> bool:
        return qid in self.by_id

    def value(self, qid: str) -> Any:
        a = self.by_id.get(qid)
        return None if a is None else a.value

    def text(self, qid: str | None) -> str:
        """What the visitor answered, as the record shows it."""
        if qid is None:
            return ""
        a = self.by_id.get(qid)
        if a is None:
            return ""
        if a.display:
            return a.display
        v = a.value
        if v is None:
            return ""
        if isinstance(v, bool):
            return "是" if v else "否"
        if isinstance(v, list):
            return "、".join(str(x) for x in v)
        return str(v)

    def chosen(self, qid: str | None) -> set[str]:
        """The chosen option(s), as value and display, to tick the seed's boxes."""
        if qid is None or qid not in self.by_id:
            return set()
        a = self.by_id[qid]
        out: set[str] = set()
        v = a.value
        for x in v if isinstance(v, list) else [v]:
            if isinstance(x, bool):
                out.add("是" if x else "否")
            elif x is not None:
                out.add(str(x))
        if a.display:
            out.add(a.display)
            out.update(p.strip() for p in a.display.replace("，", "、").split("、"))
        return out

    def recorded(self) -> list[str]:
        """Ids of the questions answered with something to show (not the engine's own
        _mode/_date, which the form prints as 探访方式 and the date)."""
        return [qid for qid in self.by_id if not qid.startswith("_") and self.text(qid)]

    def flagged(self) -> list[Answer]:
        return [a for a in self.by_id.values() if a.severity]


@dataclass
class CaseLine:
    kind: str
    severity: str
    status: str
    display: str
    resolution: str | None
    notes: list[str]


@dataclass
class VisitRecord:
    visit: Visit
    subject: Subject
    person: Person
    visitor: Person | None
    visitor_title: str | None
    county: str
    township: str
    village: str
    answers: Answers
    cases: list[CaseLine]
    household: list[HouseholdMember]
    family: list[tuple[FamilyLink, Person]]

    @property
    def mode_label(self) -> str:
        return MODE_LABELS.get(self.visit.mode or "", self.visit.mode or "")

    @property
    def day(self) -> date | None:
        return self.visit.visited_on

    def age(self, on: date | None = None) -> str:
        born = self.person.birth_date
        ref = on or self.visit.visited_on or self.visit.due_on
        if born is None or ref is None:
            return ""
        return str(ref.year - born.year - ((ref.month, ref.day) < (born.month, born.day)))

    def handling(self) -> str:
        """处理方式结果 / 落实情况: each case raised by this visit and how it was handled."""
        parts = []
        for c in self.cases:
            status = status_label(c.status)
            text = f"{c.display}（{status}）"
            if c.resolution:
                text += f"：{c.resolution}"
            parts.append(text)
        return clauses(parts)


def question_labels(policy: str) -> list[tuple[str, str, str]]:
    """(question id, section, label) of a policy's checklist, in the checklist's order."""
    from conversations.checklist import ChecklistError, load_checklist

    try:
        cl = load_checklist(policy)
    except ChecklistError:
        return []
    return [(q.id, q.section, q.label) for q in cl.questions]


def place_names(session: Session, jid: int | None) -> tuple[str, str, str]:
    """(county, township, village) above a jurisdiction, walking the short chain up."""
    names = {"county": "", "township": "", "village": ""}
    seen = 0
    while jid is not None and seen < 8:
        j = session.get(Jurisdiction, jid)
        if j is None:
            break
        if j.level in names and not names[j.level]:
            names[j.level] = j.name
        jid = j.parent_id
        seen += 1
    return names["county"], names["township"], names["village"]


def load_answers(session: Session, visit_ids: list[int]) -> dict[int, Answers]:
    out: dict[int, Answers] = {vid: Answers() for vid in visit_ids}
    if not visit_ids:
        return out
    for a in session.scalars(select(Answer).where(Answer.visit_id.in_(visit_ids))
                             .order_by(Answer.visit_id, Answer.answered_at, Answer.id)):
        out[a.visit_id].by_id[a.question_id] = a
    return out


def load_cases(session: Session, visit_ids: list[int]) -> dict[int, list[CaseLine]]:
    from store.models import CaseNote

    out: dict[int, list[CaseLine]] = {vid: [] for vid in visit_ids}
    if not visit_ids:
        return out
    rows = session.execute(
        select(Alert.visit_id, Alert.display, Case)
        .join(Case, Case.id == Alert.case_id)
        .where(Alert.visit_id.in_(visit_ids)).order_by(Alert.visit_id, Alert.id)
    ).all()
    case_ids = {r[2].id for r in rows}
    notes: dict[int, list[str]] = {}
    if case_ids:
        for n in session.scalars(select(CaseNote).where(CaseNote.case_id.in_(case_ids))
                                 .order_by(CaseNote.created_at, CaseNote.id)):
            notes.setdefault(n.case_id, []).append(n.text)
    for vid, display, case in rows:
        out[vid].append(CaseLine(case.kind, case.severity, case.status, display,
                                 case.resolution, notes.get(case.id, [])))
    return out


def load_visit_record(session: Session, visit_id: int) -> VisitRecord:
    visit = session.get(Visit, visit_id)
    if visit is None:
        raise LookupError(f"no visit {visit_id}")
    return load_visit_records(session, [visit])[0]


def load_visit_records(session: Session, visits: list[Visit]) -> list[VisitRecord]:
    """Records of several visits (one subject's year) with shared lookups batched."""
    if not visits:
        return []
    ids = [v.id for v in visits]
    answers = load_answers(session, ids)
    cases = load_cases(session, ids)
    out = []
    for v in visits:
        subject = session.get(Subject, v.subject_id)
        person = session.get(Person, v.subject_id)
        if subject is None or person is None:
            raise LookupError(f"visit {v.id} has no subject")
        visitor = session.get(Person, v.visitor_id) if v.visitor_id else None
        title = None
        if visitor is not None:
            title = session.scalar(select(Role.title).where(
                Role.person_id == visitor.id, Role.role == "visitor").limit(1))
        county, town, village = place_names(session, person.jurisdiction_id)
        household = list(session.scalars(select(HouseholdMember).where(
            HouseholdMember.subject_id == subject.person_id).order_by(HouseholdMember.id)))
        family = [(fl, p) for fl, p in session.execute(
            select(FamilyLink, Person).join(Person, Person.id == FamilyLink.person_id)
            .where(FamilyLink.subject_id == subject.person_id).order_by(FamilyLink.id))]
        out.append(VisitRecord(v, subject, person, visitor, title, county, town, village,
                               answers[v.id], cases[v.id], household, family))
    return out
