"""`visitbot cases` through click's CliRunner: Chinese words, every finding, no codes."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.cases import record_findings
from bot.cli.cases import cases_cmd
from bot.settings import Settings
from bot.web.signals import SignalRisk
from store.labels import STATUS_LABELS
from store.models import Visit
from tests.world import T0, build_world


def test_cases_lists_findings_in_chinese(sessions: sessionmaker[Session], db_url: str) -> None:
    w = build_world(sessions)
    with sessions() as s:
        visit = Visit(subject_id=w.subject, visitor_id=w.visitor, policy="linzi-2022",
                      due_on=T0.date(), status="filed", visited_on=T0.date())
        s.add(visit)
        s.flush()
        record_findings(s, Settings(database_url="sqlite://"), visit=visit, now=T0, risks=[
            SignalRisk("illness", "疾病情况", "较差", "high", "health"),
            SignalRisk("mobility", "行动情况", "较差", "high", "health"),
            SignalRisk("fire", "用火安全", "电话13912345678", "emergency", "fire")])
        s.commit()
    out = CliRunner().invoke(cases_cmd, [], obj={"database_url": db_url})
    assert out.exit_code == 0, out.output
    text = out.output
    assert "身体健康" in text and "疾病情况：较差" in text and "行动情况：较差" in text
    assert "消防安全" in text and "紧急" in text and STATUS_LABELS["open"] in text
    for code in ("health", "fire", "open", "acked", "resolved", "emergency", "high"):
        assert code not in text, code
    assert "13912345678" not in text and "139****5678" in text


def test_cases_marks_cards_that_reached_no_officer(sessions: sessionmaker[Session],
                                                   db_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    from store.models import OutboxMessage

    w = build_world(sessions)
    now = datetime.now(UTC)
    with sessions() as s:
        visit = Visit(subject_id=w.subject, visitor_id=w.visitor, policy="linzi-2022",
                      due_on=now.date(), status="filed", visited_on=now.date())
        s.add(visit)
        s.flush()
        record_findings(s, Settings(database_url="sqlite://"), visit=visit, now=now, risks=[
            SignalRisk("fire", "用火安全", "较差", "emergency", "fire")])
        s.commit()
    fresh = CliRunner().invoke(cases_cmd, [], obj={"database_url": db_url}).output
    assert "未送达" not in fresh
    with sessions() as s:  # nothing was sent for an hour
        s.execute(OutboxMessage.__table__.update().values(
            created_at=now - timedelta(hours=1)))
        s.commit()
    stale = CliRunner().invoke(cases_cmd, [], obj={"database_url": db_url}).output
    assert "预警超时未送达" in stale

