"""Due visits, set-based: a handful of statements per policy and tier, whatever the roster.

`plan_visits` keeps the visits table in step with the roster and the policies:
derived tiers, cancelled visits of paused or deceased subjects, planned visits moved to
the subject's current visitor, this period's regular visit for every subject, closed
visits (covered by another filed visit, or missed). Each statement is idempotent: the
unique (subject_id, kind, due_on) makes a repeated or concurrent tick insert nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, case, exists, func, literal, or_, select, text, update
from sqlalchemy.orm import Session

from conversations.messages import Outgoing
from conversations.text import render
from scheduler.periods import Period
from scheduler.policy import (
    CATEGORY_FACTS,
    Policy,
    PolicyError,
    TierRule,
    current_period,
    send_time,
)
from scheduler.policy_load import load_policy
from scheduler.sql import (
    add_days,
    all_of,
    current_assignments,
    greatest,
    insert_for,
    json_has_any,
)
from store.base import utcnow
from store.models import CONVERSATION_OPEN_STATES, Assignment, Conversation, Person, Subject, Visit
from store.outbox import enqueue_to_person

log = logging.getLogger(__name__)

SUBJECTS = Subject.__table__
VISITS = Visit.__table__
OPEN = ("planned", "in_progress")
SCHEDULED_KINDS = ("regular", "holiday", "campaign")
# Visits that may settle a regular period they fall in (see _close_covered).
COVERING_KINDS = ("adhoc", "signal")
ANALYZE_AFTER = 10_000  # rows changed in one step before the statistics are refreshed
_COLS = ["subject_id", "visitor_id", "policy", "kind", "reason", "window_opens", "due_on",
         "deadline", "required_mode", "status", "created_at"]


@dataclass
class PlanStats:
    tiers_changed: int = 0
    planned: int = 0
    moved: int = 0
    cancelled: int = 0
    covered: int = 0
    missed: int = 0
    by_policy: dict[str, int] = field(default_factory=dict)


def policies_in_use(session: Session) -> list[Policy]:
    """The policies some subject follows; an unknown name is logged, not fatal."""
    out = []
    for name in session.scalars(select(Subject.policy).distinct().order_by(Subject.policy)):
        try:
            out.append(load_policy(name))
        except PolicyError as exc:
            log.error("subjects follow policy %r, which cannot be loaded: %s", name, exc)
    return out


def plan_visits(session: Session, today: date, now: datetime | None = None,
                policies: Iterable[Policy] | None = None) -> PlanStats:
    """Bring visits up to date for `today` (a local calendar date). Does not commit."""
    now = now or utcnow()
    stats = PlanStats()
    pols = list(policies) if policies is not None else policies_in_use(session)
    stats.cancelled = _cancel_inactive(session) + _close_adhoc(session, today)
    for policy in pols:
        stats.tiers_changed += update_tiers(session, policy, today)
    refresh_statistics(session, SUBJECTS, stats.tiers_changed)
    stats.moved = _move_to_current_visitor(session, today)
    for policy in pols:
        # Missed visits close before planning, so the one that replaces it is planned in
        # the same tick: a second tick the same day (another process) then finds nothing
        # to do, and one tick or several give the same visits.
        stats.missed += _reattribute_late(session, policy, today)
        stats.missed += _close_abandoned(session, policy, today, now)
        stats.missed += _close_missed(session, policy, today)
        n = 0
        for tier in sorted(policy.rhythm):
            n += _plan_regular(session, policy, tier, today, now)
        refresh_statistics(session, VISITS, n)
        stats.by_policy[policy.name] = n
        stats.planned += n
        stats.covered += _close_covered(session, policy)
    return stats


def refresh_statistics(session: Session, table: Any, changed: int) -> None:
    """ANALYZE a table this transaction has just changed a lot (PostgreSQL).

    The tick's statements correlate on visit status and subject tier. Their plans are only
    as good as the row estimates, and the first tick of a month inserts a planned visit
    for most subjects: estimates from before that said "no planned visits", and one plan
    built on them probed every open visit for every subject (minutes at a million
    subjects). ANALYZE inside the transaction counts the transaction's own new rows.
    """
    if changed >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ANALYZE {table.name}"))


# --- tiers ---------------------------------------------------------------------------


def tier_expression(session: Session, policy: Policy, today: date) -> Any:
    """SQL twin of `derive_tier`: override, else the first matching rule, else default."""
    whens: list[tuple[Any, Any]] = [
        (and_(Subject.tier_override.isnot(None), Subject.tier_override != ""),
         Subject.tier_override)]
    for rule in policy.tier_rules:
        whens.append((_rule_condition(session, rule, today), literal(rule.tier, String)))
    return case(*whens, else_=literal(policy.default_tier, String))


def _listed(session: Session, words: Iterable[str]) -> Any:
    """对象类型 holds one of `words` (never NULL, so that NOT works on PostgreSQL too)."""
    return func.coalesce(json_has_any(session, Subject.categories, words), False)


def _rule_condition(session: Session, rule: TierRule, today: date) -> Any:
    conds = []
    if rule.self_care is not None:
        conds.append(or_(Subject.self_care.in_(sorted(rule.self_care)),
                         _listed(session, rule.self_care)))
    if rule.min_age is not None:
        cutoff = _years_before(today, rule.min_age)
        conds.append(exists(select(Person.id).where(
            Person.id == Subject.person_id, Person.birth_date <= cutoff)))
    if rule.lives_alone is not None:
        conds.append(_fact(session, Subject.lives_alone, "lives_alone", rule.lives_alone))
    if rule.disabled is not None:
        conds.append(_fact(session, Subject.disabled, "disabled", rule.disabled))
    if rule.categories_any is not None:
        conds.append(_listed(session, rule.categories_any))
    return all_of(*conds)


def _fact(session: Session, column: Any, name: str, wanted: bool) -> Any:
    """As `has_fact`: the column is true or 对象类型 names it; None counts as false."""
    yes = or_(column.is_(True), _listed(session, CATEGORY_FACTS[name]))
    return yes if wanted else ~yes


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def update_tiers(session: Session, policy: Policy, today: date) -> int:
    expr = tier_expression(session, policy, today)
    result = session.execute(
        update(SUBJECTS)
        .where(SUBJECTS.c.policy == policy.name, SUBJECTS.c.tier != expr)
        .values(tier=expr)
    )
    return int(result.rowcount or 0)


# --- housekeeping --------------------------------------------------------------------


def _cancel_inactive(session: Session) -> int:
    """Paused, deceased or moved-away subjects get no visits and no reminders."""
    inactive = select(SUBJECTS.c.person_id).where(SUBJECTS.c.status != "active")
    result = session.execute(
        update(VISITS)
        .where(VISITS.c.status == "planned", VISITS.c.subject_id.in_(inactive))
        .values(status="cancelled")
    )
    return int(result.rowcount or 0)


def _move_to_current_visitor(session: Session, today: date) -> int:
    """A subject handed to another visitor: their planned visits follow (in-progress ones
    stay with whoever is filling them in)."""
    cur = current_assignments(today)
    result = session.execute(
        update(VISITS)
        .where(
            VISITS.c.subject_id == cur.c.subject_id,
            VISITS.c.status == "planned",
            VISITS.c.kind.in_(SCHEDULED_KINDS),
            or_(VISITS.c.visitor_id.is_(None), VISITS.c.visitor_id != cur.c.visitor_id),
        )
        .values(visitor_id=cur.c.visitor_id)
    )
    return int(result.rowcount or 0)


def _close_covered(session: Session, policy: Policy) -> int:
    """A planned regular visit is settled (`covered`) by an ad-hoc or signal visit filed
    inside its window: from the day it opens to its deadline (due + grace), in person where
    in person is required.

    Only those kinds cover a period: another period's regular visit satisfies its own
    period, and holiday/campaign visits are duties on top of the rhythm (see the policy
    YAML). A visit dated in the grace days after one period and inside the next one's
    window goes to the earlier period while that one still waits (or was itself covered):
    one visit never settles two periods.
    """
    filed = VISITS.alias("filed")
    earlier = VISITS.alias("earlier")

    def holds(v: Any) -> Any:
        return and_(filed.c.visited_on >= v.c.window_opens,
                    filed.c.visited_on <= func.coalesce(v.c.deadline, v.c.due_on))

    covering = exists(select(filed.c.id).where(
        filed.c.subject_id == VISITS.c.subject_id,
        filed.c.status == "filed",
        filed.c.kind.in_(COVERING_KINDS),
        holds(VISITS),
        or_(VISITS.c.required_mode.is_(None), filed.c.mode == VISITS.c.required_mode),
        ~exists(select(earlier.c.id).where(
            earlier.c.subject_id == VISITS.c.subject_id, earlier.c.kind == "regular",
            earlier.c.due_on < VISITS.c.due_on,
            earlier.c.status.in_((*OPEN, "covered")), holds(earlier))),
    ))
    result = session.execute(
        update(VISITS)
        .where(VISITS.c.policy == policy.name, VISITS.c.status == "planned",
               VISITS.c.kind == "regular", covering)
        .values(status="covered")
    )
    return int(result.rowcount or 0)


PARKED = date(1900, 1, 1)  # a due date no real period has: a swap's stepping stone


def _reattribute_late(session: Session, policy: Policy, today: date) -> int:
    """A regular visit filed after its period's deadline, on a day inside a later period's
    window, was that later period's visit: the earlier period was missed.

    The filed row (with its answers) takes the later period's dates and the later row,
    still planned and empty, takes the earlier dates as `missed`. Rare (a visitor who
    started last month's overdue visit from an old reminder), so pair by pair.

    Only visits due lately are looked at (an index range, not every filed visit ever): a
    late visit was filed while still open, before its period was closed as missed, and
    the tick after that filing finds it.
    """
    since = today - timedelta(days=policy.reminders.grace_days
                              + policy.escalation.close_after_days + 7)
    late = VISITS.alias("late")
    later = VISITS.alias("later")
    pairs = session.execute(
        select(late.c.id, late.c.window_opens, late.c.due_on, late.c.deadline,
               later.c.id, later.c.window_opens, later.c.due_on, later.c.deadline)
        .join(later, and_(later.c.subject_id == late.c.subject_id,
                          later.c.kind == "regular", later.c.status == "planned",
                          later.c.due_on > late.c.due_on,
                          later.c.window_opens <= late.c.visited_on,
                          func.coalesce(later.c.deadline, later.c.due_on) >= late.c.visited_on))
        .where(late.c.status == "filed", late.c.due_on >= since,
               late.c.policy == policy.name, late.c.kind == "regular",
               late.c.visited_on > func.coalesce(late.c.deadline, late.c.due_on))
        .order_by(late.c.id, later.c.due_on)
    ).all()
    done: set[int] = set()
    for late_id, l_opens, l_due, l_deadline, later_id, p_opens, p_due, p_deadline in pairs:
        if late_id in done or later_id in done:
            continue
        done.update((late_id, later_id))
        # three steps: (subject, kind, due_on) is unique at every moment on PostgreSQL
        session.execute(update(VISITS).where(VISITS.c.id == later_id).values(due_on=PARKED))
        session.execute(update(VISITS).where(VISITS.c.id == late_id).values(
            window_opens=p_opens, due_on=p_due, deadline=p_deadline))
        session.execute(update(VISITS).where(VISITS.c.id == later_id).values(
            window_opens=l_opens, due_on=l_due, deadline=l_deadline, status="missed"))
    return len(done) // 2


def _close_adhoc(session: Session, today: date) -> int:
    """An ad-hoc record (`记录 N`) is a visit made, not a visit owed: one still planned
    after its day (started, then cancelled or abandoned) is closed as cancelled, so it
    can never turn into an overdue reminder or an escalation."""
    result = session.execute(
        update(VISITS)
        .where(VISITS.c.kind == "adhoc", VISITS.c.status == "planned",
               VISITS.c.due_on < today)
        .values(status="cancelled")
    )
    return int(result.rowcount or 0)


def _close_missed(session: Session, policy: Policy, today: date) -> int:
    """After the whole escalation ladder has run, an unvisited visit is closed as missed
    (reports count it) and the next one takes its place."""
    cutoff = today - timedelta(days=policy.escalation.close_after_days)
    result = session.execute(
        update(VISITS)
        .where(VISITS.c.policy == policy.name, VISITS.c.status == "planned",
               VISITS.c.kind.in_(SCHEDULED_KINDS), VISITS.c.deadline < cutoff)
        .values(status="missed")
    )
    return int(result.rowcount or 0)


ABANDONED_AFTER = timedelta(days=1)  # a checklist untouched this long is not being filled in


def _close_abandoned(session: Session, policy: Policy, today: date, now: datetime) -> int:
    """A checklist begun and left unfinished kept its visit `in_progress` for ever: never
    missed, and under an interval rhythm no later period was planned behind it (the
    subject was silently never visited again). Once the whole ladder has run past its
    deadline and the checklist has lain untouched for a day, the visit is closed as
    missed like any unvisited one, its checklist is closed (answers kept, not filed) and
    the visitor is told so."""
    cutoff = today - timedelta(days=policy.escalation.close_after_days)
    conv = Conversation.__table__
    idle = now - ABANDONED_AFTER
    rows = session.execute(
        select(VISITS.c.id, VISITS.c.visitor_id, VISITS.c.due_on, Person.name,
               conv.c.id, conv.c.person_id, conv.c.updated_at)
        .join(Person, Person.id == VISITS.c.subject_id)
        .outerjoin(conv, and_(conv.c.visit_id == VISITS.c.id,
                              conv.c.status.in_(CONVERSATION_OPEN_STATES)))
        .where(VISITS.c.policy == policy.name, VISITS.c.status == "in_progress",
               VISITS.c.kind.in_(SCHEDULED_KINDS), VISITS.c.deadline < cutoff)
    ).all()
    closed = 0
    for visit_id, visitor_id, due_on, name, conv_id, person_id, touched in rows:
        if touched is not None and _aware(touched) > idle:
            continue  # being filled in right now: the visitor may still file it (late)
        # checked again in the UPDATE: a turn may have touched it since the SELECT
        busy = exists(select(conv.c.id).where(conv.c.visit_id == visit_id,
                                              conv.c.updated_at > idle))
        done = session.execute(update(VISITS).where(VISITS.c.id == visit_id,
                                                    VISITS.c.status == "in_progress", ~busy)
                               .values(status="missed"))
        if not done.rowcount:
            continue  # filed or closed meanwhile (another process's tick)
        closed += 1
        if conv_id is None:
            continue
        session.execute(update(conv).where(conv.c.id == conv_id)
                        .values(status="expired", version=conv.c.version + 1))
        enqueue_to_person(
            session, person_id=person_id or visitor_id, kind="notice",
            key=f"expired:{visit_id}",
            payload=Outgoing(render("visit_expired", name=name, due=due_on.isoformat()),
                             template="visit_expired").to_payload(),
            not_before=send_time(policy, now))  # a tick at night does not wake anyone
    return closed


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


# --- regular visits ------------------------------------------------------------------


def _base(policy: Policy, tiers: Iterable[str], today: date) -> Any:
    """(subject_id, visitor_id) of the policy's active subjects of these tiers."""
    cur = current_assignments(today)
    return (
        select(SUBJECTS.c.person_id.label("subject_id"), cur.c.visitor_id)
        .join(cur, cur.c.subject_id == SUBJECTS.c.person_id)
        .where(SUBJECTS.c.policy == policy.name, SUBJECTS.c.tier.in_(sorted(tiers)),
               SUBJECTS.c.status == "active")
    )


def _insert(session: Session, sel: Any) -> int:
    """INSERT … SELECT … ON CONFLICT DO NOTHING, skipping known rows up front.

    The NOT EXISTS is not for correctness (ON CONFLICT is) but because PostgreSQL
    burns a sequence value for every row that conflicts: a tick re-run every hour over
    a million subjects would otherwise use up the 32-bit visit ids within months.
    """
    src = sel.subquery("src")
    known = VISITS.alias("known")
    cols = list(src.c)
    fresh = select(*cols).where(~exists(select(known.c.id).where(
        known.c.subject_id == src.c[0], known.c.kind == src.c[3],
        known.c.due_on == src.c[6])))
    stmt = insert_for(session, VISITS).from_select(_COLS, fresh).on_conflict_do_nothing(
        index_elements=["subject_id", "kind", "due_on"])
    return int(session.execute(stmt).rowcount or 0)


def _started_by(day: date) -> Any:
    """The subject was on the roster (had a visitor) on or before `day`."""
    a = Assignment.__table__.alias("started")
    return exists(select(a.c.id).where(a.c.subject_id == SUBJECTS.c.person_id,
                                       a.c.starts_on <= day))


def fair_start_limit(period: Period) -> date:
    """The last day a subject may join the roster and still owe this period's visit: a
    newcomer gets at least half the period's window, else the next period is their first
    (a subject imported on the 22nd is not due by the 20th of the same month)."""
    return period.opens + timedelta(days=(period.due - period.opens).days // 2)


def _plan_regular(session: Session, policy: Policy, tier: str, today: date,
                  now: datetime) -> int:
    rhythm = policy.rhythm[tier]
    grace = policy.reminders.grace_days
    base = _base(policy, [tier], today)
    if rhythm.rule != "interval":
        # Every period gets its own visit; whether it ends filed, covered or missed is
        # settled by the visit itself (_close_covered, _close_missed), never by a visit
        # filed for another period.
        period = current_period(policy, tier, today)
        assert period is not None
        sel = base.add_columns(
            literal(policy.name), literal("regular"), literal(None, String),
            literal(period.opens), literal(period.due),
            literal(period.due + timedelta(days=grace)),
            literal(rhythm.mode, String), literal("planned"), _at(now),
        ).where(_started_by(fair_start_limit(period))).order_by(SUBJECTS.c.person_id)
        return _insert(session, sel)

    # Interval rules: periods follow one another, each `days` after the last visit made
    # (or, when the last period was missed, after that period's due date); a subject new
    # to the roster is first due `days` after they joined. Planned only while the subject
    # has no open regular visit, never due before today.
    assert rhythm.days is not None
    filed = VISITS.alias("f")
    missed = VISITS.alias("m")
    first = Assignment.__table__.alias("first")
    last_filed = (select(func.max(filed.c.visited_on))
                  .where(filed.c.subject_id == SUBJECTS.c.person_id, filed.c.status == "filed")
                  .scalar_subquery())
    last_missed = (select(func.max(missed.c.due_on))
                   .where(missed.c.subject_id == SUBJECTS.c.person_id,
                          missed.c.kind == "regular", missed.c.status == "missed")
                   .scalar_subquery())
    joined = (select(func.min(first.c.starts_on))
              .where(first.c.subject_id == SUBJECTS.c.person_id).scalar_subquery())
    open_ = VISITS.alias("o")
    has_open = exists(select(open_.c.id).where(
        open_.c.subject_id == SUBJECTS.c.person_id, open_.c.kind == "regular",
        open_.c.status.in_(OPEN)))
    # OFFSET 0 keeps PostgreSQL from inlining this subquery: inlined, the correlated
    # lookups are repeated for each of the places the dates below use them
    inner = (base.add_columns(last_filed.label("lf"), last_missed.label("lm"),
                              joined.label("joined"))
             .where(~has_open).offset(0).subquery("iv"))
    # SQLite's max(a, b) is NULL when either is: the NULL cases are spelt out
    anchor = case((inner.c.lf.is_(None), inner.c.lm), (inner.c.lm.is_(None), inner.c.lf),
                  else_=greatest(session, inner.c.lf, inner.c.lm))
    staged = select(inner.c.subject_id, inner.c.visitor_id, inner.c.joined,
                    anchor.label("anchor")).subquery("st")
    due_raw = case((staged.c.anchor.is_(None), add_days(session, staged.c.joined, rhythm.days)),
                   else_=add_days(session, staged.c.anchor, rhythm.days))
    dated = select(staged.c.subject_id, staged.c.visitor_id, staged.c.joined, staged.c.anchor,
                   greatest(session, due_raw, literal(today)).label("due")).subquery("dt")
    opens = case((dated.c.anchor.is_(None), dated.c.joined),
                 else_=greatest(session, add_days(session, dated.c.due, -rhythm.window_days),
                                add_days(session, dated.c.anchor, 1)))
    sel = select(
        dated.c.subject_id, dated.c.visitor_id, literal(policy.name), literal("regular"),
        literal(None, String), opens, dated.c.due, add_days(session, dated.c.due, grace),
        literal(rhythm.mode, String), literal("planned"), _at(now),
    ).where(literal(True)).order_by(dated.c.subject_id)
    return _insert(session, sel)


def plan_event_visits(session: Session, policy: Policy, *, tiers: Iterable[str], kind: str,
                      reason: str, opens: date, due: date, deadline: date,
                      mode: str | None, today: date, now: datetime,
                      extra: Any = None) -> int:
    """Holiday and campaign visits: one per active subject of the tiers (set-based)."""
    base = _base(policy, tiers, today)
    if extra is not None:
        base = base.where(extra)
    sel = base.add_columns(
        literal(policy.name), literal(kind), literal(reason, String), literal(opens),
        literal(due), literal(deadline), literal(mode, String), literal("planned"),
        _at(now),
    ).order_by(SUBJECTS.c.person_id)
    return _insert(session, sel)




def _at(now: datetime) -> Any:
    return literal(now, VISITS.c.created_at.type)
