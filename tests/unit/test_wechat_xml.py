"""WeChat XML reading, message mapping and callback crypto, without HTTP."""

from __future__ import annotations

import base64
import struct

import pytest
import xmltodict
from hypothesis import given, settings
from hypothesis import strategies as st
from wechatpy.crypto import WeChatCrypto
from wechatpy.crypto.base import WeChatCipher
from wechatpy.crypto.pkcs7 import PKCS7Encoder
from wechatpy.enterprise.crypto import WeChatCrypto as WorkCrypto

from bot.channels.replay_guard import MemoryReplayGuard
from bot.channels.wechat import passive_text
from bot.channels.wechat_crypto import CallbackAuth, Forbidden, signature
from bot.channels.wechat_parse import Ignore, parse_wechat, parse_wecom
from bot.channels.wechat_xml import (
    BadXml,
    cdata,
    clean_text,
    fit_utf8,
    parse_xml,
    text_reply_xml,
    truncate_utf8,
)
from conversations.messages import Choice, Incoming, Kind, Outgoing
from tests.fakes.wechat_server import AES_KEY, APP_ID, CORP_ID, TOKEN

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><Content>&lol3;</Content></xml>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><Content>&xxe;</Content></xml>"""


def msg(**fields: str) -> dict[str, str]:
    base = {"ToUserName": "gh_acc", "FromUserName": "openid-1", "CreateTime": "1700000000"}
    return {**base, **fields}


# --- XML --------------------------------------------------------------------------------

def test_parse_plain_message() -> None:
    xml = ("<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[o1]]>"
           "</FromUserName><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]>"
           "</Content><MsgId>42</MsgId></xml>")
    assert parse_xml(xml.encode()) == {"ToUserName": "gh", "FromUserName": "o1",
                                       "MsgType": "text", "Content": "你好", "MsgId": "42"}


@pytest.mark.parametrize("body", [BOMB, XXE, b"<xml>", b"", b"not xml", b"<foo/>",
                                  b'<!DOCTYPE x SYSTEM "http://evil/x.dtd"><xml/>'])
def test_hostile_or_broken_xml_is_refused(body: bytes) -> None:
    with pytest.raises(BadXml):
        parse_xml(body)


def test_invalid_utf8_and_control_characters_are_cleaned() -> None:
    body = b"<xml><Content>ok\xff\xfe\x01\x08 fine\x0b</Content><MsgId>1</MsgId></xml>"
    out = parse_xml(body)
    assert out["Content"].startswith("ok") and out["Content"].endswith("fine")
    assert "\x01" not in out["Content"] and "\x08" not in out["Content"]
    assert clean_text("a\x00b\ud800c") == "abc"


def test_declaration_with_other_encoding_is_ignored() -> None:
    body = '<?xml version="1.0" encoding="gbk"?><xml><Content>好</Content></xml>'.encode()
    assert parse_xml(body)["Content"] == "好"


def test_cdata_survives_terminator_and_reply_is_valid_xml() -> None:
    xml = text_reply_xml("o1", "gh", "a ]]> b <x> & 中文\x07", 1700000000)
    parsed = xmltodict.parse(xml)["xml"]
    assert parsed["Content"] == "a ]]> b <x> & 中文"
    assert cdata("x") == "<![CDATA[x]]>"


def test_truncate_on_character_boundary() -> None:
    assert truncate_utf8("中文字符", 7) == "中…"
    assert truncate_utf8("abc", 10) == "abc"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="好差是否无一二三四五abc ，。0123456789", max_size=400),
                min_size=1, max_size=60), st.integers(min_value=300, max_value=2048))
def test_fit_keeps_the_end_of_any_text(lines: list[str], limit: int) -> None:
    tail = ["无误请回复“确认”提交。", "1. 确认提交", "2. 取消"]
    text = "\n".join([*lines, *tail])
    out = fit_utf8(text, limit)
    assert len(out.encode("utf-8")) <= limit
    if len(text.encode("utf-8")) <= limit:
        assert out == text
    else:  # the instruction and the options always arrive
        assert out.endswith("\n".join(tail))


def test_fit_shortens_long_answers_before_dropping_items() -> None:
    items = [f"{i}. 第{i}项：{'很长的回答' * 120 if i in (5, 9) else '好'}" for i in range(1, 30)]
    text = "\n".join(["请核对：", *items, "无误请回复“确认”提交。"])
    assert len(text.encode("utf-8")) > 3000
    out = fit_utf8(text, 2047)
    assert len(out.encode("utf-8")) <= 2047 and out.endswith("无误请回复“确认”提交。")
    assert all(f"{i}. 第{i}项：" in out for i in range(1, 30))  # every item still there
    assert out.count("…") == 2


def test_passive_text_numbers_choices() -> None:
    out = Outgoing("今天上门了吗？", choices=(Choice("m:in", "上门"), Choice("m:ph", "电话")))
    assert passive_text(out) == "今天上门了吗？\n1. 上门\n2. 电话"


# --- mapping ------------------------------------------------------------------------------

def test_text_and_menu_click() -> None:
    inc = parse_wechat(msg(MsgType="text", Content="你好", MsgId="9"))
    assert isinstance(inc, Incoming)
    assert (inc.address.platform, inc.address.external_id, inc.msg_id, inc.text) == (
        "wechat", "openid-1", "9", "你好")
    click = parse_wechat(msg(MsgType="text", Content="上门", MsgId="10", bizmsgmenuid="m:in"))
    assert isinstance(click, Incoming) and click.choice == "m:in"


def test_voice_with_and_without_recognition() -> None:
    inc = parse_wechat(msg(MsgType="voice", MediaId="x", Recognition="老人身体很好", MsgId="3"))
    assert isinstance(inc, Incoming) and inc.text == "老人身体很好" and inc.meta["voice"]
    assert inc.kind is Kind.VOICE_TEXT
    blank = parse_wechat(msg(MsgType="voice", MediaId="x", MsgId="4"))
    assert isinstance(blank, Incoming) and blank.kind is Kind.VOICE_BLANK and blank.text is None


def test_events() -> None:
    sub = parse_wechat(msg(MsgType="event", Event="subscribe", EventKey="qrscene_ABCD2345"))
    assert isinstance(sub, Incoming) and sub.meta["bind_code"] == "ABCD2345"
    assert sub.msg_id == "openid-1:1700000000:subscribe"
    plain = parse_wechat(msg(MsgType="event", Event="subscribe", EventKey=""))
    assert isinstance(plain, Incoming) and "bind_code" not in plain.meta
    scan = parse_wechat(msg(MsgType="event", Event="SCAN", EventKey="ABCD2345"))
    assert isinstance(scan, Incoming) and scan.meta["bind_code"] == "ABCD2345"
    un = parse_wechat(msg(MsgType="event", Event="unsubscribe"))
    assert isinstance(un, Incoming) and un.meta["event"] == "unsubscribe"


@pytest.mark.parametrize(("fields", "kind"), [
    ({"MsgType": "image", "PicUrl": "u", "MediaId": "m", "MsgId": "1"}, Kind.IMAGE),
    ({"MsgType": "video", "MediaId": "m", "MsgId": "1"}, Kind.VIDEO),
    ({"MsgType": "shortvideo", "MediaId": "m", "MsgId": "1"}, Kind.VIDEO),
    ({"MsgType": "link", "Url": "u", "MsgId": "1"}, Kind.LINK),
    ({"MsgType": "file", "Title": "a.doc", "MsgId": "1"}, Kind.FILE),
    ({"MsgType": "weird"}, Kind.OTHER),
    ({"MsgType": "event", "Event": "CLICK", "EventKey": "待访"}, Kind.MENU_CLICK),
    ({"MsgType": "event", "Event": "pic_photo_or_album", "EventKey": "photo"},
     Kind.MENU_PHOTO),
    ({"MsgType": "event", "Event": "LOCATION", "Latitude": "1"}, Kind.NOTICE),
    ({"MsgType": "event", "Event": "VIEW", "EventKey": "http://x"}, Kind.NOTICE),
    ({"MsgType": "event", "Event": "TEMPLATESENDJOBFINISH"}, Kind.NOTICE),
])
def test_every_type_has_a_kind(fields: dict[str, str], kind: Kind) -> None:
    inc = parse_wechat(msg(**fields))
    assert isinstance(inc, Incoming) and inc.kind is kind


def test_image_keeps_its_references() -> None:
    inc = parse_wechat(msg(MsgType="image", PicUrl="http://p/1.jpg", MediaId="m-1", MsgId="5"))
    assert isinstance(inc, Incoming) and inc.media is not None
    assert (inc.media.kind, inc.media.ref, inc.meta["pic_url"]) == ("photo", "m-1",
                                                                    "http://p/1.jpg")


def test_no_sender_is_ignored() -> None:
    assert isinstance(parse_wechat(msg(FromUserName="", MsgType="text")), Ignore)


def test_wecom_mapping() -> None:
    base = {"FromUserName": "zhangsan", "CreateTime": "1", "AgentID": "1000002"}
    text = parse_wecom({**base, "MsgType": "text", "Content": "待处理", "MsgId": "7"}, 1000002)
    assert isinstance(text, Incoming) and text.address.platform == "wecom"
    card = parse_wecom({**base, "MsgType": "event", "Event": "template_card_event",
                        "EventKey": "ack:5", "TaskId": "t1"}, 1000002)
    assert isinstance(card, Incoming) and card.choice == "ack:5"
    other = parse_wecom({**base, "MsgType": "text", "Content": "x", "AgentID": "9"}, 1000002)
    assert isinstance(other, Ignore)


# --- crypto ---------------------------------------------------------------------------------

def _encrypt(xml: str, ts: str = "1700000000", nonce: str = "n1") -> tuple[str, str]:
    env = xmltodict.parse(WeChatCrypto(TOKEN, AES_KEY, APP_ID).encrypt_message(xml, nonce, ts))
    return env["xml"]["Encrypt"], env["xml"]["MsgSignature"]


def test_decrypt_what_wechatpy_encrypts() -> None:
    auth = CallbackAuth(TOKEN, AES_KEY, APP_ID, clock=lambda: 1700000000)
    enc, sig = _encrypt("<xml><Content>中文</Content></xml>")
    assert auth.decrypt(enc, sig, "1700000000", "n1").decode() == (
        "<xml><Content>中文</Content></xml>")
    with pytest.raises(Forbidden):
        auth.decrypt(enc, "0" * 40, "1700000000", "n1")
    # the reply we encrypt is what wechatpy (WeChat's side) decrypts
    reply = auth.encrypt_reply("<xml><Content>ok</Content></xml>", "n2", "1700000001")
    env = xmltodict.parse(reply)["xml"]
    plain = WeChatCrypto(TOKEN, AES_KEY, APP_ID).decrypt_message(
        reply, env["MsgSignature"], env["TimeStamp"], env["Nonce"])
    assert plain == "<xml><Content>ok</Content></xml>"


def test_message_for_another_app_or_garbage_is_refused() -> None:
    other = CallbackAuth(TOKEN, AES_KEY, "wx-other", clock=lambda: 1700000000)
    enc, sig = _encrypt("<xml/>")
    with pytest.raises(Forbidden):
        other.decrypt(enc, sig, "1700000000", "n1")
    auth = CallbackAuth(TOKEN, AES_KEY, APP_ID)
    for junk in ("%%%", base64.b64encode(b"short").decode(), base64.b64encode(b"x" * 32).decode()):
        with pytest.raises(Forbidden):
            auth.decrypt(junk, signature(TOKEN, "1", "n", junk), "1", "n")


def test_invalid_utf8_inside_ciphertext_is_returned_as_bytes() -> None:
    key = base64.b64decode(AES_KEY + "=")
    body = b"<xml><Content>\xff\xfe</Content></xml>"
    raw = b"0123456789abcdef" + struct.pack(">I", len(body)) + body + APP_ID.encode()
    enc = base64.b64encode(WeChatCipher(key).encrypt(PKCS7Encoder.encode(raw))).decode()
    auth = CallbackAuth(TOKEN, AES_KEY, APP_ID)
    out = auth.decrypt(enc, signature(TOKEN, "1", "n", enc), "1", "n")
    assert parse_xml(out)["Content"] == "\ufffd\ufffd"


def test_timestamp_and_nonce_checks() -> None:
    now = 1700000000.0
    auth = CallbackAuth(TOKEN, None, APP_ID, clock=lambda: now)
    auth.check_fresh(str(int(now) - 299), "abc")
    for ts in (str(int(now) - 301), str(int(now) + 400), "", "x"):
        with pytest.raises(Forbidden):
            auth.check_fresh(ts, "abc")
    guard = MemoryReplayGuard(window=10, clock=lambda: now, max_items=3)
    assert guard.claim(str(int(now)), "abc") and not guard.claim(str(int(now)), "abc")
    guard.release(str(int(now)), "abc")
    assert guard.claim(str(int(now)), "abc")  # a failed request's retry is let in
    for i in range(5):
        guard.claim(str(i), "n")
    assert guard.claim("0", "n") and not guard.claim("4", "n")  # the oldest were dropped


def test_wecom_echo_uses_wechatpy_check() -> None:
    auth = CallbackAuth(TOKEN, AES_KEY, CORP_ID, work=True)
    env = xmltodict.parse(WorkCrypto(TOKEN, AES_KEY, CORP_ID).encrypt_message("echo", "n", "1"))
    echo = env["xml"]["Encrypt"]
    assert auth.decrypt_echo(signature(TOKEN, "1", "n", echo), "1", "n", echo) == "echo"
    with pytest.raises(Forbidden):
        auth.decrypt_echo("bad", "1", "n", echo)
    wrong_corp = CallbackAuth(TOKEN, AES_KEY, "ww-other", work=True)
    with pytest.raises(Forbidden):  # InvalidCorpIdException is no InvalidSignatureException
        wrong_corp.decrypt_echo(signature(TOKEN, "1", "n", echo), "1", "n", echo)
