"""The inbound-kinds table itself, and the engine's keeping of a voice transcript."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from bot.chat.inbound import POSITIONS, TABLE, Do, kind_of, silent
from conversations.checklist import load_checklist
from conversations.engine import HEARD, Context, Inbound, ask_again, start, step
from conversations.messages import Address, Incoming, Kind, Media
from conversations.text import render

# Only a deliberate answer may reach the checklist: said here apart from the table.
ANSWERING = {Kind.TEXT, Kind.VOICE_TEXT, Kind.IMAGE, Kind.LOCATION, Kind.CALLBACK}
NOW = datetime(2026, 11, 25, 9, tzinfo=UTC)


def test_every_kind_has_a_row_for_every_position() -> None:
    assert set(TABLE) == set(Kind)
    for kind, rule in TABLE.items():
        assert set(rule.at) <= {*POSITIONS, "*"}, kind
        for where in POSITIONS:
            do = rule.action(True, where)
            if kind not in ANSWERING:
                assert do is not Do.PASS, (kind, where)
        assert rule.action(False, None) in (Do.GUIDE, Do.BIND, Do.UNBIND, Do.NOTHING,
                                            Do.PASS)
        if rule.action(False, None) is Do.PASS:
            assert kind is Kind.TEXT  # only typed text can carry "绑定 邀请码"


def test_the_only_silent_rows_are_what_no_person_typed() -> None:
    assert {k for k in Kind if silent(k)} == {Kind.NOTICE, Kind.MENU_PHOTO}
    for kind, rule in TABLE.items():  # unsubscribe: they can no longer be written to
        if kind not in (Kind.NOTICE, Kind.MENU_PHOTO, Kind.UNSUBSCRIBE):
            assert Do.NOTHING not in (rule.unbound, rule.idle, *rule.at.values()), kind


def test_an_image_answers_only_the_photo_question() -> None:
    assert [w for w in POSITIONS if TABLE[Kind.IMAGE].action(True, w) is Do.PASS] == ["photo"]
    assert TABLE[Kind.LOCATION].action(True, "photo") is Do.HINT
    assert render(TABLE[Kind.LOCATION].hint, kind="location", where="photo",
                  in_checklist=True).count("照片") >= 1


@pytest.mark.parametrize(("incoming", "kind"), [
    (Incoming(Address("console", "c"), "1", text="你好"), Kind.TEXT),
    (Incoming(Address("console", "c"), "1", choice="a:q:1"), Kind.CALLBACK),
    (Incoming(Address("console", "c"), "1", media=Media("photo", "f")), Kind.IMAGE),
    (Incoming(Address("console", "c"), "1", media=Media("location", "")), Kind.LOCATION),
    (Incoming(Address("console", "c"), "1", text="x", kind=Kind.FORWARD), Kind.FORWARD),
])
def test_kind_of_reads_the_fields_when_no_channel_said(incoming: Incoming, kind: Kind) -> None:
    assert kind_of(incoming) is kind


def ctx(**kw: Any) -> Context:
    base: dict[str, Any] = {"subject_name": "王秀英", "facts": {"tier": "high"},
                            "today": date(2026, 11, 25), "capabilities": frozenset({"buttons"})}
    return Context(**{**base, **kw})


def at_text_question() -> tuple[dict[str, Any], Any, str]:
    cl = load_checklist("linzi-2022")
    state = start(cl, ctx(), NOW).state
    qid = next(q.id for q in cl.questions if q.type == "text")
    return {**state, "cur": qid}, cl, qid


def test_a_heard_transcript_is_kept_until_confirmed() -> None:
    state, cl, qid = at_text_question()
    heard = step(state, Inbound(text="想吃饺子", voice=True), cl, ctx(), NOW)
    assert [r.text for r in heard.replies] == [render("engine_heard", text="想吃饺子"),
                                               render("engine_heard_confirm")]
    assert heard.events == [] and heard.state[HEARD] == {"q": qid, "text": "想吃饺子"}
    # typed, or the 确认 button shown with the transcript (it names this visit and ask)
    [(button, _label)] = heard.replies[-1].choices
    assert button.startswith("c:confirm:")
    for confirm in (Inbound(text="确认"), Inbound(choice=button)):
        done = step(heard.state, confirm, cl, ctx(), NOW)
        assert done.state["answers"][qid] == "想吃饺子" and HEARD not in done.state
    typed = step(heard.state, Inbound(text="没有"), cl, ctx(), NOW)
    assert typed.state["answers"][qid] == "没有"  # typed text wins, the transcript is gone
    skipped = step(heard.state, Inbound(text="跳过"), cl, ctx(), NOW)
    assert qid not in skipped.state["answers"] and HEARD not in skipped.state


def test_ask_again_changes_nothing() -> None:
    state, cl, qid = at_text_question()
    [again] = ask_again(state, cl, ctx())
    assert again.key == qid
    assert ask_again({**state, "status": "paused"}, cl, ctx())[0].text == render(
        "engine_is_paused")
    assert ask_again({**state, "status": "filed"}, cl, ctx()) == []
