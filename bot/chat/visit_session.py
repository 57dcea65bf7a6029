"""The glue between the pure checklist engine and the store.

Each step runs inside the caller's transaction: the answer rows, the engine state
and every outbox row the step causes are committed together or not at all.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import date
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from bot.alerts import cases, families
from bot.chat import household
from bot.chat.context import DeferredStart, DeferredStep, NotBatchable, Turn
from bot.chat.scope import is_assigned_visitor
from bot.chat.visit_facts import start_facts
from conversations import buttons
from conversations.checklist import Checklist, load_checklist
from conversations.engine import (
    REVIEW,
    AnswerCleared,
    AnswerSet,
    ButtonRefused,
    Cancelled,
    Context,
    Filed,
    Inbound,
    Paused,
    Resumed,
    RiskFlagged,
    StepResult,
    ask_again,
    start,
    step,
    title,
)
from conversations.messages import Choice, Outgoing
from conversations.text import render
from scheduler.policy import active_seasons
from scheduler.policy_load import load_policy
from store.models import (
    CONVERSATION_OPEN_STATES,
    Answer,
    Assignment,
    Conversation,
    Person,
    Subject,
    Visit,
    assignment_in_force,
)
from store.upsert import upsert

log = logging.getLogger(__name__)
OPEN_STATES = CONVERSATION_OPEN_STATES
CAPABILITIES = {
    "console": frozenset(),
    "telegram": frozenset({"buttons", "photo", "location"}),
    "wechat": frozenset({"buttons", "photo", "location"}),
    "wecom": frozenset({"buttons", "photo"}),
}


# Built once, run every turn: the visitor's unfinished checklist and its visit, locked
# together for this transaction (a concurrent message of the same visitor waits here).
_OPEN_CONVERSATION = (
    select(Conversation, Visit)
    .join(Visit, Visit.id == Conversation.visit_id)
    .where(Conversation.person_id == bindparam("person_id"),
           Conversation.status.in_(OPEN_STATES))
    .order_by(Conversation.updated_at.desc())
    .limit(1)
    .with_for_update()
)


class OpenVisit(NamedTuple):
    conversation: Conversation
    visit: Visit
    # whether the visitor is still assigned to the visit's subject today, when it was
    # read with them (bot.chat.sender); None: ask the database
    assigned: bool | None = None


def open_conversation(session: Session, person_id: int, *, fresh: bool = False
                      ) -> OpenVisit | None:
    """The visitor's unfinished checklist and its visit, both locked for this
    transaction; `fresh` overwrites what the session had already loaded of them."""
    stmt = _OPEN_CONVERSATION.execution_options(populate_existing=True) if fresh else \
        _OPEN_CONVERSATION
    row = session.execute(stmt, {"person_id": person_id}).first()
    return OpenVisit(row[0], row[1]) if row is not None else None


def subject_facts(subject: Subject, person: Person, today: date,
                  has_children: bool) -> dict[str, Any]:
    age = None
    if person.birth_date:
        bd = person.birth_date
        age = today.year - bd.year - ((today.month, today.day) < (bd.month, bd.day))
    return {
        "tier": subject.tier_override or subject.tier,
        "categories": list(subject.categories or []),
        "self_care": subject.self_care,
        "lives_alone": bool(subject.lives_alone),
        "has_children": has_children,
        "age": age,
        "gender": person.gender,
    }


def _context(turn: Turn, visit: Visit) -> Context:
    # who asks does not matter here (only a start reads the assignment)
    visitor = turn.person.id if turn.person is not None else 0
    facts = start_facts(turn.session, visit.id, visitor, turn.today(), lock=False)
    assert facts is not None
    return _context_of(turn, visit, facts.subject, facts.person, facts.has_family,
                       facts.filed_before)


def _context_of(turn: Turn, visit: Visit, subject: Subject, person: Person, has_family: bool,
                filed_before: int) -> Context:
    today = turn.today()
    has_children = bool(subject.children_count) or has_family
    try:
        seasons = active_seasons(load_policy(visit.policy), today)
    except Exception:  # a checklist without a policy file still runs, without seasons
        seasons = frozenset()
    return Context(
        subject_name=person.name,
        facts=subject_facts(subject, person, today, has_children),
        today=today,
        seasons=frozenset(seasons),
        capabilities=CAPABILITIES.get(turn.address.platform, frozenset()),
        visit_no=filed_before + 1,
        required_mode=visit.required_mode,
        ref=button_ref(visit.id),
    )


def context_snapshot(ctx: Context) -> dict[str, Any]:
    """What of a Context stays put for a visit, as JSON (today and the platform's
    capabilities are the turn's own)."""
    return {"subject_name": ctx.subject_name, "facts": dict(ctx.facts),
            "seasons": sorted(ctx.seasons), "visit_no": ctx.visit_no,
            "required_mode": ctx.required_mode}


def _conversation_context(turn: Turn, conv: Conversation, visit: Visit) -> Context:
    snap = conv.context
    if not snap:
        return _context(turn, visit)
    return Context(subject_name=snap["subject_name"], facts=snap["facts"], today=turn.today(),
                   seasons=frozenset(snap["seasons"]),
                   capabilities=CAPABILITIES.get(turn.address.platform, frozenset()),
                   visit_no=snap["visit_no"], required_mode=snap["required_mode"],
                   ref=button_ref(visit.id))


def button_ref(visit_id: int) -> str:
    """How the checklist's buttons name the visit they belong to (base 36: short)."""
    return buttons.base36(visit_id)


def start_visit(turn: Turn, visit_id: int) -> None:
    s = turn.session
    assert turn.person is not None
    facts = start_facts(s, visit_id, turn.person.id, turn.today())
    if facts is None or not facts.assigned:
        turn.reply(Outgoing(render("bot_not_your_visit")))
        return
    visit = facts.visit
    if visit.status == "filed":
        turn.reply(Outgoing(render("bot_visit_already_filed", visit_id=visit.id)))
        return
    existing = s.scalars(select(Conversation).where(Conversation.visit_id == visit.id)).first()
    if existing is not None and existing.status in OPEN_STATES:
        _run(turn, existing, visit, Inbound(text="继续"))
        return
    earlier: dict[str, Any] | None = None
    if existing is not None:  # a cancelled run of this visit: start afresh
        if turn.batch is not None:
            raise NotBatchable("a cancelled run is deleted before the start")
        earlier = dict(existing.state or {})  # its buttons must stay expired
        s.delete(existing)
        s.flush()
    # the sender, read in this transaction, had no checklist open: none to look for
    none_open = turn.open_visit_read and turn.open_visit is None
    open_ = None if none_open else open_conversation(s, turn.person.id)
    if open_ is not None:
        turn.reply(Outgoing(render("bot_finish_other_first")))
        _run(turn, open_.conversation, open_.visit, Inbound(text="继续"))
        return
    checklist = load_checklist(visit.policy)
    ctx = _context_of(turn, visit, facts.subject, facts.person, facts.has_family,
                      facts.filed_before)
    result = start(checklist, ctx, turn.now, after=earlier)
    conv = Conversation(person_id=turn.person.id, visit_id=visit.id, checklist=checklist.name,
                        state=result.state, status=result.state.get("status", "active"),
                        context=context_snapshot(ctx))
    if turn.batch is not None:
        # the batch's statement inserts the checklist and marks the visit begun (unless
        # another turn began it first: then this one runs alone)
        turn.batch.append(DeferredStart(turn.person.id, visit.id, checklist.name,
                                        conv.state, conv.status, conv.context or {}))
    else:
        s.add(conv)
        visit.status = "in_progress"
        visit.visitor_id = turn.person.id
        s.flush()
    _apply(turn, conv, visit, result, checklist, saved=True)


def continue_visit(turn: Turn, open_: OpenVisit, inbound: Inbound) -> None:
    assert turn.person is not None
    visit = open_.visit
    assigned = open_.assigned
    if assigned is None:
        assigned = is_assigned_visitor(turn.session, turn.person.id, visit.subject_id,
                                       turn.today())
    if not assigned:
        _assignment_ended(turn, open_.conversation, visit)
        return
    _run(turn, open_.conversation, visit, inbound)


def _assignment_ended(turn: Turn, conv: Conversation, visit: Visit) -> None:
    """The visitor's assignment to this subject ended while the checklist was open: the
    record is not filed by someone no longer responsible. The checklist is closed unfiled,
    its answers dropped, and the visit goes back to planned, with whoever is assigned now
    (cases already raised by its answers stay open: the risks are real)."""
    s = turn.session
    _save_state(turn, conv, {**(conv.state or {}), "status": "cancelled"})
    s.execute(delete(Answer).where(Answer.visit_id == visit.id))
    visit.status = "planned"
    visit.mode = None
    visit.visited_on = None
    visit.visitor_id = s.scalar(
        select(Assignment.visitor_id)
        .where(Assignment.subject_id == visit.subject_id, assignment_in_force(turn.today()))
        .order_by(Assignment.starts_on.desc()).limit(1))
    name = s.scalar(select(Person.name).where(Person.id == visit.subject_id)) or ""
    log.info("visit %s: checklist closed unfiled, its visitor's assignment ended", visit.id)
    turn.reply(Outgoing(render("bot_assignment_ended", name=name)))


def reask(turn: Turn, open_: OpenVisit) -> None:
    """Repeat what the checklist is asking now, changing nothing (after a reply to a
    message that answered nothing)."""
    conv, visit = open_.conversation, open_.visit
    replies = ask_again(conv.state, load_checklist(conv.checklist),
                        _conversation_context(turn, conv, visit))
    for reply in replies:
        turn.reply(Outgoing(text=reply.text,
                            choices=tuple(Choice(v, lbl) for v, lbl in reply.choices),
                            callback_prefix=reply.key))


def _run(turn: Turn, conv: Conversation, visit: Visit, inbound: Inbound) -> None:
    checklist = load_checklist(conv.checklist)
    result = step(conv.state, inbound, checklist, _conversation_context(turn, conv, visit),
                  turn.now)
    _apply(turn, conv, visit, result, checklist)


_CONVERSATIONS = Conversation.__table__
_SAVE_STATE = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("b_id"),
           _CONVERSATIONS.c.version == bindparam("b_version"))
    .values(state=bindparam("b_state"), status=bindparam("b_status"),
            version=bindparam("b_next"), updated_at=bindparam("b_now"))
)


def _save_state(turn: Turn, conv: Conversation, state: dict[str, Any]) -> None:
    """The engine state after this step, written once per turn by a prepared UPDATE (the
    ORM's unit of work costs more than the statement), still guarded by the version."""
    status = state.get("status", conv.status)
    done = turn.session.connection().execute(_SAVE_STATE, {
        "b_id": conv.id, "b_version": conv.version, "b_state": state, "b_status": status,
        "b_next": conv.version + 1, "b_now": turn.now})
    if done.rowcount != 1:
        raise StaleDataError(f"conversation {conv.id} changed under this turn")
    for key, value in (("state", state), ("status", status), ("version", conv.version + 1),
                       ("updated_at", turn.now)):
        set_committed_value(conv, key, value)


_ANSWERS = Answer.__table__
_ANSWER_COLUMNS = ("visit_id", "question_id", "value", "display", "severity", "kind",
                   "answered_at")


@lru_cache(maxsize=1)
def _save_state_and_answer_stmt() -> Any:
    """PostgreSQL: the state UPDATE (guarded by the version) and the answer's upsert in
    one statement; the answer is written only if the state was (it selects from the
    UPDATE's RETURNING), so no row back means the conversation changed under the turn."""
    saved = _SAVE_STATE.returning(_CONVERSATIONS.c.id).cte("saved_state")
    row = select(*(bindparam(f"a_{c}", type_=_ANSWERS.c[c].type) for c in _ANSWER_COLUMNS)
                 ).select_from(saved)
    stmt = postgresql.insert(_ANSWERS).from_select(list(_ANSWER_COLUMNS), row)
    return (stmt.on_conflict_do_update(
        index_elements=["visit_id", "question_id"],
        set_={c: stmt.excluded[c] for c in _ANSWER_COLUMNS[2:]})
        .returning(_ANSWERS.c.id).add_cte(saved))


def _save_state_and_answer(turn: Turn, conv: Conversation, state: dict[str, Any],
                           visit: Visit, ev: AnswerSet) -> None:
    """`_save_state` then `_store_answer`, in one round trip (a step that only answers a
    question is most of a checklist)."""
    _answer_facts(visit, ev)
    status = state.get("status", conv.status)
    done = turn.session.connection().execute(_save_state_and_answer_stmt(), {
        "b_id": conv.id, "b_version": conv.version, "b_state": state, "b_status": status,
        "b_next": conv.version + 1, "b_now": turn.now,
        **{f"a_{k}": v for k, v in _answer_row(visit, ev, turn).items()}}).all()
    if len(done) != 1:
        raise StaleDataError(f"conversation {conv.id} changed under this turn")
    for key, value in (("state", state), ("status", status), ("version", conv.version + 1),
                       ("updated_at", turn.now)):
        set_committed_value(conv, key, value)


def _apply(turn: Turn, conv: Conversation, visit: Visit, result: StepResult,
           checklist: Checklist, *, saved: bool = False) -> None:
    """`saved`: the conversation was just inserted with the step's state."""
    s = turn.session
    before = conv.state or {}
    seq_before = before.get("seq")
    events = result.events
    # a step whose only effect is one answer: its state and answer in one statement
    one_answer = (not saved and len(events) == 1 and isinstance(events[0], AnswerSet)
                  and s.get_bind().dialect.name == "postgresql")
    if turn.batch is not None and saved:
        # a batched start: the checklist is written by the batch, nothing else may be
        if events:
            raise NotBatchable("the start does more than ask")
    elif turn.batch is not None:
        # a batched turn writes nothing itself: anything but one answer runs on its own
        if not one_answer:
            raise NotBatchable("the step does more than answer a question")
        _answer_facts(visit, events[0])
        turn.batch.append(DeferredStep(
            conv.id, conv.version, result.state, result.state.get("status", conv.status),
            _answer_row(visit, events[0], turn)))
    elif one_answer:
        _save_state_and_answer(turn, conv, result.state, visit, events[0])
    elif not saved:
        _save_state(turn, conv, result.state)
    for event in events:
        if isinstance(event, AnswerSet):
            if not one_answer:
                _store_answer(s, visit, event, turn)
        elif isinstance(event, AnswerCleared):
            s.execute(delete(Answer).where(Answer.visit_id == visit.id,
                                           Answer.question_id == event.question_id))
        elif isinstance(event, RiskFlagged):
            cases.flag(s, turn.settings, visit=visit, risk=event, now=turn.now)
        elif isinstance(event, Filed):
            _file(turn, visit, event)
        elif isinstance(event, Cancelled):
            s.execute(delete(Answer).where(Answer.visit_id == visit.id))
            # an ad-hoc record was never owed: cancelled, it is gone (never overdue)
            visit.status = "cancelled" if visit.kind == "adhoc" else "planned"
            visit.mode = None
            visit.visited_on = None
        elif isinstance(event, Paused | Resumed):
            pass
    refused = any(isinstance(e, ButtonRefused) for e in result.events)
    if refused:
        log.info("expired button %r refused on visit %s", turn.incoming.choice, visit.id)
    answered_msg = turn.incoming.meta.get("message_id")
    # A press that leaves the same ask open (a multi-choice toggle) is shown by editing
    # the pressed message, not by a new copy of the question under it.
    pressed = buttons.parse(turn.incoming.choice or "")
    own_press = (answered_msg is not None and pressed is not None
                 and pressed.ref == button_ref(visit.id) and not refused
                 and len(result.replies) == 1)
    in_place = (own_press and bool(result.replies[0].choices)
                and seq_before == result.state.get("seq"))
    # A press that answered (or skipped) the question it was under and moved on to the
    # next question of this checklist: the pressed message becomes that question, with
    # what was chosen at its top, so no keyboard is left behind to retire.
    answered = (_answered(checklist, before, result) if own_press and not in_place
                and seq_before != result.state.get("seq") else None)
    if in_place:
        # a toggle keeps the line about the question before, which the message showed
        answered = _answered_before(checklist, before)
    for i, reply in enumerate(result.replies):
        # the text already says how to answer each choice by typing: a channel that
        # shows no buttons must not number the choices again (their numbers would
        # collide with the options' or the review items' own)
        meta: dict[str, Any] = {"listed": True}
        if reply.head is not None and reply.head != reply.text:
            meta["head"] = reply.head
        if in_place or answered is not None:
            meta["edit_message_id"] = answered_msg
        if answered is not None:
            meta["answered"] = answered
        if refused and i == 0:
            # the channel must not show the pressed button as chosen: nothing was stored
            meta["button_refused"] = True
        turn.reply(Outgoing(
            text=reply.text,
            choices=tuple(Choice(v, lbl) for v, lbl in reply.choices),
            callback_prefix=reply.key,
            meta=meta,
        ))


def _answered(checklist: Checklist, before: dict[str, Any], result: StepResult
              ) -> dict[str, Any] | None:
    """What a step that moved from one question to the next did to the first one, for
    the channel to show above the next (`question`: its title; `display`: the answer
    stored, None when it was skipped); None for any other step (the review, filing, a
    pause, an answer that also raised an alarm …)."""
    after = result.state
    asked, cur = before.get("cur"), after.get("cur")
    reply = result.replies[0]
    if (not isinstance(asked, str) or asked == REVIEW or cur in (asked, REVIEW)
            or reply.key != cur or after.get("status") != "active"
            or before.get("status") != "active"):
        return None
    display: str | None = None
    for event in result.events:
        if isinstance(event, AnswerSet) and event.question_id == asked:
            display = event.display
    if display is None and not (asked in after.get("skipped", ())
                                and asked not in before.get("skipped", ())):
        return None
    try:
        name = title(checklist, asked)
    except (KeyError, IndexError):
        return None
    return {"question": name, "display": display}


def _answered_before(checklist: Checklist, state: dict[str, Any]) -> dict[str, Any] | None:
    """The question answered (or skipped) just before the one asked now, as `_answered`
    gives it; None while an answer is being changed from the review, or at the first."""
    history, cur = state.get("history") or [], state.get("cur")
    if state.get("editing") or not history or history[-1] in (cur, REVIEW):
        return None
    asked = history[-1]
    display = (state.get("displays") or {}).get(asked)
    if display is None and asked not in (state.get("skipped") or ()):
        return None
    try:
        return {"question": title(checklist, asked), "display": display}
    except (KeyError, IndexError):
        return None


def _store_answer(s: Session, visit: Visit, ev: AnswerSet, turn: Turn) -> None:
    _answer_facts(visit, ev)
    upsert(s, _ANSWERS, _answer_row(visit, ev, turn), ["visit_id", "question_id"])


def _answer_facts(visit: Visit, ev: AnswerSet) -> None:
    """The answers that are also facts of the visit: its mode and its date."""
    if ev.question_id == "_mode":
        visit.mode = str(ev.value)
    elif ev.question_id == "_date":
        visit.visited_on = date.fromisoformat(str(ev.value))


def _answer_row(visit: Visit, ev: AnswerSet, turn: Turn) -> dict[str, Any]:
    return {"visit_id": visit.id, "question_id": ev.question_id, "value": ev.value,
            "display": ev.display, "severity": ev.severity, "kind": ev.kind,
            "answered_at": turn.now}


def _file(turn: Turn, visit: Visit, ev: Filed) -> None:
    s = turn.session
    if visit.status == "filed":  # a repeated confirm must not file twice
        return
    visit.status = "filed"
    visit.filed_at = turn.now
    visit.mode = ev.mode
    visit.visited_on = ev.visited_on
    visit.seq = (s.scalar(
        select(func.count()).select_from(Visit).where(
            Visit.subject_id == visit.subject_id, Visit.status == "filed",
            Visit.id != visit.id)
    ) or 0) + 1
    s.flush()
    household.apply_changes(s, visit.subject_id, load_checklist(visit.policy), ev.answers)
    # emergencies were routed when answered; every other case gets one card listing all
    # of its findings
    cases.record_findings(s, turn.settings, visit=visit, now=turn.now,
                          risks=[r for r in ev.risks if r.severity != "emergency"])
    families.visit_filed(s, visit=visit, risks=[asdict(r) for r in ev.risks], now=turn.now,
                         answers=ev.answers)
