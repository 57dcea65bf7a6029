"""The /wechat and /wecom endpoints over real HTTP, against a recording stand-in core.

WeChat's side is played by `tests.fakes.wechat_server` with wechatpy's own crypto.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bot.channels.wechat import wechat_routes
from bot.channels.wecom import wecom_routes
from bot.settings import Settings
from conversations.messages import Choice, Incoming, Kind, Outgoing
from store.db import DatabaseUnavailable
from tests.fakes.wechat_server import (
    AES_KEY,
    AGENT_ID,
    APP_ID,
    CORP_ID,
    TOKEN,
    FakeCore,
    ServerThread,
    WeChatUser,
    WeComUser,
)


def settings(**kw: Any) -> Settings:
    return Settings(wechat_app_id=APP_ID, wechat_token=TOKEN, wechat_aes_key=AES_KEY,
                    wecom_corp_id=CORP_ID, wecom_token=TOKEN, wecom_aes_key=AES_KEY,
                    wecom_agent_id=AGENT_ID, **kw)


def echo_reply(inc: Incoming) -> Outgoing:
    return Outgoing(f"收到：{inc.text or inc.choice or inc.meta}",
                    choices=(Choice("a:yes", "是"), Choice("a:no", "否")))


class Bot:
    def __init__(self, core: FakeCore, **route_kw: Any) -> None:
        s = settings()
        # an account in plain mode has no EncodingAESKey: with one, only safe mode is taken
        plain = s.model_copy(update={"wechat_aes_key": None})
        self.core = core
        app = Starlette(routes=[*wechat_routes(core, s, **route_kw),
                                *wechat_routes(core, plain, path="/wechat-plain", **route_kw),
                                *wecom_routes(core, s, deadline=route_kw.get("deadline", 4.0))])
        self.server = ServerThread(app).start()
        self.plain = WeChatUser(self.server.url, path="/wechat-plain")
        self.safe = WeChatUser(self.server.url, aes_key=AES_KEY)
        self.wecom = WeComUser(self.server.url)

    def close(self) -> None:
        for u in (self.plain, self.safe, self.wecom):
            u.close()
        self.server.stop()


@pytest.fixture
def bot() -> Iterator[Bot]:
    b = Bot(FakeCore(reply=echo_reply))
    yield b
    b.close()


def test_url_verification(bot: Bot) -> None:
    ok = bot.plain.verify("hello-42")
    assert ok.status_code == 200 and ok.text == "hello-42"
    assert bot.plain.verify("x", signature="0" * 40).status_code == 403
    assert bot.plain.verify("x", timestamp=str(int(time.time()) - 3600)).status_code == 403


@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_text_gets_passive_reply(bot: Bot, mode: str) -> None:
    user = bot.plain if mode == "plain" else bot.safe
    reply = user.text("o-user-1", "你好")
    assert reply.status == 200
    if mode == "safe":
        assert "<Encrypt>" in reply.body and "你好" not in reply.body
    assert reply.content == "收到：你好\n1. 是\n2. 否"
    assert reply.xml is not None and reply.xml["ToUserName"] == "o-user-1"
    assert reply.xml["FromUserName"] == "gh_fakeaccount"
    [(inc, inline)] = bot.core.calls
    assert inline and inc.address.external_id == "o-user-1" and inc.text == "你好"


def test_voice_menu_and_events(bot: Bot) -> None:
    u = bot.safe
    assert u.voice("o1", "今天去看了").content is not None
    assert u.menu_click("o1", "a:yes", "是").status == 200
    no_text = u.voice("o1", None)  # the core answers it too (a hint, via the outbox)
    assert no_text.content is not None
    u.subscribe("o2", "CODE2345")
    u.scan("o3", "CODE6789")
    u.unsubscribe("o2")
    incs = bot.core.incomings
    assert incs[0].text == "今天去看了" and incs[0].kind is Kind.VOICE_TEXT
    assert incs[1].choice == "a:yes" and incs[1].kind is Kind.CALLBACK
    assert incs[2].kind is Kind.VOICE_BLANK and incs[2].text is None
    assert incs[3].meta == {"event": "subscribe", "bind_code": "CODE2345"}
    assert incs[4].meta["bind_code"] == "CODE6789" and incs[4].kind is Kind.SCAN
    assert incs[5].meta == {"event": "unsubscribe"}
    assert len(incs) == 6


def test_retried_message_is_passed_with_same_id(bot: Bot) -> None:
    first = bot.safe.text("o1", "1", msg_id=123456)
    again = bot.safe.text("o1", "1", msg_id=123456)
    assert first.content and again.body == "success"
    assert [i.msg_id for i in bot.core.incomings] == ["123456", "123456"]


def test_forged_and_stale_requests_do_nothing(bot: Bot) -> None:
    u = bot.safe
    xml = u._envelope("o1", "text", "<Content>x</Content><MsgId>1</MsgId>")
    assert u.post_xml(xml, params={"msg_signature": "0" * 40}).status == 403
    assert u.post_xml(xml, params={"signature": "f" * 40}).status == 403
    stale = str(int(time.time()) - 301)
    assert u.post_xml(xml, timestamp=stale).status == 403
    assert bot.plain.post_xml(xml, params={"signature": "1" * 40}).status == 403
    # the same (timestamp, nonce) again: a replay
    ts = str(int(time.time()))
    assert u.post_xml(xml, timestamp=ts, nonce_="77777").status == 200
    assert u.post_xml(xml, timestamp=ts, nonce_="77777").status == 403
    assert len(bot.core.calls) == 1


def test_plain_body_refused_when_an_aes_key_is_configured(bot: Bot) -> None:
    """The forgery: a genuine callback's query string (from any proxy's access log) with a
    plain body written by the attacker. Plain mode signs timestamp and nonce, never the
    body; with a key configured only safe mode is accepted."""
    officer = bot.safe._envelope("o-officer", "text", "<Content>联系人 1</Content><MsgId>9</MsgId>")
    ts, nc = str(int(time.time())), "424242"
    genuine = bot.safe.params(ts, nc)  # signature over (token, timestamp, nonce) only
    for q in (genuine, {**genuine, "encrypt_type": "raw"}, {**genuine, "encrypt_type": ""},
              {**genuine, "encrypt_type": "aes"}):  # aes but a plain body: no Encrypt
        resp = bot.safe.http.post(bot.safe.url, params=q, content=officer.encode())
        assert resp.status_code == 403
    # safe mode with a msg_signature that does not cover this ciphertext
    other = bot.safe.post_xml(officer, params={"msg_signature": genuine["signature"]})
    assert other.status == 403
    assert bot.core.calls == []


def test_replay_refused_after_a_failure_is_let_in(bot: Bot) -> None:
    """A callback answered 503 (store down) is served when the platform sends it again."""
    bot.core.error = DatabaseUnavailable("down")
    ts = str(int(time.time()))
    xml = bot.safe._envelope("o1", "text", "<Content>1</Content><MsgId>77</MsgId>")
    assert bot.safe.post_xml(xml, timestamp=ts, nonce_="31337").status == 503
    bot.core.error = None
    assert bot.safe.post_xml(xml, timestamp=ts, nonce_="31337").status == 200
    assert bot.safe.post_xml(xml, timestamp=ts, nonce_="31337").status == 403


@pytest.mark.parametrize("body", [
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">'
    b']><xml><ToUserName>g</ToUserName><FromUserName>o</FromUserName><MsgType>text'
    b'</MsgType><Content>&b;</Content><MsgId>5</MsgId></xml>',
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<xml><FromUserName>o</FromUserName><MsgType>text</MsgType><Content>&x;</Content></xml>',
    b"<xml><FromUserName>o",
])
@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_hostile_xml_is_refused(bot: Bot, body: bytes, mode: str) -> None:
    user = bot.plain if mode == "plain" else bot.safe
    reply = user.post_xml(body)
    assert reply.status == 400
    assert bot.core.calls == []


def test_oversized_body(bot: Bot) -> None:
    big = b"<xml><Content>" + b"a" * 70_000 + b"</Content></xml>"
    assert bot.plain.post_xml(big).status == 413
    # no Content-Length: the stream is cut at the limit too
    resp = bot.plain.http.post(bot.plain.url, params=bot.plain.params(
        str(int(time.time())), "5555"), content=iter([b"<xml>" + b"a" * 40_000] * 3))
    assert resp.status_code == 413
    assert bot.core.calls == []


@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_invalid_utf8_and_controls_are_cleaned(bot: Bot, mode: str) -> None:
    user = bot.plain if mode == "plain" else bot.safe
    xml = ("<xml><ToUserName>g</ToUserName><FromUserName>o9</FromUserName>"
           "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>好\x02".encode()
           + b"\xff\xfe</Content><MsgId>77</MsgId></xml>")
    if mode == "safe":
        # WeChat's crypto needs text: send the controls, the bad bytes only in plain mode
        xml = xml.replace(b"\xff\xfe", b"")
    reply = user.post_xml(xml)
    assert reply.status == 200
    [inc] = bot.core.incomings
    assert inc.text.startswith("好") and "\x02" not in inc.text


def test_notices_answer_success_without_the_core(bot: Bot) -> None:
    assert bot.safe.event("o1", "LOCATION").body == "success"
    assert bot.safe.event("o1", "VIEW", "http://x").body == "success"
    assert bot.safe.event("o1", "TEMPLATESENDJOBFINISH").body == "success"
    assert bot.safe.event("o1", "pic_sysphoto", "photo").body == "success"
    assert bot.core.calls == []
    assert bot.safe.image("o1").content is not None  # a person's image reaches the core
    [inc] = bot.core.incomings
    assert inc.kind is Kind.IMAGE and inc.media is not None and inc.media.ref == "m1"


def test_slow_core_answers_success_then_sends_by_api() -> None:
    sent: list[tuple[Any, Outgoing]] = []

    async def late(address: Any, out: Outgoing) -> Any:
        sent.append((address, out))
        return None

    b = Bot(FakeCore(reply=echo_reply, delay=1.0), deadline=0.3, late=late)
    try:
        reply = b.safe.text("o-slow", "慢")
        assert reply.status == 200 and reply.body == "success"
        deadline = time.monotonic() + 5
        while not sent and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sent and sent[0][0].external_id == "o-slow" and sent[0][1].text == "收到：慢"
    finally:
        b.close()


def test_core_errors_never_500() -> None:
    b = Bot(FakeCore(error=RuntimeError("boom")))
    try:
        assert b.safe.text("o1", "x").body == "success"
        b.core.error = DatabaseUnavailable("down")
        assert b.safe.text("o1", "x").status == 503  # WeChat retries later
    finally:
        b.close()


# --- WeCom --------------------------------------------------------------------------------

def test_wecom_verify_and_messages(bot: Bot) -> None:
    ok = bot.wecom.verify("echo-99")
    assert ok.status_code == 200 and ok.text == "echo-99"
    assert bot.wecom.text("zhangsan", "待处理").status_code == 200
    assert bot.wecom.click("zhangsan", "个案").status_code == 200
    assert bot.wecom.card_button("zhangsan", "ack:7", "vb-task").status_code == 200
    incs = bot.core.incomings
    assert [(i.address.platform, i.address.external_id) for i in incs] == [
        ("wecom", "zhangsan")] * 3
    assert incs[0].text == "待处理" and incs[1].text == "个案" and incs[2].choice == "ack:7"
    assert all(not inline for _, inline in bot.core.calls)


def test_wecom_forged_stale_and_hostile(bot: Bot) -> None:
    xml = bot.wecom._envelope("lisi", "text", "<Content>x</Content><MsgId>1</MsgId>")
    assert bot.wecom.post_xml(xml, forge=True).status_code == 403
    stale = str(int(time.time()) - 600)
    assert bot.wecom.post_xml(xml, timestamp=stale).status_code == 403
    resp = httpx.get(bot.wecom.url, params={"msg_signature": "0", "timestamp": "1",
                                            "nonce": "1", "echostr": "abc"})
    assert resp.status_code == 403
    bomb = ('<!DOCTYPE l [<!ENTITY a "aaaa">]><xml><FromUserName>l</FromUserName>'
            "<MsgType>text</MsgType><Content>&a;</Content></xml>")
    assert bot.wecom.post_xml(bomb).status_code == 400
    assert bot.core.calls == []
