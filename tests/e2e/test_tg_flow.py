"""End to end over Telegram: real HTTP both ways, python-telegram-bot against a fake Bot API.

A visitor binds with /start CODE, gets the reminder with a start button, answers the
whole checklist by pressing buttons (and typing where there are none), and the record is
filed; the gas-safety risk reaches the township officer on Telegram, who acknowledges it
with the alert's button. Once by webhook, once by long polling. Then the bad input.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.binding import create_invite
from bot.channels.telegram import TelegramChannel, run_polling, webhook_routes
from bot.service import Core
from bot.settings import Settings
from bot.web import build_app
from scheduler.dispatch import drain
from scheduler.tick import tick
from store.db import make_engine, session_factory
from store.models import (
    Account,
    Assignment,
    Case,
    FamilyLink,
    InboundSeen,
    Role,
    Subject,
    Visit,
)
from store.roster_import import import_roster
from store.samples import SAMPLE_ROSTER, SAMPLE_STAFF
from tests.fakes.tg_api import TOKEN, FakeTelegram
from tests.fakes.wechat_server import ServerThread

SECRET = "webhook-secret-1"
VISITOR_CHAT, OFFICER_CHAT, CHILD_CHAT = 7001, 7002, 7003


@dataclass
class World:
    sessions: sessionmaker[Session]
    fake: FakeTelegram
    settings: Settings
    core: Core
    url: str
    now: list[datetime]
    polling: bool = False

    def post(self, update: dict[str, Any], secret: str = SECRET, raw: bytes | None = None
             ) -> httpx.Response:
        return httpx.post(f"{self.url}/telegram", content=raw, json=None if raw else update,
                          headers={"X-Telegram-Bot-Api-Secret-Token": secret}, timeout=30)

    def send(self, update: dict[str, Any]) -> dict[str, Any] | None:
        """Deliver an update as Telegram would in this world's mode; the inline reply."""
        if not self.polling:
            r = self.post(update)
            assert r.status_code == 200, r.status_code
            return r.json() if r.content else None
        self.fake.push(update)
        key = f"tg:{update['update_id']}"
        for _ in range(400):  # until the poller has handled it
            with self.sessions() as s:
                if s.scalar(select(func.count()).select_from(InboundSeen)
                            .where(InboundSeen.message_key == key)):
                    return None
            threading.Event().wait(0.025)
        raise AssertionError(f"update {key} was not handled")

    def deliver(self) -> int:
        # Real time, not the core's clock: per-chat rate limiting defers by the wall clock.
        return drain(self.sessions, {"telegram": TelegramChannel(self.settings)},
                     max(self.now[0], datetime.now(UTC)) + timedelta(seconds=5))


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    fake = FakeTelegram().start()
    settings = Settings(database_url=db_url, telegram_token=TOKEN,
                        telegram_base_url=fake.base_url,
                        telegram_base_file_url=fake.base_url.replace("/bot", "/file/bot"),
                        telegram_webhook_secret=SECRET)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    now = [datetime.now(UTC).replace(microsecond=0)]
    core = Core(sessions, settings, clock=lambda: now[0])
    server = ServerThread(build_app(core, settings, [webhook_routes(core, settings)])).start()
    try:
        yield World(sessions, fake, settings, core, server.url, now)
    finally:
        server.stop()
        fake.stop()
        engine.dispose()


def cast(w: World) -> tuple[int, int, int, int]:
    """(visitor, subject, township officer, child) from the sample roster."""
    import_roster(w.sessions, SAMPLE_ROSTER, policy_default="linzi-2022")
    import_roster(w.sessions, SAMPLE_STAFF, policy_default="linzi-2022")
    with w.sessions() as s:
        subject, visitor_id = s.execute(
            select(Subject, Assignment.visitor_id)
            .join(Assignment, Assignment.subject_id == Subject.person_id)
            .join(FamilyLink, FamilyLink.subject_id == Subject.person_id)
            .where(Subject.family_notify_consent.is_(True))
            .order_by(Subject.person_id).limit(1)).one()
        child_id = s.scalar(select(FamilyLink.person_id).where(
            FamilyLink.subject_id == subject.person_id).limit(1))
        village = subject.person.jurisdiction
        officer_id = s.scalar(select(Role.person_id).where(
            Role.role == "officer", Role.jurisdiction_id == village.parent_id).limit(1))
        return visitor_id, subject.person_id, officer_id, child_id


def invite(w: World, person_id: int) -> str:
    with w.sessions() as s:
        code = create_invite(s, person_id, w.now[0], 72)
        s.commit()
        return code


def last_sent(w: World, chat: int) -> dict[str, Any]:
    return w.fake.sent(chat_id=chat)[-1].params


def buttons(params: dict[str, Any]) -> list[tuple[str, str]]:
    rows = (params.get("reply_markup") or {}).get("inline_keyboard") or []
    return [(b["text"], b["callback_data"]) for row in rows for b in row]


def answer(w: World, chat: int, params: dict[str, Any]) -> dict[str, Any] | None:
    """Answer the bot's question like a visitor: the worst option for gas safety."""
    keys = buttons(params)
    text = params.get("text", "")
    mid = params.get("message_id", 1)
    values = [d for _l, d in keys]
    if "c:confirm" in values:
        data = "c:confirm"
    elif any(label.startswith("✓") for label, _d in keys):  # multi: ticked, now done
        data = next(d for d in values if d.endswith(":done"))
    elif "燃气安全" in text:
        data = [d for d in values if d.startswith("a:")][-1]
    elif values:
        data = values[0]
    else:
        return w.send(w.fake.text_update(chat, "无"))
    return w.send(w.fake.button_update(chat, data, mid))


def play_visit(w: World) -> int:
    """From the reminder's start button to a filed record; returns the visit id."""
    reminder = last_sent(w, VISITOR_CHAT)
    start = [d for _l, d in buttons(reminder) if d.startswith("start:")]
    assert start, reminder
    inline = w.send(w.fake.button_update(VISITOR_CHAT, start[0], 1))
    visit_id = int(start[0].split(":")[1])
    for _ in range(80):
        with w.sessions() as s:
            if s.get(Visit, visit_id).status == "filed":  # type: ignore[union-attr]
                return visit_id
        if inline is not None:
            assert inline["method"] == "sendMessage" and inline["chat_id"] == VISITOR_CHAT
        before = len(w.fake.sent(chat_id=VISITOR_CHAT))
        w.deliver()
        # the newest question: the dispatcher's, if it sent one, else the inline reply
        newer = len(w.fake.sent(chat_id=VISITOR_CHAT)) > before
        inline = answer(w, VISITOR_CHAT, last_sent(w, VISITOR_CHAT) if newer or not inline
                        else inline)
    raise AssertionError("the record was not filed")


def whole_visit(w: World) -> None:
    visitor_id, subject_id, officer_id, child_id = cast(w)
    # binding: /start CODE from each person's own chat
    for chat, pid in ((VISITOR_CHAT, visitor_id), (OFFICER_CHAT, officer_id),
                      (CHILD_CHAT, child_id)):
        inline = w.send(w.fake.text_update(chat, f"/start {invite(w, pid)}"))
        w.deliver()
        said = inline["text"] if inline else last_sent(w, chat)["text"]
        assert "绑定成功" in said
    with w.sessions() as s:
        bound = {a.external_id: a.person_id for a in s.scalars(
            select(Account).where(Account.platform == "telegram"))}
    assert bound == {str(VISITOR_CHAT): visitor_id, str(OFFICER_CHAT): officer_id,
                     str(CHILD_CHAT): child_id}

    # the tick writes the reminder; the dispatcher sends it with a start button
    tick(w.sessions, w.now[0])
    w.deliver()
    visit_id = play_visit(w)
    presses = [c for c in w.fake.calls if c.method == "answerCallbackQuery"]
    assert presses and w.fake.sent("editMessageReplyMarkup")  # old keyboards removed

    # the officer's alert, acknowledged with its button
    w.deliver()
    with w.sessions() as s:
        case = s.scalars(select(Case).where(Case.subject_id == subject_id,
                                            Case.kind == "gas")).one()
    alert = [c.params for c in w.fake.sent(chat_id=OFFICER_CHAT) if "燃气" in c.params["text"]]
    assert len(alert) == 1
    ack = [d for _l, d in buttons(alert[0]) if d == f"ack:{case.id}"]
    assert ack
    w.send(w.fake.button_update(OFFICER_CHAT, ack[0], 99))
    with w.sessions() as s:
        assert s.get(Case, case.id).status == "acked"  # type: ignore[union-attr]
        assert s.get(Visit, visit_id).status == "filed"  # type: ignore[union-attr]
    # the child heard of the visit
    w.deliver()
    assert any("探访" in c.params["text"] for c in w.fake.sent(chat_id=CHILD_CHAT))


def test_visit_by_webhook(world: World) -> None:
    whole_visit(world)


def test_visit_by_polling(world: World) -> None:
    w = world
    w.polling = True
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    poller = threading.Thread(target=loop.run_until_complete, args=(
        run_polling(w.core, w.settings.model_copy(update={"telegram_mode": "polling"}), stop,
                    timeout=1),))
    poller.start()
    try:
        whole_visit(w)
        assert {"deleteWebhook", "setMyCommands"} <= {c.method for c in w.fake.calls}
        # the same update fetched twice (its offset not yet confirmed) is processed once
        dup = w.fake.text_update(VISITOR_CHAT, "/visits")
        w.fake.push(dup)
        w.send(dup)
        with w.sessions() as s:
            assert s.scalar(select(func.count()).select_from(InboundSeen).where(
                InboundSeen.message_key == f"tg:{dup['update_id']}")) == 1
    finally:
        loop.call_soon_threadsafe(stop.set)
        poller.join(timeout=30)
    assert not poller.is_alive()


def test_bad_input_changes_nothing(world: World) -> None:
    w = world
    visitor_id, *_ = cast(w)
    code = invite(w, visitor_id)

    def accounts() -> int:
        with w.sessions() as s:
            return s.scalar(select(func.count()).select_from(Account)) or 0

    before = accounts()
    good = w.fake.text_update(VISITOR_CHAT, f"/start {code}")
    assert w.post(good, secret="wrong").status_code == 403
    assert w.post({}, raw=b"{not json").status_code == 400
    assert w.post({}, raw=b'{"update_id": "x"}').status_code == 400
    assert w.post({}, raw=b"[1, 2]").status_code == 400
    # a group chat, an edited message: ignored
    assert w.post(w.fake.text_update(-100, f"/start {code}", chat_type="group")).content == b""
    edited = w.fake.text_update(VISITOR_CHAT, f"/start {code}", kind="edited_message")
    assert w.post(edited).status_code == 200
    assert accounts() == before
    # an unbound user is told politely, and only that
    r = w.post(w.fake.text_update(8888, "你好"))
    assert r.status_code == 200 and "绑定" in r.json()["text"]
    # now bind; a redelivered update is processed once
    assert w.post(good).status_code == 200
    assert w.post(good).status_code == 200
    assert accounts() == before + 1
    # a sticker gets help text; a tampered button gets a clear refusal
    assert w.post(w.fake.sticker_update(VISITOR_CHAT)).status_code == 200
    r = w.post(w.fake.button_update(VISITOR_CHAT, "start:999999", 5))
    assert r.status_code == 200
    r = w.post(w.fake.button_update(VISITOR_CHAT, "a:gas_safety:3", 5))
    assert r.status_code == 200 and r.json()["text"]
    assert len(w.fake.sent("answerCallbackQuery")) == 2  # every press is answered
    with w.sessions() as s:
        assert not s.scalars(select(Visit).where(Visit.status != "planned")).all()
