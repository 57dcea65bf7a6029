"""One tier rule: the tick's SQL (`tier_expression`) gives every subject the tier that
`derive_tier` gives the same facts, for every policy, on both stores."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from scheduler.due import update_tiers
from scheduler.policy import derive_tier, subject_facts
from scheduler.policy_load import available_policies, load_policy
from store.models import Person, Subject
from store.roster.columns import KNOWN_CATEGORIES

TODAY = date(2026, 6, 15)
EIGHTY = TODAY.replace(year=TODAY.year - 80)

FACTS = st.fixed_dictionaries({
    "self_care": st.sampled_from([None, "自理", "半失能", "失能"]),
    "categories": st.lists(st.sampled_from(KNOWN_CATEGORIES), max_size=4, unique=True),
    "lives_alone": st.sampled_from([None, True, False]),
    "disabled": st.sampled_from([None, True, False]),
    # around the 80th birthday, where an off-by-one day would show
    "birth": st.one_of(st.none(), st.integers(-400, 400).map(
        lambda d: EIGHTY + timedelta(days=d)), st.dates(date(1920, 1, 1), date(1975, 1, 1))),
    "tier_override": st.sampled_from([None, None, None, "key", "ordinary"]),
})


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(FACTS, min_size=1, max_size=25))
def test_sql_twin_agrees(sessions: sessionmaker[Session], rows: list[dict[str, object]]
                         ) -> None:
    policies = [load_policy(n) for n in available_policies()]
    with sessions() as s:
        s.execute(delete(Subject))
        s.execute(delete(Person))
        want: dict[int, str] = {}
        for policy in policies:
            for f in rows:
                p = Person(name="甲", birth_date=f["birth"])
                s.add(p)
                s.flush()
                s.add(Subject(person_id=p.id, policy=policy.name, tier="?",
                              self_care=f["self_care"], categories=f["categories"],
                              lives_alone=f["lives_alone"], disabled=f["disabled"],
                              tier_override=f["tier_override"]))
                want[p.id] = derive_tier(policy, subject_facts(
                    self_care=f["self_care"], categories=f["categories"],  # type: ignore[arg-type]
                    lives_alone=f["lives_alone"], disabled=f["disabled"],  # type: ignore[arg-type]
                    birth_date=f["birth"], today=TODAY,  # type: ignore[arg-type]
                    tier_override=f["tier_override"]))  # type: ignore[arg-type]
        s.flush()
        for policy in policies:
            update_tiers(s, policy, TODAY)
        got = dict(s.execute(select(Subject.person_id, Subject.tier)).all())
        s.commit()
    assert got == want
