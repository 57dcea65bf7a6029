"""Chat commands outside a checklist: lists for visitors, officers and families."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, func, literal_column, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts import cases
from bot.chat.context import Turn
from bot.chat.scope import can_see_subject, is_assigned_visitor, visible_subject_ids
from conversations.messages import Choice, Outgoing
from conversations.numbers import read_int, read_position
from conversations.text import render
from store.labels import kind_label, severity_label, status_label
from store.masking import mask_phone
from store.models import (
    Assignment,
    Case,
    CaseNote,
    FamilyLink,
    Person,
    Subject,
    Visit,
    assignment_current,
)
from store.upsert import insert_ignore

LIST_LIMIT = 20


def help_(turn: Turn) -> None:
    turn.reply(Outgoing(render("bot_help", roles=sorted(turn.roles))))


# built once: every visitor's day starts with this list, and every start by number reads it
_OPEN_VISITS = (
    select(Visit.id, Visit.due_on, Visit.deadline, Visit.kind, Visit.reason, Person.name,
           Visit.status, Visit.required_mode)
    .join(Person, Person.id == Visit.subject_id)
    .where(Visit.visitor_id == bindparam("visitor_id"),
           Visit.status.in_([literal_column("'planned'"), literal_column("'in_progress'")]),
           or_(Visit.window_opens.is_(None), Visit.window_opens <= bindparam("opens_by")))
    .order_by(Visit.due_on, Visit.id)
    .limit(LIST_LIMIT)
)


def _open_visits(turn: Turn) -> list:  # type: ignore[type-arg]
    """The visitor's open visits, soonest first: the list `待访` shows and numbers (those
    whose window opens within a week too)."""
    assert turn.person is not None
    return list(turn.session.execute(_OPEN_VISITS, {
        "visitor_id": turn.person.id, "opens_by": turn.today() + timedelta(days=7)}).all())


def visits(turn: Turn) -> None:
    """A visitor's open visits, soonest first, each with a start button."""
    today = turn.today()
    items = [{"visit_id": r.id, "name": r.name, "due_on": r.due_on.isoformat(),
              "overdue": r.due_on < today, "kind": r.kind, "reason": r.reason,
              "in_progress": r.status == "in_progress", "in_person": r.required_mode == "in_person"}
             for r in _open_visits(turn)]
    turn.reply(Outgoing(render("bot_visits_list", items=items),
                        # the text numbers the list: a label "1. 王秀英" was numbered again
                        # ("1. 1. 王秀英") where the buttons become text
                        choices=tuple(Choice(f"start:{i['visit_id']}", i["name"])
                                      for i in items)))


def start_nth(turn: Turn, n: int) -> None:
    """A bare number outside a checklist: the n-th visit of `待访`, where buttons are not
    pressed but typed."""
    from bot.chat.visit_session import start_visit

    rows = _open_visits(turn)
    if not 1 <= n <= len(rows):
        visits(turn)
        return
    start_visit(turn, rows[n - 1].id)


def record(turn: Turn, arg: str) -> None:
    """`记录` lists the visitor's subjects; `记录 N` starts an ad-hoc visit for the N-th."""
    from bot.chat.visit_session import start_visit

    assert turn.person is not None
    today = turn.today()
    subjects = turn.session.execute(
        select(Subject.person_id, Person.name, Subject.policy)
        .join(Person, Person.id == Subject.person_id)
        .join(Assignment, Assignment.subject_id == Subject.person_id)
        .where(Assignment.visitor_id == turn.person.id,
               assignment_current(today),
               Subject.status == "active")
        .order_by(Person.name, Subject.person_id)
    ).all()
    if not arg.strip():
        turn.reply(Outgoing(render("bot_subjects_list", names=[r.name for r in subjects])))
        return
    pos = read_position(arg, len(subjects))
    if pos is None:
        turn.reply(Outgoing(render("bot_subjects_list", names=[r.name for r in subjects],
                                   bad=arg.strip())))
        return
    chosen = subjects[pos]
    # Prefer the visit already planned for this subject; otherwise an ad-hoc one for today.
    visit_id = turn.session.scalar(
        select(Visit.id).where(Visit.subject_id == chosen.person_id,
                               Visit.status.in_(("planned", "in_progress")),
                               Visit.window_opens <= today)
        .order_by(Visit.due_on).limit(1))
    if visit_id is None:
        insert_ignore(turn.session, Visit.__table__, {
            "subject_id": chosen.person_id, "visitor_id": turn.person.id,
            "policy": chosen.policy, "kind": "adhoc", "due_on": today, "window_opens": today,
            "deadline": today, "status": "planned", "created_at": turn.now,
        }, ["subject_id", "kind", "due_on"])
        visit_id = turn.session.scalar(select(Visit.id).where(
            Visit.subject_id == chosen.person_id, Visit.kind == "adhoc", Visit.due_on == today))
    assert visit_id is not None
    start_visit(turn, visit_id)


def overdue(turn: Turn) -> None:
    assert turn.person is not None
    today = turn.today()
    scope = visible_subject_ids(turn.session, turn.person.id, turn.roles, today)
    rows = turn.session.execute(
        select(Visit.id, Visit.due_on, Person.name)
        .join(Person, Person.id == Visit.subject_id)
        .where(Visit.subject_id.in_(scope), Visit.status.in_(("planned", "in_progress")),
               Visit.due_on < today)
        .order_by(Visit.due_on).limit(LIST_LIMIT)
    ).all()
    total = turn.session.scalar(select(func.count()).select_from(Visit).where(
        Visit.subject_id.in_(scope), Visit.status.in_(("planned", "in_progress")),
        Visit.due_on < today)) or 0
    turn.reply(Outgoing(render("bot_overdue_list", total=total, items=[
        {"name": r.name, "due_on": r.due_on.isoformat(), "days": (today - r.due_on).days}
        for r in rows])))


def open_cases(turn: Turn) -> None:
    assert turn.person is not None
    scope = visible_subject_ids(turn.session, turn.person.id, turn.roles, turn.today())
    rows = turn.session.execute(
        select(Case.id, Case.kind, Case.severity, Case.status, Case.opened_at, Person.name)
        .join(Person, Person.id == Case.subject_id)
        .where(Case.subject_id.in_(scope), Case.status != "resolved")
        .order_by(Case.opened_at).limit(200)
    ).all()
    rank = cases.SEVERITY_RANK
    ordered = sorted(rows, key=lambda r: (-rank.get(r.severity, 0), r.opened_at))[:LIST_LIMIT]
    items = [{"case_id": r.id, "name": r.name, "kind": kind_label(r.kind),
              "severity": severity_label(r.severity), "status": status_label(r.status),
              "hours": int((turn.now - r.opened_at).total_seconds() // 3600)}
             for r in ordered]
    turn.reply(Outgoing(render("bot_cases_list", items=items)))


def status(turn: Turn) -> None:
    """A family member's view of their own parent: the last visit, nothing sensitive."""
    assert turn.person is not None
    links = turn.session.execute(
        select(FamilyLink.subject_id, Person.name)
        .join(Person, Person.id == FamilyLink.subject_id)
        .where(FamilyLink.person_id == turn.person.id)
    ).all()
    items = []
    for link in links:
        last = turn.session.execute(
            select(Visit.visited_on, Visit.mode, Person.name)
            .outerjoin(Person, Person.id == Visit.visitor_id)
            .where(Visit.subject_id == link.subject_id, Visit.status == "filed")
            .order_by(Visit.visited_on.desc(), Visit.id.desc()).limit(1)
        ).first()
        open_serious = turn.session.scalar(select(func.count()).select_from(Case).where(
            Case.subject_id == link.subject_id, Case.status != "resolved",
            Case.severity.in_(("high", "emergency")))) or 0
        items.append({"name": link.name,
                      "visited_on": last.visited_on.isoformat() if last and last.visited_on
                      else None, "mode": last.mode if last else None,
                      "visitor": last.name if last else None, "open_serious": open_serious})
    turn.reply(Outgoing(render("bot_status", items=items)))


def stop_notices(turn: Turn) -> None:
    assert turn.person is not None
    turn.session.execute(update(FamilyLink).where(FamilyLink.person_id == turn.person.id)
                         .values(notify=False))
    turn.reply(Outgoing(render("bot_notices_stopped")))


def _case_in_scope(turn: Turn, case_id: str) -> Case | None:
    assert turn.person is not None
    n = read_int(case_id)
    case = turn.session.get(Case, n, with_for_update=True) if n is not None else None
    if case is None or "officer" not in turn.roles or not can_see_subject(
            turn.session, turn.person.id, {"officer"}, case.subject_id, turn.today()):
        turn.reply(Outgoing(render("bot_case_not_found", case_id=case_id)))
        return None
    return case


def ack(turn: Turn, case_id: str) -> None:
    case = _case_in_scope(turn, case_id)
    if case is None or turn.person is None:
        return
    changed = cases.acknowledge(turn.session, case, turn.person.id, turn.now)
    turn.reply(Outgoing(render("bot_case_acked", case_id=case.id, changed=changed,
                               status=status_label(case.status)),
                        choices=(Choice(f"resolve:{case.id}", "已处理"),)))


# how long after 已处理 the next plain message is still taken as the resolution note
AWAIT_NOTE = timedelta(minutes=30)


def resolve_howto(turn: Turn, case_id: str) -> None:
    """已处理 pressed: ask how it was handled, and take the next plain reply as the note."""
    case = _case_in_scope(turn, case_id)
    if case is None:
        return
    if turn.account is not None and case.status != "resolved":
        turn.account.awaiting = f"resolve:{case.id}"
        turn.account.awaiting_until = turn.now + AWAIT_NOTE
    turn.reply(Outgoing(render("bot_case_resolve_howto", case_id=case.id,
                               awaiting=case.status != "resolved")))


def resolve(turn: Turn, case_id: str, note: str) -> None:
    case = _case_in_scope(turn, case_id)
    if case is None or turn.person is None:
        return
    if not note.strip():
        resolve_howto(turn, case_id)
        return
    turn.session.add(CaseNote(case_id=case.id, author_id=turn.person.id, text=note.strip(),
                              created_at=turn.now))
    changed = cases.resolve(turn.session, case, turn.person.id, note.strip(), turn.now)
    turn.reply(Outgoing(render("bot_case_resolved", case_id=case.id, changed=changed)))


def note(turn: Turn, case_id: str, text: str) -> None:
    case = _case_in_scope(turn, case_id)
    if case is None or turn.person is None or not text.strip():
        return
    turn.session.add(CaseNote(case_id=case.id, author_id=turn.person.id, text=text.strip(),
                              created_at=turn.now))
    turn.reply(Outgoing(render("bot_case_noted", case_id=case.id)))


def contact(turn: Turn, case_id: str) -> None:
    """An officer asks for the emergency contact's full phone: shown and audited."""
    from store.models import AuditEntry

    case = _case_in_scope(turn, case_id)
    if case is None or turn.person is None:
        return
    subject = turn.session.get(Subject, case.subject_id)
    turn.session.add(AuditEntry(actor_id=turn.person.id, action="view_contact",
                                subject_id=case.subject_id, detail=f"case {case.id}",
                                at=turn.now))
    turn.reply(Outgoing(render(
        "bot_case_contact", case_id=case.id,
        name=(subject.emergency_contact_name if subject else None) or "",
        phone=(subject.emergency_contact_phone if subject else None) or "",
        masked=mask_phone((subject.emergency_contact_phone if subject else None) or "")),
        # the one message that shows a phone in full, on an officer's request (audited)
        meta={"reveals": "contact"}))


def is_visitor_of(turn: Turn, subject_id: int) -> bool:
    assert turn.person is not None
    return is_assigned_visitor(turn.session, turn.person.id, subject_id, turn.today())


def report(turn: Turn) -> None:
    """The month's summary as a file, built after the commit so no lock is held."""
    assert turn.person is not None
    month = turn.today().strftime("%Y-%m")
    officer_id = turn.person.id
    address = turn.address
    key = f"report:{address.platform}:{turn.incoming.msg_id}"
    turn.reply(Outgoing(render("bot_report_coming", month=month)))

    def build(sessions: sessionmaker[Session]) -> None:
        from store.outbox import enqueue
        from store.reports.monthly import monthly_summary_file

        path = monthly_summary_file(sessions, officer_id, month, "xlsx")
        with sessions() as s:
            enqueue(s, key=key, platform=address.platform, external_id=address.external_id,
                    kind="reply", person_id=officer_id,
                    payload=Outgoing(render("bot_report_ready", month=month),
                                     attachment=str(path)).to_payload())
            s.commit()

    turn.after_commit.append(build)
