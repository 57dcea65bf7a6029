"""WeChatChannel and WeComChannel against the fake platform, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.channels.wechat import WeChatChannel
from bot.channels.wechat_channel import reserve_free_slot
from bot.channels.wechat_tokens import TokenStore
from bot.channels.wecom import WeComChannel
from bot.settings import Settings
from conversations.messages import Address, Choice, Outgoing
from store.models import Account, ChannelToken, Person
from tests.fakes.wechat_server import (
    AGENT_ID,
    APP_ID,
    APP_SECRET,
    CORP_ID,
    CORP_SECRET,
    FakePlatform,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TEMPLATES = {"reminder": "TPL-REMIND", "alert": "TPL-ALERT", "default": "TPL-DEFAULT"}


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform() as f:
        yield f


def make_settings(fake: FakePlatform, **kw: Any) -> Settings:
    values: dict[str, Any] = {
        "wechat_app_id": APP_ID, "wechat_app_secret": APP_SECRET,
        "wechat_api_base": fake.wechat_api_base, "wechat_templates": TEMPLATES,
        "wecom_corp_id": CORP_ID, "wecom_secret": CORP_SECRET, "wecom_agent_id": AGENT_ID,
        "wecom_api_base": fake.wecom_api_base}
    return Settings(**{**values, **kw})


def bind(sessions: sessionmaker[Session], openid: str, last_inbound: datetime | None,
         free_sent: int = 0) -> None:
    with sessions() as s:
        p = Person(name="王芳")
        s.add(p)
        s.flush()
        s.add(Account(person_id=p.id, platform="wechat", external_id=openid,
                      last_inbound_at=last_inbound, free_sent=free_sent, bound_at=NOW))
        s.commit()


def free_sent(sessions: sessionmaker[Session], openid: str) -> int:
    with sessions() as s:
        return int(s.scalar(select(Account.free_sent).where(Account.external_id == openid)))


def send(channel: Any, openid: str, out: Outgoing) -> Any:
    return asyncio.run(channel.send(Address(channel.name, openid), out))


def test_inside_window_sends_customer_messages(fake: FakePlatform,
                                               sessions: sessionmaker[Session]) -> None:
    bind(sessions, "o1", NOW - timedelta(hours=47))
    ch = WeChatChannel(make_settings(fake), sessions, clock=lambda: NOW)
    assert send(ch, "o1", Outgoing("你好")).ok
    q = Outgoing("今天是上门探访吗？", choices=(Choice("m:in", "上门"), Choice("m:ph", "电话")))
    assert send(ch, "o1", q).ok
    [text, menu] = fake.sent("message/custom/send")
    assert text.body == {"touser": "o1", "msgtype": "text", "text": {"content": "你好"}}
    assert menu.body["msgtype"] == "msgmenu"
    assert menu.body["msgmenu"]["list"] == [{"id": "m:in", "content": "上门"},
                                            {"id": "m:ph", "content": "电话"}]
    assert free_sent(sessions, "o1") == 2
    no_menu = WeChatChannel(make_settings(fake), sessions, clock=lambda: NOW, msgmenu=False)
    assert send(no_menu, "o1", q).ok
    assert fake.sent("message/custom/send")[-1].body["text"]["content"].endswith("2. 电话")
    assert fake.sent("message/template/send") == []


def test_outside_window_sends_template(fake: FakePlatform,
                                       sessions: sessionmaker[Session]) -> None:
    bind(sessions, "o2", NOW - timedelta(hours=49))
    ch = WeChatChannel(make_settings(fake), sessions, clock=lambda: NOW)
    out = Outgoing("探访提醒：3 月 5 日前探访李大爷\n地址：东村 3 组", template="reminder",
                   fields={"keyword1": "李大爷", "keyword2": "2026-03-05"},
                   meta={"outbox_key": "reminder:1:2", "url": "https://bot.example.cn/v/1"})
    result = send(ch, "o2", out)
    assert result.ok and result.provider_id
    assert fake.sent("message/custom/send", ok_only=False) == []
    [call] = fake.sent("message/template/send")
    assert call.body["template_id"] == "TPL-REMIND" and call.body["touser"] == "o2"
    assert call.body["data"]["keyword1"] == {"value": "李大爷"}
    assert call.body["data"]["first"]["value"] == "探访提醒：3 月 5 日前探访李大爷"
    assert call.body["url"] == "https://bot.example.cn/v/1"
    assert len(call.body["client_msg_id"]) == 32


def test_budget_spent_and_45015_fall_back_to_template(fake: FakePlatform,
                                                      sessions: sessionmaker[Session]) -> None:
    bind(sessions, "o3", NOW - timedelta(hours=1), free_sent=20)
    bind(sessions, "o4", NOW - timedelta(hours=1))
    ch = WeChatChannel(make_settings(fake), sessions, clock=lambda: NOW)
    assert send(ch, "o3", Outgoing("x", template="alert")).ok
    assert fake.sent("message/template/send")[-1].body["template_id"] == "TPL-ALERT"
    for code in (45015, 45047):
        fake.fail("message/custom/send", code)
        assert send(ch, "o4", Outgoing("y")).ok
        assert fake.sent("message/template/send")[-1].body["template_id"] == "TPL-DEFAULT"
        assert free_sent(sessions, "o4") == 20  # window closed until they write again
        with sessions() as s:
            acc = s.scalars(select(Account).where(Account.external_id == "o4")).one()
            acc.free_sent = 0
            s.commit()


def test_unbound_user_tries_custom_then_template(fake: FakePlatform,
                                                 sessions: sessionmaker[Session]) -> None:
    fake.enforce_window = True
    ch = WeChatChannel(make_settings(fake), sessions, clock=lambda: NOW)
    fake.user_wrote("o-new")
    assert send(ch, "o-new", Outgoing("请先绑定")).ok
    assert len(fake.sent("message/custom/send")) == 1
    assert send(ch, "o-stranger", Outgoing("hi")).ok  # 45015 from the fake → template
    assert len(fake.sent("message/template/send")) == 1


def test_no_template_configured_is_permanent(fake: FakePlatform,
                                             sessions: sessionmaker[Session]) -> None:
    bind(sessions, "o5", None)
    s = make_settings(fake)
    s.wechat_templates = {}
    result = send(WeChatChannel(s, sessions, clock=lambda: NOW), "o5", Outgoing("x"))
    assert not result.ok and result.permanent and "template" in (result.error or "")


def test_token_refreshed_once_on_40001(fake: FakePlatform,
                                       sessions: sessionmaker[Session]) -> None:
    bind(sessions, "o6", NOW - timedelta(hours=1))
    ch = WeChatChannel(make_settings(fake), sessions, clock=lambda: NOW)
    assert send(ch, "o6", Outgoing("a")).ok
    assert len(fake.token_calls()) == 1
    fake.expire_tokens()
    assert send(ch, "o6", Outgoing("b")).ok
    assert len(fake.token_calls()) == 2
    # a second channel (another process) finds the token in the table
    other = WeChatChannel(make_settings(fake), sessions, clock=lambda: NOW)
    assert send(other, "o6", Outgoing("c")).ok
    assert len(fake.token_calls()) == 2
    with sessions() as s:
        row = s.get(ChannelToken, f"wechat:{APP_ID}")
        assert row is not None and row.value == other.tokens.cached()


def test_errors_become_send_results(fake: FakePlatform,
                                    sessions: sessionmaker[Session]) -> None:
    bind(sessions, "o7", NOW - timedelta(hours=1))
    ch = WeChatChannel(make_settings(fake), sessions, clock=lambda: NOW, timeout=0.5)
    fake.fail("message/custom/send", 43004)
    r = send(ch, "o7", Outgoing("x"))
    assert not r.ok and r.permanent
    fake.fail("message/custom/send", -1)
    r = send(ch, "o7", Outgoing("x"))
    assert not r.ok and not r.permanent and r.retry_after == 5.0
    fake.hang("message/custom/send", 2.0)
    r = send(ch, "o7", Outgoing("x"))
    assert not r.ok and not r.permanent and "timeout" in (r.error or "")
    assert free_sent(sessions, "o7") == 0  # slots given back
    fake.expire_tokens()
    fake.fail("message/custom/send", 40001, times=2)  # refused even after the refresh
    r = send(ch, "o7", Outgoing("x"))
    assert not r.ok and not r.permanent


def test_bad_secret_is_retried_later(fake: FakePlatform,
                                     sessions: sessionmaker[Session]) -> None:
    bind(sessions, "o8", NOW - timedelta(hours=1))
    s = make_settings(fake, wechat_app_secret="wrong")
    r = send(WeChatChannel(s, sessions, clock=lambda: NOW), "o8", Outgoing("x"))
    assert not r.ok and r.retry_after and "40125" in (r.error or "")


def test_free_slot_booking(sessions: sessionmaker[Session]) -> None:
    bind(sessions, "o9", NOW - timedelta(hours=2), free_sent=18)
    assert reserve_free_slot(sessions, "o9", NOW, budget=20) == "reserved"
    assert reserve_free_slot(sessions, "o9", NOW, budget=20) == "reserved"
    assert reserve_free_slot(sessions, "o9", NOW, budget=20) == "closed"
    assert reserve_free_slot(sessions, "o9", NOW + timedelta(hours=47), budget=99) == "closed"
    assert reserve_free_slot(sessions, "nobody", NOW) == "unknown"


def test_token_store_one_fetch_across_threads(sessions: sessionmaker[Session]) -> None:
    fetched: list[int] = []

    def fetch() -> tuple[str, int]:
        fetched.append(1)
        return f"tok-{len(fetched)}", 7200

    stores = [TokenStore(sessions, "test:shared", fetch) for _ in range(6)]
    got: list[str] = []
    threads = [threading.Thread(target=lambda st=st: got.append(st.get())) for st in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fetched == [1] and set(got) == {"tok-1"}
    # a refused token is replaced once, whoever notices
    assert stores[0].replace("tok-1") == "tok-2"
    assert stores[1].replace("tok-1") == "tok-2"
    assert len(fetched) == 2


# --- WeCom ----------------------------------------------------------------------------------

def test_wecom_text_card_and_textcard(fake: FakePlatform,
                                      sessions: sessionmaker[Session]) -> None:
    ch = WeComChannel(make_settings(fake), sessions)
    assert send(ch, "zhangsan", Outgoing("个案 3 已处理")).ok
    alert = Outgoing("【高风险预警】个案 7\n对象：李大爷\n情况：摔倒", template="alert",
                     choices=(Choice("ack:7", "确认收到"), Choice("resolve:7", "已处理")),
                     meta={"outbox_key": "alert:1:2:0"})
    r = send(ch, "zhangsan", alert)
    assert r.ok and r.provider_id
    link = Outgoing("月报已生成\n东村 3 月探访 42 次", meta={"url": "https://bot.example.cn/r"})
    assert send(ch, "lisi", link).ok
    text, card, textcard = fake.sent("message/send")
    assert text.body == {"touser": "zhangsan", "agentid": AGENT_ID, "msgtype": "text",
                         "text": {"content": "个案 3 已处理"}}
    tc = card.body["template_card"]
    assert card.body["msgtype"] == "template_card" and tc["card_type"] == "button_interaction"
    assert tc["main_title"]["title"] == "【高风险预警】个案 7"
    assert [b["key"] for b in tc["button_list"]] == ["ack:7", "resolve:7"]
    assert textcard.body["textcard"]["url"] == "https://bot.example.cn/r"
    assert ch.rate_per_recipient == 0.5


def test_wecom_token_refresh_and_errors(fake: FakePlatform,
                                        sessions: sessionmaker[Session]) -> None:
    ch = WeComChannel(make_settings(fake), sessions)
    assert send(ch, "u1", Outgoing("a")).ok
    fake.expire_tokens()
    assert send(ch, "u1", Outgoing("b")).ok
    assert len(fake.token_calls("wecom")) == 2
    fake.fail("message/send", 81013)
    r = send(ch, "ghost", Outgoing("c"))
    assert not r.ok and r.permanent
    fake.fail("message/send", 45033)
    r = send(ch, "u1", Outgoing("d"))
    assert not r.ok and r.retry_after == 30.0
