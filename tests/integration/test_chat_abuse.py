"""What one chat may cost the others (issue #19): invite guessing limited and logged,
invite codes stored hashed, a flooding chat refused before any write, and ids too long
for the database answered instead of dropped."""

from __future__ import annotations

import hashlib
import logging
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.chat.binding import create_invite
from bot.chat.ratelimit import TokenBuckets
from bot.chat.service import Core
from bot.settings import Settings
from conversations.messages import Address, Incoming
from store.models import Account, InboundSeen, Invite, OutboxMessage
from tests.integration.chat_support import Chat, plan_visit
from tests.world import T0, build_world


@pytest.fixture
def chat(sessions: sessionmaker[Session]) -> Chat:
    return Chat(sessions, Core(sessions, Settings(database_url="sqlite://"),
                               clock=lambda: T0))


def test_invite_guessing_is_limited_logged_and_codes_are_hashed(
        chat: Chat, sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture) -> None:
    w = build_world(sessions, bind_console=False)
    with sessions() as s:
        code = create_invite(s, w.visitor, T0, 72)
        s.commit()
        stored = s.scalars(select(Invite.code_hash)).one()
    assert code not in stored and stored == hashlib.sha256(code.encode()).hexdigest()
    guesser = f"attacker-{uuid.uuid4().hex}"  # the invite buckets live as long as the process
    chat.core.flood = TokenBuckets(10**6, 0)  # the invite limit alone, not the flood limit
    with caplog.at_level(logging.WARNING, logger="bot.chat.binding"):
        texts = [chat.say(guesser, f"绑定 GUESS{i:03d}")[0].text for i in range(300)]
        late = chat.say(guesser, f"绑定 {code}")[0].text  # even the right code, now
    assert sum("无效" in t for t in texts) == 5
    assert all("次数过多" in t for t in texts[5:]) and "次数过多" in late
    assert sum("wrong invite code" in r.getMessage() for r in caplog.records) == 5
    assert sum("not tried" in r.getMessage() for r in caplog.records) == 296
    assert all("GUESS" not in r.getMessage() for r in caplog.records)
    # another chat is not held back, and the code (typed in lower case) still works
    visitor_chat = f"visitor-{uuid.uuid4().hex}"
    bound = chat.say(visitor_chat, f"绑定 {code.lower()}")[0].text
    assert "无效" not in bound and "次数过多" not in bound
    with sessions() as s:
        assert s.scalar(select(Account.person_id).where(
            Account.external_id == visitor_chat)) == w.visitor


def test_a_flooding_chat_is_refused_before_any_write(chat: Chat,
                                                     sessions: sessionmaker[Session]) -> None:
    w = build_world(sessions)
    chat.core.flood = TokenBuckets(20, 2, clock=lambda: 0.0)  # no refill during the test
    answered = [chat.core.handle(Incoming(Address("console", f"p{w.visitor}"), f"f{i}",
                                          text="帮助"), inline=True) for i in range(100)]
    assert sum(h.inline is not None and "帮助" not in h.inline.text and "频繁" in h.inline.text
               for h in answered) == 1  # told once
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(InboundSeen)) == 20
    other = chat.say(w.village_officer, "帮助")  # someone else is not held back
    assert other and "频繁" not in other[0].text


def test_ids_too_long_for_the_database_get_a_reply(chat: Chat,
                                                   sessions: sessionmaker[Session]) -> None:
    w = build_world(sessions)
    plan_visit(sessions, w)
    huge = "9" * 40
    for who, text, choice in ((w.township_officer, f"处理 {huge} 已解决", None),
                              (w.township_officer, f"联系人 {huge}", None),
                              (w.township_officer, None, f"ack:{huge}"),
                              (w.visitor, None, f"start:{huge}"),
                              (w.visitor, huge, None)):
        replies = chat.say(who, text, choice)
        assert replies and replies[0].text, (text, choice)


def test_unbound_chatter_writes_nothing(chat: Chat, sessions: sessionmaker[Session]) -> None:
    build_world(sessions)
    stranger = Address("console", f"stranger-{uuid.uuid4().hex}")
    chat.core.flood = TokenBuckets(10**6, 0)  # what unbound messages write, not the rate
    inline = [chat.core.handle(Incoming(stranger, f"u{i}", text="你好"), inline=True)
              for i in range(50)]
    assert all(h.inline is not None and "尚未绑定" in h.inline.text for h in inline)
    queued = [chat.core.handle(Incoming(stranger, f"q{i}", text="待访")) for i in range(50)]
    assert sum(bool(h.replies) for h in queued) == 1  # one notice per ten minutes
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(InboundSeen)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    chat.core.handle(Incoming(stranger, "b1", text="绑定 NOTACODE"))  # this one counts
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(InboundSeen)) == 1
