"""Escalation digests go to each officer's primary account, chosen as every other notice
is (staff platform first), and skip an officer no chat is bound to."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from scheduler.tick import tick
from store.models import Account, OutboxMessage, Person, Role
from tests.integration.test_due_support import at, build_roster
from tests.integration.test_due_year import SUBJECTS


def test_escalation_goes_to_the_primary_account_of_bound_officers(sessions) -> None:  # type: ignore[no-untyped-def]
    r = build_roster(sessions, "jingdezhen-2020", SUBJECTS)
    with sessions() as s:
        s.add(Account(person_id=r.village_officer, platform="wecom", external_id="wx-o1"))
        unbound = Person(name="新干部", jurisdiction_id=r.village)
        s.add(unbound)
        s.flush()
        s.add(Role(person_id=unbound.id, role="officer", jurisdiction_id=r.village))
        s.commit()
        unbound_id = unbound.id
    for day in (date(2026, 1, 1), date(2026, 1, 19)):  # planned, then past its deadline
        tick(sessions, at(day))
    with sessions() as s:
        digests = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "escalation")).all()
    village = [m for m in digests if m.person_id == r.village_officer]
    assert village and all((m.platform, m.external_id) == ("wecom", "wx-o1") for m in village)
    assert "懒" in village[0].payload["text"]
    assert not [m for m in digests if m.person_id == unbound_id]
