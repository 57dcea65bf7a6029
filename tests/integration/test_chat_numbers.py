"""Numbers in chat commands, through the core on both stores: a digit of another script
or an id too long for the database gets a reply, never an exception or silence."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.chat.service import Core
from bot.settings import Settings
from conversations.messages import Address, Incoming
from store.models import Conversation, OutboxMessage
from store.reports.queries import find_jurisdiction
from tests.integration.chat_support import Chat
from tests.unit.test_numbers import UNICODE_DIGITS
from tests.world import build_world

# a sample of every kind: the first few, some from the middle and the end of the table
SAMPLE = sorted(set(UNICODE_DIGITS[:5] + UNICODE_DIGITS[100:103] + UNICODE_DIGITS[-5:]
                    + ["⑴", "⒈", "٣"]))
HUGE = "9" * 40


@pytest.fixture
def chat(sessions: sessionmaker[Session]) -> Chat:
    build_world(sessions)
    c = Chat(sessions, None)  # type: ignore[arg-type]
    c.core = Core(sessions, Settings(database_url="sqlite://"), clock=lambda: c.now[0])
    return c


def test_visitor_and_officer_numbers(chat: Chat, sessions: sessionmaker[Session]) -> None:
    w_visitor, w_officer = 1, None
    with sessions() as s:
        from store.models import Role

        w_visitor = s.scalar(select(Role.person_id).where(Role.role == "visitor"))
        w_officer = s.scalar(select(Role.person_id).where(Role.role == "officer"))
    for text in [*SAMPLE, HUGE, f"记录 {HUGE}", "记录 0", "记录 ²٣"]:
        assert chat.say(w_visitor, text), text
    for data in [f"start:{c}" for c in SAMPLE] + [f"start:{HUGE}"]:
        assert chat.say(w_visitor, choice=data), data
    for text in [f"处理 {HUGE} 已送医", f"备注 {HUGE} 好", f"联系人 {HUGE}", "处理 ٣ 好"]:
        out = chat.say(w_officer, text)
        assert out and "个案" in out[0].text, text
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Conversation)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) > 0


def test_jurisdiction_ids_only_in_ascii(chat: Chat, sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        for c in SAMPLE:
            with pytest.raises(LookupError):
                find_jurisdiction(s, c)
        with pytest.raises(LookupError):
            find_jurisdiction(s, HUGE)


def test_an_unbound_sender_typing_digits_is_answered(chat: Chat) -> None:
    for c in SAMPLE[:3]:
        chat.core.handle(Incoming(Address("console", "stranger"), f"x{c}", text=c))
    assert chat.outbox_to("stranger")
