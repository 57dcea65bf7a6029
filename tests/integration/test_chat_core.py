"""The core, driven by chat messages as people send them: binding, a visit with a risk,
the officer's alert, acknowledge and resolve, the child's notices — and each role kept
to what is theirs. Real store (both), real engine, real outbox; console addresses."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.chat.binding import create_invite
from bot.chat.service import Core
from bot.settings import Settings
from store.models import Account, Case, Visit
from tests.integration.chat_support import Chat, walk_checklist
from tests.world import T0, World, build_world

ID_RE = re.compile(r"\d{17}[\dXx]")


def test_binding_code_works_once_and_expires(sessions: sessionmaker[Session]) -> None:
    w = build_world(sessions, bind_console=False)
    c = Chat(sessions, None)  # type: ignore[arg-type]
    c.core = Core(sessions, Settings(database_url="sqlite://"), clock=lambda: c.now[0])
    with sessions() as s:
        code = create_invite(s, w.visitor, T0, 72)
        old = create_invite(s, w.child, T0 - timedelta(hours=100), 72)
        s.commit()
    stranger = c.say("someone", "你好")
    assert len(stranger) == 1 and "待访" not in stranger[0].text  # a polite no, nothing else
    assert "李探访" in c.say("phone-a", f"绑定 {code}")[0].text
    again = c.say("phone-b", f"绑定 {code}")[0].text  # used: refused for anyone else
    assert "李探访" not in again
    assert "王建国" not in c.say("phone-c", f"/start {old}")[0].text  # expired
    with sessions() as s:
        accounts = {a.external_id: a.person_id for a in s.scalars(select(Account))}
    assert accounts == {"phone-a": w.visitor}


def test_risky_visit_alerts_township_and_family_then_resolves(chat: tuple[Chat, World]
                                                              ) -> None:
    c, w = chat
    walk_checklist(c, w.visitor)
    with c.sessions() as s:
        visit = s.scalars(select(Visit).where(Visit.subject_id == w.subject)).one()
        assert visit.status == "filed"
        cases = {x.kind: x for x in s.scalars(select(Case).where(Case.subject_id == w.subject))}
        # the walker also said yes to 集中供养意愿: a wish someone must follow up (watch)
        assert {k: (x.severity, x.status) for k, x in cases.items()} == {
            "gas": ("high", "open"), "institutional_care": ("watch", "open")}
        case = cases["gas"]
    # the township officer gets the alert with buttons; the other township does not
    alert = c.outbox_to(f"p{w.township_officer}")
    gas_alert = [m for m in alert if "燃气安全" in m.text]
    assert len(gas_alert) == 1
    assert f"ack:{case.id}" in {ch.value for ch in gas_alert[0].choices}
    assert not ID_RE.search(gas_alert[0].text)  # the ID number is masked
    assert c.outbox_to(f"p{w.other_officer}") == []
    # the child hears of the visit and the risk; the other family hears nothing
    child = c.outbox_to(f"p{w.child}")
    # one message for the visit, saying in plain words what was found
    assert len(child) == 1 and "王秀英" in child[0].text and "燃气安全" in child[0].text
    assert c.outbox_to(f"p{w.other_child}") == []

    # another township's officer cannot touch the case; the right one acknowledges
    c.say(w.other_officer, choice=f"ack:{case.id}")
    c.say(w.other_officer, f"处理 {case.id} 我来处理")
    with c.sessions() as s:
        assert s.get(Case, case.id).status == "open"  # type: ignore[union-attr]
    c.say(w.township_officer, choice=f"ack:{case.id}")
    with c.sessions() as s:
        assert s.get(Case, case.id).status == "acked"  # type: ignore[union-attr]
    c.now[0] = T0 + timedelta(hours=3)
    done = c.say(w.township_officer, f"处理 {case.id} 已更换燃气软管")
    assert done
    with c.sessions() as s:
        got = s.get(Case, case.id)
        assert got is not None and got.status == "resolved"
        assert got.resolution == "已更换燃气软管"
    # the watch case is still open: no 「处理完毕」 yet
    assert c.outbox_to(f"p{w.child}")[len(child):] == []
    other = cases["institutional_care"]
    c.say(w.township_officer, f"处理 {other.id} 已联系敬老院，老人13712345678暂不入住")
    later = c.outbox_to(f"p{w.child}")[len(child):]
    assert len(later) == 1 and "处理完毕" in later[0].text
    # the officers' own words never reach the family
    assert not any("软管" in m.text or "敬老院" in m.text for m in c.outbox_to(f"p{w.child}"))
    # resolving again sends nothing twice
    c.say(w.township_officer, f"处理 {other.id} 再次确认")
    assert len(c.outbox_to(f"p{w.child}")[len(child):]) == 1


def test_each_role_sees_only_its_own(chat: tuple[Chat, World]) -> None:
    c, w = chat
    with c.sessions() as s:
        other = Visit(subject_id=w.other_subject, visitor_id=w.other_visitor,
                      policy="linzi-2022", kind="regular", window_opens=date(2026, 11, 1),
                      due_on=date(2026, 11, 21), deadline=date(2026, 11, 21), status="planned")
        s.add(other)
        s.commit()
        other_id = other.id
    # a forged start button for another visitor's subject
    c.say(w.visitor, choice=f"start:{other_id}")
    with c.sessions() as s:
        assert s.get(Visit, other_id).status == "planned"  # type: ignore[union-attr]
    listed = c.say(w.visitor, "待访")[0].text
    assert "王秀英" in listed and "陈桂兰" not in listed
    walk_checklist(c, w.visitor)
    # the child's 近况: their own parent, no ID number, no phone in full
    status = "\n".join(m.text for m in c.say(w.child, "近况"))
    assert "王秀英" in status and "陈桂兰" not in status
    assert not ID_RE.search(status) and "13700000001" not in status
    other_status = "\n".join(m.text for m in c.say(w.other_child, "近况"))
    assert "王秀英" not in other_status
    # officers list only their jurisdiction's cases
    assert "王秀英" in "\n".join(m.text for m in c.say(w.township_officer, "个案"))
    assert "王秀英" not in "\n".join(m.text for m in c.say(w.other_officer, "个案"))
    # a family member has no visitor commands
    assert "王秀英" not in "\n".join(m.text for m in c.say(w.child, "待访"))


@pytest.mark.parametrize("emergency", ["遭受侵害", "危重病情"])
def test_emergency_reaches_township_and_county_at_once(chat: tuple[Chat, World],
                                                      emergency: str) -> None:
    c, w = chat
    walk_checklist(c, w.visitor, risky="none",
                   say={"emergency": emergency, "child_contact": "否"})
    with c.sessions() as s:
        case = s.scalars(select(Case).where(Case.subject_id == w.subject,
                                            Case.severity == "emergency")).one()
        # raised when answered, before the record was confirmed: one alert, not two
        assert case.kind
    for officer in (w.township_officer, w.county_officer):
        msgs = [m for m in c.outbox_to(f"p{officer}") if emergency in m.text]
        assert len(msgs) == 1, officer
    assert not [m for m in c.outbox_to(f"p{w.other_officer}")]
    # the visitor saw what to do at once
    assert any("120" in m.text for m in c.outbox_to(f"p{w.visitor}"))
    # the visitor is told the alert is on its way, not that it arrived
    visitor = "\n".join(m.text for m in c.outbox_to(f"p{w.visitor}"))
    assert "正在通知" in visitor and "已同步" not in visitor and "已送达" not in visitor
    child = [m.text for m in c.outbox_to(f"p{w.child}")]
    if emergency == "遭受侵害":  # the child may be the one in question: told nothing
        assert child == []
    else:  # one message: the emergency, and a request to call since no one has lately
        assert len(child) == 1 and "较少接到子女的电话" in child[0] and "危重病情" in child[0]
    assert c.outbox_to(f"p{w.other_child}") == []


def test_two_findings_of_a_kind_make_one_card_and_the_family_one_message(
        chat: tuple[Chat, World]) -> None:
    c, w = chat
    walk_checklist(c, w.visitor, risky="none",
                   say={"illness": "较差", "mobility": "较差", "gas_safety": "较差"})
    with c.sessions() as s:
        health = s.scalars(select(Case).where(Case.subject_id == w.subject,
                                              Case.kind == "health")).one()
    cards = [m.text for m in c.outbox_to(f"p{w.township_officer}")
             if f"个案 {health.id}" in m.text]
    assert len(cards) == 1
    card = cards[0]
    # every finding, the address, the visitor with a masked phone, in Chinese words
    assert "疾病情况：较差" in card and "行动情况：较差" in card
    assert "测试村1号" in card and "李探访" in card and "138****0001" in card
    assert "身体健康" in card and "health" not in card
    # three findings, two cases at once and a watch one: the child gets one message
    child = c.outbox_to(f"p{w.child}")
    assert len(child) == 1
    assert "身体健康" in child[0].text and "燃气安全" in child[0].text
    # /cases speaks Chinese too
    listed = "\n".join(m.text for m in c.say(w.township_officer, "个案"))
    assert "身体健康" in listed and "待处理" in listed
    assert not any(code in listed for code in ("health", "open", "acked", "watch"))


def test_a_watch_only_visit_promises_the_digest_not_a_delivery(chat: tuple[Chat, World]
                                                               ) -> None:
    c, w = chat
    out = walk_checklist(c, w.visitor, risky="none")
    filed = out[-1].text
    # the walker's only finding is the wish for institutional care: watch level
    assert "每日关注汇总" in filed and "送达" not in filed
    assert not [m for m in c.outbox_to(f"p{w.township_officer}") if "个案" in m.text]


def test_an_assignment_ended_mid_checklist_files_nothing(chat: tuple[Chat, World]) -> None:
    """Decided: a checklist whose visitor's assignment ended is not filed by them; it is
    closed unfiled with a message, and the visit goes back to whoever is assigned now."""
    from store.models import Answer, Assignment, Conversation

    c, w = chat
    c.say(w.visitor, "待访")
    c.say(w.visitor, "1")
    c.say(w.visitor, "1")
    c.say(w.visitor, "今天")
    with c.sessions() as s:
        visit = s.scalars(select(Visit).where(Visit.subject_id == w.subject)).one()
        assert visit.status == "in_progress"
        assignment = s.scalars(select(Assignment).where(
            Assignment.subject_id == w.subject, Assignment.visitor_id == w.visitor)).one()
        assignment.ends_on = date(2026, 11, 19)
        s.add(Assignment(subject_id=w.subject, visitor_id=w.other_visitor,
                         starts_on=date(2026, 11, 19)))
        s.commit()
        visit_id = visit.id
    out = c.say(w.visitor, "1")
    assert len(out) == 1 and "不再负责王秀英" in out[0].text and "未提交" in out[0].text
    with c.sessions() as s:
        visit = s.get(Visit, visit_id)
        assert visit is not None and visit.status == "planned" and visit.filed_at is None
        assert visit.visitor_id == w.other_visitor
        assert s.scalars(select(Conversation)).one().status == "cancelled"
        assert s.scalar(select(Answer.id).where(Answer.visit_id == visit_id)) is None
    # the next message is not part of that checklist any more
    assert "不再负责" not in c.say(w.visitor, "确认")[0].text
    # the visitor now assigned sees the visit and can start it
    assert "王秀英" in c.say(w.other_visitor, "待访")[0].text
