"""For random rosters and random filing behaviour over half a year, on both stores:

- every regular period of every subject ends exactly once: filed, covered (by an ad-hoc
  visit in its window) or missed — never still open, never cancelled, also when its
  checklist was begun in chat and abandoned;
- calendar rhythms leave no gap: a subject's periods are the calendar's, one after the
  other, from the first they owe;
- a visit settles one period only: no more periods covered than ad-hoc visits filed;
- the monthly report's 应访 / 按时 / 逾期 / 未访 equal the ledger's, month by month.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from itertools import pairwise

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from scheduler.periods import period_of
from scheduler.policy import rhythm_for
from scheduler.policy_load import load_policy
from store.models import Assignment, Conversation, Jurisdiction, Person, Subject, Visit
from store.reports.period import Month
from store.reports.queries import load_scope, monthly_figures, top_roots
from tests.integration.ledger_support import Who, never, outcome, run

START, LAST_DUE, END = date(2026, 1, 1), date(2026, 6, 30), date(2026, 8, 15)
POLICIES = ("jingdezhen-2020", "liuzhou-2021", "linzi-2022", "anshan-2020", "guangxi-2023")


def _filing(seed: int, diligence: float, delay: int, extra: frozenset[date]):  # type: ignore[no-untyped-def]
    """Visits a share of its visits `delay` days after they fall due, and on `extra` days."""
    def filing(day: date, open_: list[Visit]) -> bool:
        return day in extra or any(
            v.due_on + timedelta(days=delay) == day
            and random.Random(f"{seed}:{v.due_on}").random() < diligence for v in open_)
    return filing


DAYS = st.integers(0, (LAST_DUE - START).days).map(lambda n: START + timedelta(days=n))
WHO = st.builds(
    lambda policy, facts, joined, diligence, delay, extra, adhoc, abandon, seed: (policy, Who(
        facts, _filing(seed, diligence, delay, frozenset(extra)), joined,
        adhoc_days=frozenset(adhoc), abandon_days=frozenset(abandon))),
    st.sampled_from(POLICIES),
    st.fixed_dictionaries({
        "self_care": st.sampled_from([None, "自理", "半失能", "失能"]),
        "lives_alone": st.booleans(),
        "categories": st.lists(st.sampled_from(["失能", "独居", "重残", "低保"]), max_size=2,
                               unique=True),
        "birth": st.sampled_from([date(1940, 3, 1), date(1960, 3, 1)]),
    }),
    st.sampled_from([START, START, date(2026, 1, 20), date(2026, 3, 9)]),
    st.sampled_from([0.0, 0.5, 0.9, 1.0]),
    st.integers(-4, 20),
    st.lists(DAYS, max_size=3),
    st.lists(DAYS, max_size=3),
    st.lists(DAYS, max_size=2),  # checklists begun in chat and abandoned
    st.integers(0, 10_000),
)


def _clear(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        for model in (Conversation, Visit, Assignment, Subject, Person, Jurisdiction):
            s.execute(delete(model))
        s.commit()


@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(WHO, min_size=2, max_size=8))
# A checklist begun and abandoned under an interval rhythm (its open visit held every later
# period back) and under a calendar one; then nobody files anything.
@example([(policy, Who({"self_care": "失能", "lives_alone": True, "categories": [],
                        "birth": date(1940, 3, 1)}, never, START,
                       abandon_days=frozenset({date(2026, 1, 20), date(2026, 4, 2)})))
          for policy in POLICIES])
def test_every_period_ends_once(sessions: sessionmaker[Session],
                                people: list[tuple[str, Who]]) -> None:
    _clear(sessions)
    rosters: dict[str, dict[str, Who]] = {}
    for i, (policy, who) in enumerate(people):
        rosters.setdefault(policy, {})[f"对象{i}"] = who
    run(sessions, rosters, START, END, year=2026)
    with sessions() as s:
        visits = list(s.scalars(select(Visit).order_by(Visit.subject_id, Visit.due_on)))
        subjects = {x.person_id: x for x in s.scalars(select(Subject))}
        joined = dict(s.execute(select(Assignment.subject_id, Assignment.starts_on)).all())
        regular = [v for v in visits if v.kind == "regular" and v.due_on <= LAST_DUE]
        # every period ends exactly once, and stays ended
        assert {v.status for v in regular} <= {"filed", "covered", "missed"}
        # a visit settles one period: covered periods ≤ ad-hoc visits filed
        adhoc = [v for v in visits if v.kind == "adhoc" and v.status == "filed"]
        assert sum(v.status == "covered" for v in visits) <= len(adhoc)
        for sid, subject in subjects.items():
            policy = load_policy(subject.policy)
            rhythm = rhythm_for(policy, subject.tier)
            mine = [v for v in regular if v.subject_id == sid]
            if rhythm.rule == "interval":
                # one after the other: each opens after the last one's due date
                for a, b in pairwise(mine):
                    assert b.window_opens is not None and b.window_opens > a.due_on
                continue
            # calendar rules: the calendar's periods from the first owed, none skipped
            first = period_of(rhythm, joined[sid])
            if (joined[sid] - first.opens).days > (first.due - first.opens).days // 2:
                first = period_of(rhythm, first.ends + timedelta(days=1))
            want, p = [], first
            while p.due <= LAST_DUE:
                want.append(p.due)
                p = period_of(rhythm, p.ends + timedelta(days=1))
            assert [v.due_on for v in mine] == want, (subject.policy, subject.tier)
        # the monthly report is the ledger's
        scope = load_scope(s, top_roots(s))
        for m in range(1, 7):
            month = Month(2026, m)
            owed = [v for v in visits if v.kind != "adhoc" and v.status != "cancelled"
                    and month.first <= v.due_on <= month.last]
            kinds = [outcome(v) for v in owed]
            total = monthly_figures(s, scope, month, END).total
            assert (total.due, total.on_time, total.late, total.missing, total.pending) == (
                len(owed), kinds.count("on_time"), kinds.count("late"),
                kinds.count("missed"), kinds.count("open")), month
