"""Watch-level findings over a simulated month: each officer gets at most one digest a
day, at the policy's send time and outside quiet hours, listing every finding once;
nothing watch-level is sent one message per answer."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.cases import flag
from bot.settings import Settings
from bot.web.signals import SignalRisk
from scheduler.policy_load import load_policy
from scheduler.watch_digest import send_watch_digests
from store.models import Alert, OutboxMessage
from tests.world import T0, build_world

TZ = ZoneInfo("Asia/Shanghai")
KINDS = ["health", "hygiene", "environment", "needs", "satisfaction"]


def test_a_month_of_watch_findings_makes_one_digest_a_day(
        sessions: sessionmaker[Session]) -> None:
    w = build_world(sessions)
    policy = load_policy("linzi-2022")
    rng = random.Random(17)
    settings = Settings(database_url="sqlite://")
    start = T0.astimezone(TZ).replace(hour=0, minute=0)
    for day in range(30):
        midnight = start + timedelta(days=day)
        times = sorted(midnight + timedelta(minutes=rng.randrange(24 * 60))
                       for _ in range(rng.randrange(0, 4)))
        ticks = [midnight + timedelta(hours=h, minutes=7) for h in range(0, 24, 2)]
        for at in sorted([*(("find", t) for t in times), *(("tick", t) for t in ticks)],
                         key=lambda e: e[1]):
            with sessions() as s:
                if at[0] == "find":
                    subject = rng.choice([w.subject, w.other_subject])
                    flag(s, settings, visit=None, now=at[1], subject_id=subject,
                         risk=SignalRisk(None, "生活情况", f"一般（{at[1]:%m-%d %H:%M}）",
                                         "watch", rng.choice(KINDS)))
                else:
                    send_watch_digests(s, at[1], [policy])
                s.commit()
    with sessions() as s:
        rows = s.scalars(select(OutboxMessage)).all()
        findings = s.execute(select(Alert.display, Alert.created_at)).all()
    # no watch finding was sent on its own
    assert not [r for r in rows if r.kind == "alert"]
    digests = [r for r in rows if r.kind == "digest"]
    assert digests
    per_day = Counter((r.person_id, r.not_before.astimezone(TZ).date()) for r in digests)
    assert max(per_day.values()) == 1
    for r in digests:
        local = r.not_before.astimezone(TZ)
        assert (local.hour, local.minute) >= (8, 30) and local.hour < 21, local
    # every finding is listed for the officers of its subject, once; none to another town
    last_digest = max(r.not_before for r in digests)
    by_person: dict[int, str] = {}
    for r in digests:
        by_person[r.person_id] = by_person.get(r.person_id, "") + r.payload["text"]
    officers = {w.subject: (w.village_officer, w.township_officer),
                w.other_subject: (w.other_officer,)}
    with sessions() as s:
        from store.models import Case

        subject_of = dict(s.execute(select(Alert.display, Case.subject_id)
                                    .join(Case, Case.id == Alert.case_id)).all())
    for display, created in findings:
        if created >= last_digest - timedelta(days=1):
            continue  # the last window may not have closed yet
        for officer in officers[subject_of[display]]:
            assert by_person.get(officer, "").count(display) == 1, (officer, display)
    assert w.county_officer not in by_person
