"""TelegramChannel against the fake Bot API: keyboards, 429, blocked users, outages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.channel import Address, Choice, Outgoing
from bot.channels.telegram import TelegramChannel
from bot.settings import Settings
from tests.fakes.tg_api import TOKEN, FakeTelegram

TO = Address("telegram", "4242")


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    f = FakeTelegram().start()
    yield f
    f.stop()


def channel(fake: FakeTelegram) -> TelegramChannel:
    return TelegramChannel(Settings(telegram_token=TOKEN, telegram_base_url=fake.base_url))


async def test_buttons_become_an_inline_keyboard(fake: FakeTelegram) -> None:
    ch = channel(fake)
    short = Outgoing("燃气安全", choices=(Choice("a:gas:1", "好"), Choice("a:gas:2", "一般"),
                                          Choice("a:gas:3", "较差")))
    res = await ch.send(TO, short)
    assert res.ok and res.provider_id
    sent = fake.sent(chat_id=4242)[-1].params
    assert sent["text"] == "燃气安全"
    assert sent["reply_markup"]["inline_keyboard"] == [[
        {"text": "好", "callback_data": "a:gas:1"}, {"text": "一般", "callback_data": "a:gas:2"},
        {"text": "较差", "callback_data": "a:gas:3"}]]
    long = Outgoing("紧急情况", choices=(Choice("a:e:1", "照料人不履行义务或虐待"),
                                         Choice("x" * 80, "太长的按钮")))
    assert (await ch.send(TO, long)).ok
    rows = fake.sent(chat_id=4242)[-1].params["reply_markup"]["inline_keyboard"]
    assert rows == [[{"text": "照料人不履行义务或虐待", "callback_data": "a:e:1"}]]


async def test_429_gives_retry_after_403_is_permanent_500_retries(fake: FakeTelegram) -> None:
    ch = channel(fake)
    fake.fail("sendMessage", 429, retry_after=7)
    res = await ch.send(TO, Outgoing("提醒"))
    assert not res.ok and res.retry_after == 7 and not res.permanent
    fake.fail("sendMessage", 403)
    res = await ch.send(TO, Outgoing("提醒"))
    assert not res.ok and res.permanent
    fake.fail("sendMessage", 500)
    res = await ch.send(TO, Outgoing("提醒"))
    assert not res.ok and not res.permanent and res.retry_after
    assert (await ch.send(TO, Outgoing("提醒"))).ok  # the platform is back
    assert len(fake.sent(chat_id=4242)) == 4


async def test_a_report_goes_as_a_document(fake: FakeTelegram, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "月报.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    res = await channel(fake).send(TO, Outgoing("11 月月报", attachment=str(path)))
    assert res.ok
    doc = fake.sent("sendDocument", chat_id=4242)[-1].params
    assert doc["caption"] == "11 月月报" and doc["document"]["filename"]
