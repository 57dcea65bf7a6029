"""已处理 asks how a case was handled, and the next plain reply is that note: the case is
resolved with it. A command in between, a button, or a reply half an hour later is not
taken as the note. Real store (both), console addresses."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from conversations.text import render
from store.models import Case
from tests.integration.chat_support import Chat, walk_checklist
from tests.world import T0, World


def _gas_case(c: Chat, w: World) -> int:
    walk_checklist(c, w.visitor)
    with c.sessions() as s:
        case_id = s.scalar(select(Case.id).where(Case.subject_id == w.subject,
                                                 Case.kind == "gas"))
    assert case_id is not None
    c.say(w.township_officer, choice=f"ack:{case_id}")
    return case_id


def _status(c: Chat, case_id: int) -> tuple[str, str | None]:
    with c.sessions() as s:
        case = s.get(Case, case_id)
        assert case is not None
        return case.status, case.resolution


def test_the_reply_after_handled_is_the_note(chat: tuple[Chat, World]) -> None:
    c, w = chat
    case_id = _gas_case(c, w)
    asked = c.say(w.township_officer, choice=f"resolve:{case_id}")
    assert "请直接回复处理情况" in asked[0].text
    done = c.say(w.township_officer, "已上门检查，更换燃气软管。")
    assert _status(c, case_id) == ("resolved", "已上门检查，更换燃气软管。")
    assert done[0].text == render("bot_case_resolved", case_id=case_id, changed=True)
    # asked once: the next plain message is not a note again
    assert c.say(w.township_officer, "谢谢")[0].text == render("bot_help", roles=["officer"])


def test_a_command_or_a_late_reply_is_not_taken_as_the_note(chat: tuple[Chat, World]) -> None:
    c, w = chat
    case_id = _gas_case(c, w)
    c.say(w.township_officer, choice=f"resolve:{case_id}")
    listed = c.say(w.township_officer, "个案")
    assert str(case_id) in listed[0].text and _status(c, case_id)[0] == "acked"
    c.say(w.township_officer, "还没处理完")  # the question was over: not a note
    assert _status(c, case_id)[0] == "acked"

    c.say(w.township_officer, choice=f"resolve:{case_id}")
    c.now[0] = T0 + timedelta(minutes=45)
    c.say(w.township_officer, "你好")
    assert _status(c, case_id)[0] == "acked"
    # another officer's reply is theirs: only the one who was asked writes the note
    c.say(w.township_officer, f"处理 {case_id}")
    c.say(w.other_officer, "已处理好")
    assert _status(c, case_id)[0] == "acked"
    c.say(w.township_officer, "已处理好")
    assert _status(c, case_id) == ("resolved", "已处理好")
