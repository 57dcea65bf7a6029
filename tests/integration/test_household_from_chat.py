"""Guangxi's 家庭人口有无变化: the members a visitor names as joined or left change the
household the next 附件2 prints (through the chat core, both stores)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.chat import household
from bot.chat.service import Core
from bot.settings import Settings
from store.models import Answer, HouseholdMember, Visit
from store.reports.forms import export_visit_form
from tests.integration.chat_support import Chat, walk_checklist
from tests.world import build_world


def _visit(sessions: sessionmaker[Session], subject: int, visitor: int, due: date) -> None:
    with sessions() as s:
        s.add(Visit(subject_id=subject, visitor_id=visitor, policy="guangxi-2023",
                    kind="regular", window_opens=due.replace(day=1), due_on=due,
                    deadline=due, status="planned"))
        s.commit()


def _members(sessions: sessionmaker[Session], subject: int) -> list[tuple[str, str | None,
                                                                          str | None]]:
    with sessions() as s:
        return [(m.name, m.relation, m.health) for m in s.scalars(
            select(HouseholdMember).where(HouseholdMember.subject_id == subject)
            .order_by(HouseholdMember.id))]


def test_joined_and_left_members_change_the_household(sessions: sessionmaker[Session],
                                                      tmp_path: Path) -> None:
    w = build_world(sessions, policy="guangxi-2023")
    with sessions() as s:
        s.add(HouseholdMember(subject_id=w.subject, name="李桂花", relation="配偶",
                              health="一般", co_resident=True))
        s.commit()
    _visit(sessions, w.subject, w.visitor, date(2026, 11, 30))
    c = Chat(sessions, None)  # type: ignore[arg-type]
    # two whole checklists back to back: faster than any visitor, so no flood limit
    c.core = Core(sessions, Settings(database_url="sqlite://", chat_burst=0),
                  clock=lambda: c.now[0])
    walk_checklist(c, w.visitor, say={"household_change": "增加", "household_increase": "2",
                                      "household_joined": "王小明 孙子 健康\n赵四 女婿"})
    assert _members(sessions, w.subject) == [("李桂花", "配偶", "一般"),
                                             ("王小明", "孙子", "健康"), ("赵四", "女婿", None)]
    with sessions() as s:
        filed = s.scalars(select(Visit).where(Visit.status == "filed")).one()
        said = s.scalar(select(Answer.value).where(Answer.visit_id == filed.id,
                                                   Answer.question_id == "household_joined"))
        assert "王小明" in str(said)  # the visit's own record keeps what was said
        form = export_visit_form(s, filed.id, "xlsx", tmp_path / "gx.xlsx")
    rows = [" ".join(str(x.value) for x in r if x.value)
            for r in load_workbook(form).worksheets[0].iter_rows()]
    assert any("王小明" in t and "孙子" in t and "健康" in t for t in rows)

    _visit(sessions, w.subject, w.visitor, date(2026, 12, 31))
    c.now[0] = c.now[0].replace(month=12, day=10)  # December's visit is open
    walk_checklist(c, w.visitor, say={"household_change": "减少", "household_decrease": "1",
                                      "household_left": "赵四"})
    assert _members(sessions, w.subject) == [("李桂花", "配偶", "一般"), ("王小明", "孙子", "健康")]


def test_the_readers_take_what_people_type() -> None:
    assert household.joined("王小明，孙子，健康；赵四 女婿\n\n无") == [
        ("王小明", "孙子", "健康"), ("赵四", "女婿", None)]
    assert household.joined("无") == [] and household.left("没有") == []
    assert household.left("赵四、钱五 孙六") == ["赵四", "钱五", "孙六"]
    assert len(household.joined("\n".join(f"人{i}" for i in range(50)))) == 20
