"""Remote-monitoring signals and the escalation of unacknowledged cases, on both stores."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.case_escalation import escalate_cases
from bot.settings import Settings
from bot.web.signals import handle_signal, signal_routes
from store.models import Case, Device, InboundSeen, OutboxMessage, Visit
from tests.world import T0, World, build_world

KEY = "s3cret-key"


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> World:
    w = build_world(sessions)
    with sessions() as s:
        s.add(Device(source="acme", device_id="SMK-1", kind="smoke", subject_id=w.subject))
        s.add(Device(source="acme", device_id="WM-1", kind="water_meter", subject_id=w.subject))
        s.commit()
    return w


def _settings() -> Settings:
    return Settings(signal_keys={"acme": SecretStr(KEY)})


def _signed(body: bytes, key: str = KEY, ts: int | None = None) -> dict[str, str]:
    ts = ts if ts is not None else int(time.time())
    sig = hmac.new(key.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {"x-visitbot-source": "acme", "x-visitbot-timestamp": str(ts),
            "x-visitbot-signature": sig, "content-type": "application/json"}


def _client(sessions: sessionmaker[Session]) -> httpx.AsyncClient:
    from starlette.applications import Starlette

    app = Starlette(routes=signal_routes(sessions, _settings()))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def _counts(sessions: sessionmaker[Session]) -> tuple[int, int, int, int]:
    with sessions() as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) or 0
                     for t in (Case, OutboxMessage, Visit, InboundSeen))  # type: ignore[return-value]


async def test_signed_smoke_alarm_opens_emergency_case_and_asks_for_visit(
        sessions: sessionmaker[Session], world: World) -> None:
    body = json.dumps({"device_id": "SMK-1", "event": "alarm"}).encode()
    headers = _signed(body)
    async with _client(sessions) as c:
        r = await c.post("/signals", content=body, headers=headers)
        assert r.status_code == 200, r.text
        again = await c.post("/signals", content=body, headers=headers)
    with sessions() as s:
        case = s.scalars(select(Case)).one()
        assert (case.severity, case.kind, case.subject_id) == ("emergency", "fire", world.subject)
        visit = s.scalars(select(Visit).where(Visit.kind == "signal")).one()
        assert visit.visitor_id == world.visitor and visit.required_mode == "in_person"
        rows = s.scalars(select(OutboxMessage)).all()
        to = {m.person_id for m in rows}
        # the village and township officers, the county for an emergency, the visitor, the child
        assert {world.village_officer, world.township_officer, world.county_officer,
                world.visitor, world.child} <= to
        assert world.other_officer not in to and world.other_child not in to
        assert all("990101193605120123" not in json.dumps(m.payload, ensure_ascii=False)
                   for m in rows)
    assert again.status_code == 409  # the very same signed request is a replay


async def test_case_and_space_variants_of_one_signature_are_one_signal(
        sessions: sessionmaker[Session], world: World) -> None:
    """The signature is hex compared without case: every spelling of it must be the same
    replay key, or one signal plus its variants would open as many alerts."""
    body = json.dumps({"device_id": "SMK-1", "event": "alarm"}).encode()
    headers = _signed(body)
    sig = headers["x-visitbot-signature"]
    variants = [sig, sig.upper(), " " + sig, sig + " ", sig[:10].upper() + sig[10:],
                "".join(ch.upper() if i % 2 else ch for i, ch in enumerate(sig))]
    async with _client(sessions) as c:
        statuses = [(await c.post("/signals", content=body, headers={
            **headers, "x-visitbot-signature": v})).status_code for v in variants]
        deep = b"[" * 5000 + b"]" * 5000
        assert (await c.post("/signals", content=deep, headers=_signed(deep))).status_code == 400
        assert (await c.post("/signals", content=body, headers={
            **headers, "content-length": "lots"})).status_code < 500
    assert statuses == [200] + [409] * (len(variants) - 1)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 1


@pytest.mark.parametrize("mutate", ["bad_sig", "stale", "unknown_source", "unknown_device",
                                    "malformed"])
async def test_bad_signals_are_refused_without_state_change(
        sessions: sessionmaker[Session], world: World, mutate: str) -> None:
    body = json.dumps({"device_id": "SMK-1", "event": "alarm"}).encode()
    headers = _signed(body)
    if mutate == "bad_sig":
        headers = _signed(body, key="wrong")
    elif mutate == "stale":
        headers = _signed(body, ts=int(time.time()) - 3600)
    elif mutate == "unknown_source":
        headers["x-visitbot-source"] = "nobody"
    elif mutate == "unknown_device":
        body = json.dumps({"device_id": "NOPE", "event": "alarm"}).encode()
        headers = _signed(body)
    elif mutate == "malformed":
        body = b"{not json"
        headers = _signed(body)
    before = _counts(sessions)
    async with _client(sessions) as c:
        r = await c.post("/signals", content=body, headers=headers)
    assert r.status_code in (400, 401, 404)
    assert _counts(sessions) == before


def test_unacknowledged_emergency_escalates_once_per_level(
        sessions: sessionmaker[Session], world: World) -> None:
    from bot.alerts.cases import flag
    from bot.web.signals import SignalRisk

    with sessions() as s:
        flag(s, _settings(), visit=None, now=T0, subject_id=world.subject,
             risk=SignalRisk(None, "紧急情况", "遭受侵害", "emergency", "emergency"))
        s.commit()
    with sessions() as s:
        first = s.scalar(select(func.count()).select_from(OutboxMessage)) or 0
    assert escalate_cases(sessions, T0 + timedelta(minutes=10)) == 0
    assert escalate_cases(sessions, T0 + timedelta(minutes=31)) == 1
    assert escalate_cases(sessions, T0 + timedelta(minutes=32)) == 0  # same level: nothing new
    with sessions() as s:
        case = s.scalars(select(Case)).one()
        assert case.escalation_level == 1
        after = s.scalar(select(func.count()).select_from(OutboxMessage)) or 0
    assert after > first
    # once acknowledged, it stops climbing
    with sessions() as s:
        case = s.scalars(select(Case)).one()
        case.status = "acked"
        s.commit()
    assert escalate_cases(sessions, T0 + timedelta(hours=5)) == 0


def test_an_undelivered_emergency_goes_to_the_next_officer_up(
        sessions: sessionmaker[Session], world: World) -> None:
    """No channel for the officers' platform: after the policy's minutes (linzi: 10) the
    card goes one level further up; a case whose card arrived stays where it is."""
    from datetime import UTC, datetime

    from bot.alerts.case_escalation import escalate_undelivered, undelivered_cases
    from bot.alerts.cases import flag
    from bot.web.signals import SignalRisk
    from store.models import Account, Jurisdiction, Person, Role

    now = datetime.now(UTC)
    with sessions() as s:
        # a city above the county, with its own officer
        city = Jurisdiction(name="示范市", level="city")
        s.add(city)
        s.flush()
        s.get(Jurisdiction, world.county).parent_id = city.id  # type: ignore[union-attr]
        boss = Person(name="市民政周", phone="13600000009", jurisdiction_id=city.id)
        s.add(boss)
        s.flush()
        s.add(Role(person_id=boss.id, role="officer", jurisdiction_id=city.id, on_duty=True))
        s.add(Account(person_id=boss.id, platform="console", external_id="boss",
                      bound_at=now, free_sent=0))
        case = flag(s, _settings(), visit=None, now=now, subject_id=world.subject,
                    risk=SignalRisk(None, "紧急呼叫", "按下紧急按钮", "emergency",
                                    "emergency_call"))
        s.commit()
        case_id, boss_id = case.id, boss.id
    with sessions() as s:
        assert undelivered_cases(s, now + timedelta(minutes=5)) == []
        assert undelivered_cases(s, now + timedelta(minutes=11)) == [(case_id, 0)]
    assert escalate_undelivered(sessions, now + timedelta(minutes=11)) == 1
    assert escalate_undelivered(sessions, now + timedelta(minutes=12)) == 0  # once a level
    with sessions() as s:
        got = s.get(Case, case_id)
        assert got is not None and got.escalation_level == 1
        to_boss = s.scalars(select(OutboxMessage).where(
            OutboxMessage.person_id == boss_id)).all()
        assert len(to_boss) == 1 and "升级提醒" in to_boss[0].payload["text"]
        # delivered cards keep a case where it is
        s.execute(OutboxMessage.__table__.update().values(status="sent"))
        s.commit()
    assert escalate_undelivered(sessions, now + timedelta(hours=2)) == 0


def test_a_card_refused_for_every_officer_climbs_at_once(
        sessions: sessionmaker[Session], world: World) -> None:
    """WeCom 403 / unknown user for each officer: no need to wait the policy's minutes."""
    from datetime import UTC, datetime

    from bot.alerts.case_escalation import undelivered_cases
    from bot.alerts.cases import flag
    from bot.web.signals import SignalRisk

    now = datetime.now(UTC)
    with sessions() as s:
        case = flag(s, _settings(), visit=None, now=now, subject_id=world.subject,
                    risk=SignalRisk(None, "用水异常", "长时间无用水", "high", "no_activity"))
        s.commit()
        case_id = case.id
    with sessions() as s:
        assert undelivered_cases(s, now + timedelta(minutes=1)) == []
        s.execute(OutboxMessage.__table__.update()
                  .where(OutboxMessage.kind == "alert").values(status="failed"))
        s.commit()
        assert undelivered_cases(s, now + timedelta(minutes=1)) == [(case_id, 0)]


async def test_a_signal_detail_reaches_officers_masked(
        sessions: sessionmaker[Session], world: World) -> None:
    detail = "老人来电13912345678，身份证110101199003071234，请核实"
    body = json.dumps({"device_id": "SMK-1", "event": "alarm", "detail": detail}).encode()
    async with _client(sessions) as c:
        r = await c.post("/signals", content=body, headers=_signed(body))
        assert r.status_code == 200, r.text
    with sessions() as s:
        texts = [m.payload["text"] for m in s.scalars(select(OutboxMessage))]
    cards = [t for t in texts if "老人来电" in t]
    assert cards and all("139****5678" in t and "1101**********1234" in t for t in cards)
    assert not any("13912345678" in t or "110101199003071234" in t for t in texts)


@pytest.mark.parametrize(("timezone", "due"), [
    ("Asia/Shanghai", date(2026, 11, 21)),  # 04:30 the next morning there
    ("Asia/Urumqi", date(2026, 11, 21)),  # 02:30
    ("UTC", date(2026, 11, 20)),
])
def test_a_signal_visit_is_due_on_the_countys_own_date(
        sessions: sessionmaker[Session], world: World, timezone: str, due: date) -> None:
    """The visit a signal asks for is due today as the county counts days (its configured
    time zone), the date every other rule of the county is read on."""
    settings = Settings(signal_keys={"acme": SecretStr(KEY)}, timezone=timezone)
    now = datetime(2026, 11, 20, 20, 30, tzinfo=UTC)
    handle_signal(sessions, settings, "acme", "ab" * 32,
                  {"device_id": "SMK-1", "event": "alarm"}, now)
    with sessions() as s:
        visit = s.scalars(select(Visit).where(Visit.kind == "signal")).one()
        assert (visit.due_on, visit.window_opens, visit.deadline) == (due, due, due)
