"""POST /telegram against bad and odd input, with the real core on both stores.

Each bad update gets a clear answer or is ignored, changes nothing it should not, and
the server goes on serving.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette

from bot.channels.telegram_channel import TelegramChannel
from bot.channels.telegram_webhook import webhook_routes
from bot.chat.binding import create_invite
from bot.chat.service import Core
from bot.settings import Settings
from bot.web.app import build_app
from bot.web.raw_asgi import direct
from conversations.text import render
from scheduler.dispatch import drain
from scheduler.tick import tick
from store.db import DatabaseUnavailable, make_engine, session_factory
from store.models import Account, Answer, Assignment, InboundSeen, OutboxMessage, Visit
from store.roster.importer import import_roster
from store.samples import SAMPLE_ROSTER
from tests.fakes.telegram_server import TOKEN, WEBHOOK_SECRET, FakeTelegram, ServerThread, TgUser
from tests.fakes.wechat_server import FakeCore

STRANGER, VISITOR = 80001, 80002


def settings(**kw: Any) -> Settings:
    return Settings(telegram_token=TOKEN, telegram_webhook_secret=WEBHOOK_SECRET, **kw)


@dataclass
class Bot:
    fake: FakeTelegram
    server: ServerThread
    sessions: sessionmaker[Session]
    channel: TelegramChannel
    starlette_saw: list[str]  # requests that reached the Starlette app

    def deliver(self) -> int:
        return drain(self.sessions, {"telegram": self.channel})

    @property
    def endpoint(self) -> str:
        return self.server.url + "/telegram"

    def user(self, user_id: int) -> TgUser:
        return TgUser(self.fake, user_id)

    def count(self, model: Any) -> int:
        with self.sessions() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0


def start_fake() -> FakeTelegram:
    fake = FakeTelegram().start()
    return fake


@pytest.fixture
def bot(db_url: str) -> Iterator[Bot]:
    fake = start_fake()
    s = settings(database_url=db_url, telegram_base_url=fake.base_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    core = Core(sessions, s, clock=lambda: datetime.now(UTC))
    # served as `visitbot run` serves it: the webhook's POSTs straight to the endpoint
    routes = [webhook_routes(core, s)]
    app = build_app(core, s, routes)
    seen: list[str] = []

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(f"{scope['method']} {scope['path']}")
        await app(scope, receive, send)

    server = ServerThread(direct(counted, routes)).start()
    fake.webhook = {"url": server.url + "/telegram", "secret_token": WEBHOOK_SECRET}
    try:
        yield Bot(fake, server, sessions, TelegramChannel(s), seen)
    finally:
        server.stop()
        fake.stop()
        engine.dispose()


def reply_text(user: TgUser) -> str:
    """The text of the sendMessage the bot put in its webhook answer."""
    assert user.last is not None and user.last.status_code == 200
    body = user.last.json()
    assert body["method"] in ("sendMessage", "editMessageText"), body
    return str(body["text"])


def bind_visitor(b: Bot) -> tuple[TgUser, int]:
    import_roster(b.sessions, SAMPLE_ROSTER, policy_default="linzi-2022")
    tick(b.sessions, datetime.now(UTC))  # plans the visits
    with b.sessions() as s:
        visitor_id, visit_id = s.execute(
            select(Assignment.visitor_id, Visit.id)
            .join(Visit, Visit.subject_id == Assignment.subject_id)
            .order_by(Visit.id).limit(1)).one()
        code = create_invite(s, visitor_id, datetime.now(UTC), 72)
        s.commit()
    visitor = b.user(VISITOR)
    visitor.text(f"/start {code}")
    assert "绑定" in reply_text(visitor)
    return visitor, visit_id


def test_wrong_or_missing_secret_is_403(bot: Bot) -> None:
    stranger = bot.user(STRANGER)
    update = stranger.update(message={"message_id": 1, "date": 0, "text": "/help",
                                      "chat": {"id": STRANGER, "type": "private"}})
    for secret in ("wrong-secret", ""):
        stranger.send(update, secret=secret)
        assert stranger.last is not None and stranger.last.status_code == 403
    raw = httpx.post(bot.endpoint, json=update)  # no header at all
    assert raw.status_code == 403
    assert bot.count(InboundSeen) == 0 and bot.count(OutboxMessage) == 0


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'"text"', b'{"update_id": "7"}',
                                  b'{"message": {}}', b'{"update_id": 7, "message": {"x": 1}}',
                                  "{\"update_id\": 1, \"message\": \xff}".encode("latin-1")])
def test_malformed_update_is_400(bot: Bot, body: bytes) -> None:
    resp = httpx.post(bot.endpoint, content=body, headers={
        "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, "Content-Type": "application/json"})
    assert resp.status_code == 400
    assert bot.count(InboundSeen) == 0
    stranger = bot.user(STRANGER)  # and the server serves the next update as usual
    stranger.text("/help")
    assert reply_text(stranger) == render("bot_unknown_user")


def test_oversized_body_is_413(bot: Bot) -> None:
    resp = httpx.post(bot.endpoint, content=b"{" + b" " * 300_000 + b"}",
                      headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET})
    assert resp.status_code == 413


def test_unbound_user_gets_an_explanation_and_nothing_else(bot: Bot) -> None:
    stranger = bot.user(STRANGER)
    for text in ("/visits", "你好", "/start NOTACODE", "/cases"):
        stranger.text(text)
        assert reply_text(stranger) in (render("bot_unknown_user"), render("bot_invite_invalid"))
    forged = stranger.press_update({"message_id": 5, "date": 0, "text": "x", "chat": {
        "id": STRANGER, "type": "private"}}, "ack:1")
    stranger.send(forged)
    assert reply_text(stranger) == render("bot_unknown_user")
    bot.fake.wait_for(lambda: bot.fake.answered(forged["callback_query"]["id"]))
    assert bot.count(Account) == 0


def test_tampered_and_stale_buttons_are_refused(bot: Bot) -> None:
    visitor, visit_id = bind_visitor(bot)
    chat = {"id": VISITOR, "type": "private"}
    bare = {"message_id": 999_999, "date": 0, "text": "旧消息", "chat": chat}
    # not an officer: an alert button means nothing from them
    visitor.press(bare, "ack:1")
    assert reply_text(visitor) == render("bot_case_not_found", case_id="1")
    visitor.press(bare, "start:987654")
    assert reply_text(visitor) == render("bot_not_your_visit")
    visitor.press(bare, "a:gas_safety:1")  # no checklist open
    assert reply_text(visitor) == render("bot_stale_button")

    # a real checklist: answer the first question, then press its button again
    visitor.press(bare, f"start:{visit_id}")
    bot.deliver()
    question = bot.fake.last_message(VISITOR)
    assert question is not None and question.get("reply_markup"), question
    first = question["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    visitor.press(question, first)
    # the pressed message became the next question, what was chosen on its first line
    assert visitor.last is not None and visitor.last.json()["method"] == "editMessageText"
    edited = bot.fake.message(VISITOR, question["message_id"])
    assert edited is not None and edited["text"].startswith("✅ 上一题 探访方式："), edited
    assert edited.get("reply_markup") and edited["reply_markup"] != question["reply_markup"]
    with bot.sessions() as s:
        answers = s.scalar(select(func.count()).select_from(Answer)
                           .where(Answer.visit_id == visit_id))
    visitor.press(question, first)  # an old copy of the keyboard, pressed again
    assert reply_text(visitor) == render("engine_stale_button")
    # refused: its message's keyboard is taken away (nothing shown as chosen) and the
    # question asked now comes again, with live buttons, as a new message
    retired = bot.fake.message(VISITOR, question["message_id"])
    assert retired is not None and "reply_markup" not in retired and "已选" not in retired["text"]
    bot.deliver()
    again = bot.fake.last_message(VISITOR)
    assert again is not None and again["message_id"] != question["message_id"]
    assert again.get("reply_markup") == edited["reply_markup"]
    visitor.press(question, "a:" + "x" * 70)  # longer than Telegram allows: not handled
    assert visitor.last is not None and visitor.last.content == b""
    with bot.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Answer)
                        .where(Answer.visit_id == visit_id)) == answers
        assert s.get(Visit, visit_id).status == "in_progress"  # type: ignore[union-attr]
    # every one of those presses was answered all the same (without the reply waiting)
    bot.fake.wait_for(lambda: len(bot.fake.sent("answerCallbackQuery")) >= 7,
                      what="every press acknowledged")
    queries = [c.params["callback_query_id"] for c in bot.fake.sent("answerCallbackQuery")]
    assert len(queries) == len(set(queries)) == 7


def test_edited_messages_group_chatter_and_stickers(bot: Bot) -> None:
    visitor, _ = bind_visitor(bot)
    visitor.edit("待访")  # an edit is answered, never acted on
    assert reply_text(visitor) == render("inbound_edit", in_checklist=False)
    seen = bot.count(InboundSeen)
    visitor.in_group("/visits")
    assert visitor.last is not None and visitor.last.content == b""
    group_button = visitor.press_update({"message_id": 3, "date": 0, "text": "x", "chat": {
        "id": -100123, "type": "supergroup", "title": "村务群"}}, "ack:1")
    visitor.send(group_button)
    assert visitor.last is not None and visitor.last.content == b""
    bot.fake.wait_for(lambda: bot.fake.answered(group_button["callback_query"]["id"]))
    assert bot.count(InboundSeen) == seen  # none of them reached the core
    outbox = bot.count(OutboxMessage)
    visitor.sticker()  # a hint, through the outbox like every other reply
    assert reply_text(visitor) == render("inbound_unsupported", kind="other", where="",
                                         in_checklist=False)
    assert bot.count(OutboxMessage) == outbox + 1


def test_redelivered_update_is_processed_once(bot: Bot) -> None:
    visitor, _ = bind_visitor(bot)
    update = visitor.update(message={"message_id": 77, "date": 0, "text": "/visits",
                                     "chat": {"id": VISITOR, "type": "private"},
                                     "from": {"id": VISITOR, "is_bot": False,
                                              "first_name": "x"}})
    visitor.send(update)
    assert "1." in reply_text(visitor)
    outbox = bot.count(OutboxMessage)
    first = reply_text(visitor)
    visitor.send(json.loads(json.dumps(update)))  # Telegram did not see our answer
    assert reply_text(visitor) == first  # so the retry gets it again, processed once
    assert bot.count(OutboxMessage) == outbox
    with bot.sessions() as s:
        assert s.scalar(select(func.count()).select_from(InboundSeen).where(
            InboundSeen.message_key == f"tg:7000001:{update['update_id']}")) == 1


def test_database_down_is_503_so_telegram_retries() -> None:
    fake = start_fake()
    core = FakeCore(error=DatabaseUnavailable("connection refused"))
    s = settings(telegram_base_url=fake.base_url)
    server = ServerThread(Starlette(routes=webhook_routes(core, s))).start()
    fake.webhook = {"url": server.url + "/telegram", "secret_token": WEBHOOK_SECRET}
    try:
        user = TgUser(fake, STRANGER)
        user.text("你好")
        assert user.last is not None and user.last.status_code == 503
        press = user.press_update({"message_id": 1, "date": 0, "text": "x",
                                   "chat": {"id": STRANGER, "type": "private"}}, "a:q:1")
        user.send(press)
        assert user.last is not None and user.last.status_code == 503
        # the spinner stops anyway
        fake.wait_for(lambda: fake.answered(press["callback_query"]["id"]))
        core.error = RuntimeError("a bug")  # not the database: 200, or Telegram loops
        user.text("你好")
        assert user.last is not None and user.last.status_code == 200
    finally:
        server.stop()
        fake.stop()


def test_webhook_needs_a_secret_and_none_in_polling_mode() -> None:
    core = FakeCore()
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        webhook_routes(core, Settings(telegram_token=TOKEN))
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        webhook_routes(core, settings().model_copy(update={
            "telegram_webhook_secret": "spaces are not allowed"}))
    assert webhook_routes(core, settings(telegram_mode="polling")) == []


def test_a_failed_acknowledgement_is_logged_and_the_reply_still_given(
        bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    visitor, visit_id = bind_visitor(bot)
    chat = {"id": VISITOR, "type": "private"}
    bare = {"message_id": 999_999, "date": 0, "text": "旧消息", "chat": chat}
    bot.fake.fail("answerCallbackQuery", 500)
    with caplog.at_level(logging.WARNING, logger="bot.channels.telegram_api"):
        visitor.press(bare, f"start:{visit_id}")
        assert visitor.last is not None and visitor.last.status_code == 200
        assert visitor.last.json()["method"] == "sendMessage"  # the introduction
        bot.fake.wait_for(lambda: any("answerCallbackQuery" in r.getMessage()
                                      for r in caplog.records), what="the warning")
    failed = bot.fake.sent("answerCallbackQuery", ok_only=False)
    assert len(failed) == 1 and not failed[0].ok
    assert all(r.levelno == logging.WARNING for r in caplog.records
               if "answerCallbackQuery" in r.getMessage())


def test_the_webhooks_posts_go_past_starlette_and_the_rest_through_it(bot: Bot) -> None:
    """`visitbot run` hands POST /telegram to the endpoint itself; every other request
    (the same path's other methods, health, the rest) still goes through the app."""
    visitor, _ = bind_visitor(bot)
    visitor.text("/visits")
    assert reply_text(visitor)  # answered in the response, by the endpoint itself
    wrong = httpx.post(bot.endpoint, json={"update_id": 1},
                       headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"})
    assert wrong.status_code == 403
    assert httpx.get(bot.endpoint).status_code == 405
    assert httpx.get(bot.server.url + "/healthz").status_code == 200
    assert bot.starlette_saw == ["GET /telegram", "GET /healthz"]
