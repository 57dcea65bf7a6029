"""TelegramChannel against the fake Bot API, alone and under the real dispatcher."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.channels.telegram_channel import TelegramChannel
from bot.settings import Settings
from conversations.messages import Address, Choice, Outgoing, SendResult
from scheduler.dispatch import drain
from store.base import utcnow
from store.models import OutboxMessage
from store.outbox import enqueue
from tests.fakes.telegram_server import TOKEN, FakeTelegram

# PTB 22 reads its own deprecated RetryAfter.retry_after while building the exception
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
CHAT = 424242
TO = Address("telegram", str(CHAT))


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as f:
        yield f


@pytest.fixture
def channel(fake: FakeTelegram) -> TelegramChannel:
    return TelegramChannel(Settings(telegram_token=TOKEN, telegram_base_url=fake.base_url,
                                    telegram_base_file_url=fake.base_file_url))


def send(channel: TelegramChannel, message: Outgoing, to: Address = TO) -> SendResult:
    return asyncio.run(channel.send(to, message))


def test_keyboard_from_choices(channel: TelegramChannel, fake: FakeTelegram) -> None:
    out = Outgoing("是否有居家服务需求？", choices=(
        Choice("a:need:1", "是"), Choice("a:need:2", "否"),
        Choice("c:skip", "跳过这一题，以后再补"), Choice("c:pause", "暂停")))
    result = send(channel, out)
    assert result.ok and result.provider_id
    [call] = fake.sent("sendMessage")
    assert call.params["chat_id"] == str(CHAT) and call.params["text"] == out.text
    rows = call.params["reply_markup"]["inline_keyboard"]
    assert [[b["callback_data"] for b in row] for row in rows] == [
        ["a:need:1", "a:need:2"], ["c:skip"], ["c:pause"]]
    assert rows[0][0]["text"] == "是"
    stored = fake.last_message(CHAT)
    assert stored is not None and str(stored["message_id"]) == result.provider_id


def test_callback_data_over_64_bytes_is_refused(channel: TelegramChannel,
                                                fake: FakeTelegram) -> None:
    result = send(channel, Outgoing("x", choices=(Choice("a:" + "问" * 21, "太长"),)))
    assert not result.ok and result.permanent and "64" in (result.error or "")
    assert not fake.calls  # never sent half a keyboard


def test_429_gives_retry_after(channel: TelegramChannel, fake: FakeTelegram) -> None:
    fake.fail("sendMessage", 429, retry_after=17)
    result = send(channel, Outgoing("提醒"))
    assert not result.ok and result.retry_after == 17 and not result.permanent
    assert send(channel, Outgoing("提醒")).ok


def test_403_blocked_is_permanent_500_is_retried(channel: TelegramChannel,
                                                 fake: FakeTelegram) -> None:
    fake.fail("sendMessage", 500)
    busy = send(channel, Outgoing("提醒"))
    assert not busy.ok and not busy.permanent and busy.retry_after
    fake.block(CHAT)
    blocked = send(channel, Outgoing("提醒"))
    assert not blocked.ok and blocked.permanent and "blocked" in (blocked.error or "")
    bad = send(channel, Outgoing("提醒"), Address("telegram", "not-a-chat"))
    assert bad.permanent


def test_long_text_is_split_with_buttons_last(channel: TelegramChannel,
                                              fake: FakeTelegram) -> None:
    text = "\n".join(f"{i}. 某某村 张三 逾期 {i} 天" for i in range(400))
    assert len(text) > 4096
    assert send(channel, Outgoing(text, choices=(Choice("start:1", "开始"),))).ok
    calls = fake.sent("sendMessage")
    assert len(calls) == 2 and "".join(c.params["text"] for c in calls).replace(
        "\n", "") == text.replace("\n", "")
    assert "reply_markup" not in calls[0].params and calls[1].params["reply_markup"]


def test_attachment_goes_as_document(channel: TelegramChannel, fake: FakeTelegram,
                                     tmp_path: Path) -> None:
    path = tmp_path / "月报-2026-11.xlsx"
    path.write_bytes(b"PK\x03\x04fake-xlsx")
    assert send(channel, Outgoing("本月汇总已生成", attachment=str(path))).ok
    [call] = fake.sent("sendDocument")
    assert call.params["document"]["filename"] == path.name
    assert call.params["document"]["content"] == path.read_bytes()
    assert call.params["caption"] == "本月汇总已生成"
    gone = send(channel, Outgoing("x", attachment=str(tmp_path / "missing.xlsx")))
    assert gone.permanent


def test_edit_message_id_edits_in_place(channel: TelegramChannel, fake: FakeTelegram) -> None:
    first = send(channel, Outgoing("第 1 题", choices=(Choice("a:q:1", "好"),)))
    assert first.provider_id
    out = Outgoing("第 1 题（已选）", meta={"edit_message_id": int(first.provider_id)})
    assert send(channel, out).ok
    assert fake.message(CHAT, int(first.provider_id))["text"] == out.text  # type: ignore[index]
    assert "reply_markup" not in fake.message(CHAT, int(first.provider_id))  # type: ignore[operator]
    gone = Outgoing("重发", meta={"edit_message_id": 999_999})  # not editable: sent anew
    assert send(channel, gone).ok and fake.last_message(CHAT)["text"] == "重发"  # type: ignore[index]


# --- under the dispatcher, on both stores ---------------------------------------------------

def queue(sessions: sessionmaker[Session], key: str, text: str, chat: int = CHAT) -> None:
    with sessions() as s:
        enqueue(s, key=key, platform="telegram", external_id=str(chat), kind="reminder",
                payload=Outgoing(text, choices=(Choice("start:1", "开始记录"),)).to_payload())
        s.commit()


def row(sessions: sessionmaker[Session], key: str) -> OutboxMessage:
    with sessions() as s:
        found = s.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).one()
        s.expunge(found)
        return found


def test_dispatcher_honours_retry_after(sessions: sessionmaker[Session],
                                        channel: TelegramChannel, fake: FakeTelegram) -> None:
    queue(sessions, "tg-429", "该探访了")
    fake.fail("sendMessage", 429, retry_after=40)
    now = utcnow()
    assert drain(sessions, {"telegram": channel}, now) == 0
    waiting = row(sessions, "tg-429")
    assert waiting.status == "pending" and waiting.attempts == 1
    assert waiting.not_before >= now + timedelta(seconds=40)
    assert drain(sessions, {"telegram": channel}, now + timedelta(seconds=20)) == 0
    assert len(fake.sent("sendMessage", ok_only=False)) == 1  # not tried before its time
    assert drain(sessions, {"telegram": channel}, now + timedelta(seconds=45)) == 1
    assert row(sessions, "tg-429").status == "sent"
    [sent] = fake.sent("sendMessage")
    assert sent.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "start:1"


def test_dispatcher_gives_up_on_a_blocked_user(sessions: sessionmaker[Session],
                                               channel: TelegramChannel,
                                               fake: FakeTelegram) -> None:
    fake.block(CHAT)
    queue(sessions, "tg-403", "该探访了")
    queue(sessions, "tg-ok", "您好", chat=CHAT + 1)
    now = utcnow()
    assert drain(sessions, {"telegram": channel}, now) == 1
    failed = row(sessions, "tg-403")
    assert failed.status == "failed" and failed.attempts == 1 and "403" not in str(
        failed.provider_id)
    assert drain(sessions, {"telegram": channel}, now + timedelta(hours=2)) == 0
    assert row(sessions, "tg-ok").status == "sent"
