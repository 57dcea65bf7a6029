"""run_polling against the fake Bot API: offsets, outages, ignored and repeated updates."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.channels.telegram_polling import run_polling
from bot.settings import Settings
from conversations.messages import Incoming, Kind
from store.cursors import read_cursor
from store.db import DatabaseUnavailable
from tests.fakes.telegram_server import TOKEN, FakeTelegram, TgUser

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
USER = 60001


@dataclass
class Handled:
    inline: Any = None
    duplicate: bool = False


@dataclass
class StubCore:
    """Records what it is given; fails with DatabaseUnavailable `down` times first."""

    down: int = 0
    sessions: Any = None  # where the poller keeps its offset (none: not kept)
    calls: list[Incoming] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, incoming: Incoming, *, inline: bool = False) -> Handled:
        assert not inline  # polling replies go through the outbox
        with self.lock:
            if self.down:
                self.down -= 1
                raise DatabaseUnavailable("connection refused")
            self.calls.append(incoming)
            if incoming.msg_id in self.seen:
                return Handled(duplicate=True)
            self.seen.add(incoming.msg_id)
            return Handled()


class Poller:
    def __init__(self, core: StubCore, fake: FakeTelegram) -> None:
        settings = Settings(telegram_token=TOKEN, telegram_base_url=fake.base_url,
                            telegram_mode="polling")
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(
            run_polling(core, settings, self.stop, poll_timeout=1, error_pause=0.02,
                        db_pause=0.02)), daemon=True)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(timeout=15)
        assert not self.thread.is_alive()
        self.loop.close()


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as f:
        yield f


def start(core: StubCore, fake: FakeTelegram) -> Poller:
    poller = Poller(core, fake)
    poller.thread.start()
    return poller


def test_start_removes_the_webhook_and_sets_commands(fake: FakeTelegram) -> None:
    fake.webhook = {"url": "https://old.example/telegram", "secret_token": "s"}
    fake.fail("deleteWebhook", 500)  # Telegram hiccups: retried, not fatal
    poller = start(StubCore(), fake)
    try:
        fake.wait_for(lambda: fake.sent("getUpdates"), what="polling")
        assert fake.webhook is None
        names = [c["command"] for c in fake.commands]
        assert names[:3] == ["visits", "overdue", "cases"]
        assert all(c["description"] for c in fake.commands)
    finally:
        poller.close()


def test_outage_holds_the_offset_and_each_update_runs_once(fake: FakeTelegram) -> None:
    user = TgUser(fake, USER)
    first = user.text("待访")
    again = user.text("/overdue@visitbot_test_bot")
    user.send({"update_id": again, "message": fake.messages(USER, from_bot=False)[-1]})
    core = StubCore(down=2)
    poller = start(core, fake)  # the database is down for the first two tries
    try:
        fake.wait_consumed(again)
        assert [i.text for i in core.calls] == ["待访", "/overdue", "/overdue"]
        assert core.calls[0].msg_id == f"tg:7000001:{first}"
        assert core.calls[1].msg_id == core.calls[2].msg_id == f"tg:7000001:{again}"
        assert len(core.seen) == 2  # the repeat was a duplicate to the core
        offsets = [int(c.params.get("offset") or 0) for c in fake.sent("getUpdates")]
        assert offsets[:3] == [0, 0, 0]  # not confirmed while it failed
    finally:
        poller.close()


def test_getupdates_errors_do_not_stop_polling(fake: FakeTelegram) -> None:
    fake.fail("getUpdates", 500)
    fake.fail("getUpdates", 429, retry_after=0)
    core = StubCore()
    poller = start(core, fake)
    try:
        update_id = TgUser(fake, USER).text("你好")
        fake.wait_consumed(update_id)
        assert [i.text for i in core.calls] == ["你好"]
        assert len(fake.sent("getUpdates", ok_only=False)) > len(fake.sent("getUpdates"))
    finally:
        poller.close()


def test_ignored_and_unsupported_updates(fake: FakeTelegram) -> None:
    core = StubCore()
    poller = start(core, fake)
    user = TgUser(fake, USER)
    try:
        user.edit("改过的话")
        user.in_group("大家好")
        button = user.press_update({"message_id": 1, "date": 0, "text": "x", "chat": {
            "id": -1009, "type": "group", "title": "群"}}, "ack:1")
        user.send(button)
        user.sticker()
        photo = user.photo(caption="说明文字")
        last = user.location(36.81, 118.3)
        fake.wait_consumed(last)
        # group chatter stays out; edits and stickers reach the core, which answers them
        kinds = [i.kind for i in core.calls]
        assert kinds == [Kind.EDIT, Kind.OTHER, Kind.IMAGE, Kind.LOCATION]
        assert core.calls[0].text == "改过的话（改）"
        photo_in, location_in = core.calls[2:]
        assert photo_in.media and photo_in.media.ref.startswith("photo-")
        assert photo_in.text is None and photo_in.msg_id == f"tg:7000001:{photo}"
        assert location_in.media and location_in.media.latitude == 36.81
        assert fake.answered(button["callback_query"]["id"])
        assert fake.sent("sendMessage") == []  # replies are the dispatcher's to send
    finally:
        poller.close()


def test_the_offset_is_kept_across_a_restart(fake: FakeTelegram,
                                             sessions: sessionmaker[Session]) -> None:
    user = TgUser(fake, USER)
    core = StubCore(sessions=sessions)
    poller = start(core, fake)
    try:
        first = user.text("待访")
        fake.wait_for(lambda: read_cursor(sessions, "telegram:7000001:offset") == first + 1,
                      what="the offset to be kept")
        sent = next(u for u in fake.calls if u.method == "getUpdates" and u.result)
        [update] = sent.result
    finally:
        poller.close()
    # Telegram would send an update again until a getUpdates asks for the ones after it
    fake._queue.append(update)
    again = StubCore(sessions=sessions)
    poller = start(again, fake)
    try:  # the restarted poller asks for what comes after it: the old one is not redone
        second = user.text("近况")
        fake.wait_for(lambda: again.calls, what="the new update")
        assert [i.msg_id for i in again.calls] == [f"tg:7000001:{second}"]
    finally:
        poller.close()
