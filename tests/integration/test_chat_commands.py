"""Every word the help offers works typed and as a slash command (/待访, /取消, /cancel),
in a checklist and outside one. Real store (both), real engine; console addresses."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from conversations.text import render
from store.models import Conversation, Visit
from tests.integration.chat_support import Chat
from tests.world import World

ROLES = ("visitor", "officer", "family")
ARGS = {"处理": " 1 已上门查看", "备注": " 1 已电话联系", "联系人": " 1"}


def help_words(role: str) -> tuple[list[str], list[str]]:
    """(the role's words, the words offered while filling in a checklist), as the help
    shows them: "· 待访：…", "· 填写中可回复：上一题、跳过…"."""
    words, in_checklist = [], []
    for line in render("bot_help", roles=[role]).splitlines():
        if "可回复：" in line:
            in_checklist += line.split("可回复：", 1)[1].strip().split("、")
        elif m := re.match(r"^·\s*(\S+?)(?:\s|：)", line.strip()):
            words.append(m[1])
    return words, in_checklist


def test_the_help_offers_words_for_every_role() -> None:
    words = {r: help_words(r) for r in ROLES}
    assert {"待访", "记录"} <= set(words["visitor"][0])
    assert {"取消", "上一题", "跳过", "暂停", "继续", "帮助"} <= set(words["visitor"][1])
    assert {"个案", "逾期", "处理", "备注", "联系人"} <= set(words["officer"][0])
    assert {"近况", "停止通知"} <= set(words["family"][0])


@pytest.mark.parametrize("role", ROLES)
def test_every_word_works_as_a_slash_command(chat: tuple[Chat, World], role: str) -> None:
    c, w = chat
    who = {"visitor": w.visitor, "officer": w.township_officer, "family": w.child}[role]
    general = render("bot_help", roles=[role])
    for word in help_words(role)[0]:
        typed = [o.text for o in c.say(who, word + ARGS.get(word, ""))]
        slashed = [o.text for o in c.say(who, "/" + word + ARGS.get(word, ""))]
        assert typed == slashed, word
        assert typed and typed[0] != general, f"{word} fell through to the help"


def _conversation(c: Chat) -> tuple[str, str]:
    with c.sessions() as s:
        conv = s.scalars(select(Conversation)).one()
        return conv.status, conv.state["cur"]


@pytest.mark.parametrize("word", help_words("visitor")[1])
def test_every_checklist_word_works_as_a_slash_command(chat: tuple[Chat, World],
                                                       word: str) -> None:
    c, w = chat
    seen = []
    for said in (word, "/" + word):
        c.say(w.visitor, "待访")
        c.say(w.visitor, "1")  # the first visit: its checklist starts
        c.say(w.visitor, "1")  # the first way of visiting
        c.say(w.visitor, "今天")
        out = c.say(w.visitor, said)
        seen.append(([o.text for o in out], _conversation(c)))
        c.say(w.visitor, "取消")  # to start the same again
        assert _conversation(c)[0] == "cancelled"
    assert seen[0] == seen[1], word


@pytest.mark.parametrize("said", ["/cancel", "/取消", "取消"])
def test_cancel_cancels_the_checklist(chat: tuple[Chat, World], said: str) -> None:
    c, w = chat
    c.say(w.visitor, "待访")
    c.say(w.visitor, "1")
    c.say(w.visitor, "1")
    out = c.say(w.visitor, said)
    assert [o.text for o in out] == [render("engine_cancelled")]
    with c.sessions() as s:
        assert s.scalars(select(Conversation)).one().status == "cancelled"
        assert s.scalars(select(Visit)).one().status == "planned"
    # with nothing to cancel, the visitor is told so, not shown the help
    assert [o.text for o in c.say(w.visitor, said)] == [render("bot_no_checklist")]
