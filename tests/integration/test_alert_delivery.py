"""Honest delivery through the WeCom fake: while the API fails, the visitor is told the
alert is being sent, not that it arrived; each failed attempt is logged with its outbox
id; when the API is back the emergency goes before the routine messages queued ahead of
it, and only then is the visitor told the officer has it."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.channels.wecom import WeComChannel
from bot.chat.service import Core
from bot.settings import Settings
from scheduler.dispatch import drain
from store.models import Account, OutboxMessage
from store.outbox import enqueue
from tests.fakes.wechat_server import AGENT_ID, CORP_ID, CORP_SECRET, FakePlatform
from tests.integration.chat_support import Chat, walk_checklist
from tests.integration.test_dispatch_support import RecordingChannel
from tests.world import World, build_world

FAILURES = 6  # WeCom answers "system busy" this many times, then works again


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    platform = FakePlatform().start()
    try:
        yield platform
    finally:
        platform.stop()


def _setup(sessions: sessionmaker[Session], fake: FakePlatform
           ) -> tuple[Chat, World, dict[str, object]]:
    w = build_world(sessions)
    now = datetime.now(UTC).replace(microsecond=0)
    with sessions() as s:
        from store.models import Visit

        today = now.date()
        s.add(Visit(subject_id=w.subject, visitor_id=w.visitor, policy="linzi-2022",
                    kind="regular", window_opens=today - timedelta(days=10), due_on=today,
                    deadline=today, status="planned"))
        for pid in (w.village_officer, w.township_officer, w.county_officer):
            s.add(Account(person_id=pid, platform="wecom", external_id=f"wc{pid}",
                          bound_at=now, free_sent=0))
        s.commit()
    settings = Settings(database_url="sqlite://", wecom_corp_id=CORP_ID,
                        wecom_secret=CORP_SECRET, wecom_agent_id=AGENT_ID,
                        wecom_api_base=fake.wecom_api_base)
    c = Chat(sessions, None)  # type: ignore[arg-type]
    c.now = [now]
    c.core = Core(sessions, settings, clock=lambda: c.now[0])
    channels: dict[str, object] = {
        "wecom": WeComChannel(settings, sessions, clock=lambda: c.now[0]),
        "console": RecordingChannel(name="console")}
    return c, w, channels


def _texts(c: Chat, who: int) -> list[str]:
    return [m.text for m in c.outbox_to(f"p{who}")]


def test_alert_waits_honestly_and_goes_first_when_wecom_returns(
        sessions: sessionmaker[Session], fake: FakePlatform,
        caplog: pytest.LogCaptureFixture) -> None:
    c, w, channels = _setup(sessions, fake)
    # routine WeCom messages queued before the emergency
    with sessions() as s:
        for i in range(3):
            enqueue(s, key=f"routine:{i}", platform="wecom",
                    external_id=f"wc{w.township_officer}", kind="escalation",
                    payload={"text": f"逾期提醒 {i}"}, not_before=c.now[0])
        s.commit()
    fake.fail("message/send", -1, times=FAILURES, errmsg="system busy")
    walk_checklist(c, w.visitor, risky="none", say={"emergency": "危重病情"})

    visitor = "\n".join(_texts(c, w.visitor))
    assert "正在通知" in visitor and "已同步通知" not in visitor
    caplog.set_level(logging.WARNING, logger="scheduler.dispatch")
    t = datetime.now(UTC)
    for step in range(8):  # the API keeps failing: every attempt is logged, none lost
        drain(sessions, channels, t + timedelta(seconds=70 * step))
        if not [x for x in fake.calls if x.path == "message/send"
                and x.answer.get("errcode") == -1][FAILURES - 1:]:
            continue
        break
    failed = [x for x in fake.calls if x.path == "message/send"
              and x.answer.get("errcode") == -1]
    assert len(failed) == FAILURES
    with sessions() as s:
        rows = {r.id: r for r in s.scalars(select(OutboxMessage))}
    logged = {int(m) for r in caplog.records if r.levelno == logging.WARNING
              for m in re.findall(r"outbox (\d+)", r.getMessage())}
    assert len([r for r in caplog.records if "attempt" in r.getMessage()]) == FAILURES
    assert logged and all(rows[i].kind == "alert" for i in logged)
    # not delivered yet: the visitor has not been told the officer has it
    assert not any("已送达" in t for t in _texts(c, w.visitor))

    drain(sessions, channels, t + timedelta(minutes=20))
    ok = fake.sent("message/send")
    assert ok, "nothing delivered after the API came back"
    first = ok[0].body
    assert "危重病情" in str(first), first
    routine = [i for i, x in enumerate(ok) if "逾期提醒" in str(x.body)]
    alerts = [i for i, x in enumerate(ok) if "危重病情" in str(x.body)]
    assert len(routine) == 3 and max(alerts) < min(routine)
    delivered = [t for t in _texts(c, w.visitor) if "已送达" in t and "危重病情" in t]
    assert len(delivered) == 1 and "个案" in delivered[0]  # once, whichever officer was first
