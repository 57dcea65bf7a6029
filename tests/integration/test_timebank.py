"""时间银行: a volunteer's hours come from the minutes recorded, else the mode's default."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy.orm import Session, sessionmaker

from store.models import Answer, Visit
from store.reports.period import Month
from store.reports.timebank import export_timebank, timebank
from tests.world import build_world


def test_hours_per_volunteer(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    w = build_world(sessions)
    with sessions() as s:
        for day, mode, minutes in ((date(2026, 11, 3), "in_person", 90),
                                   (date(2026, 11, 17), "phone", None),
                                   (date(2026, 10, 30), "in_person", 600)):  # last month
            v = Visit(subject_id=w.subject, visitor_id=w.visitor, policy="linzi-2022",
                      kind="adhoc", due_on=day, visited_on=day, mode=mode, status="filed",
                      filed_at=datetime(day.year, day.month, day.day, 9, tzinfo=UTC))
            s.add(v)
            s.flush()
            if minutes:
                s.add(Answer(visit_id=v.id, question_id="service_minutes", value=minutes,
                             display=f"{minutes}分钟"))
        s.commit()
    month = Month(2026, 11)
    with sessions() as s:
        rows = timebank(s, [w.county], month)
        assert [(r.name, r.visits["in_person"], r.visits["phone"], r.hours) for r in rows] == [
            ("李探访", 1, 1, 1.75)]  # 90 minutes + a phone call's default quarter hour
        path = export_timebank(s, [w.county], month, "xlsx", tmp_path / "tb.xlsx")
    text = " ".join(str(c.value) for row in load_workbook(path).active.iter_rows()
                    for c in row if c.value is not None)
    assert "李探访" in text and "合计：1.75 小时" in text
