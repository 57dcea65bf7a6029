"""时间银行: a volunteer's hours come from the minutes recorded; a skipped duration counts
nothing; only checklists that never ask a duration count the mode's default; village
cadres are not volunteers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from store.models import Answer, Role, Visit
from store.reports.period import Month
from store.reports.timebank import export_timebank, timebank
from tests.world import build_world


def test_hours_per_volunteer(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    w = build_world(sessions)
    with sessions() as s:
        # 李探访 volunteers; 周探访 stays a 村（居）干部 (build_world's title)
        s.execute(update(Role).where(Role.person_id == w.visitor, Role.role == "visitor")
                  .values(title="志愿者"))
        for visitor, policy, day, mode, minutes in (
                (w.visitor, "linzi-2022", date(2026, 11, 3), "in_person", 90),
                # linzi asks 服务时长: skipped (「不需要」) counts nothing
                (w.visitor, "linzi-2022", date(2026, 11, 10), "in_person", None),
                # jingdezhen never asks: a phone call's default quarter hour
                (w.visitor, "jingdezhen-2020", date(2026, 11, 17), "phone", None),
                (w.visitor, "linzi-2022", date(2026, 10, 30), "in_person", 600),  # last month
                (w.other_visitor, "linzi-2022", date(2026, 11, 5), "in_person", 60)):  # cadre
            v = Visit(subject_id=w.subject, visitor_id=visitor, policy=policy,
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
            ("李探访", 2, 1, 1.75)]  # 90 minutes + 0 skipped + a phone call's quarter hour
        path = export_timebank(s, [w.county], month, "xlsx", tmp_path / "tb.xlsx")
    text = " ".join(str(c.value) for row in load_workbook(path).active.iter_rows()
                    for c in row if c.value is not None)
    assert "李探访" in text and "合计：1.75 小时" in text and "周探访" not in text
