"""Fuzz the WeChat, WeCom and Telegram endpoints with hostile requests: never a 500,
never an unhandled exception, and nothing unsigned reaches the core.

A few thousand cases in CI; `VISITBOT_RELIABILITY=full` runs 100,000 (50,000 per test).
"""

from __future__ import annotations

import json
import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.testclient import TestClient

from bot.channels.telegram import webhook_routes as telegram_routes
from bot.channels.wechat import wechat_routes
from bot.channels.wecom import wecom_routes
from bot.settings import Settings
from tests.fakes.wechat_server import AES_KEY, AGENT_ID, APP_ID, CORP_ID, TOKEN, FakeCore

FULL = os.environ.get("VISITBOT_RELIABILITY") == "full"
CASES = 50_000 if FULL else 700
TG_SECRET = "fuzz-secret_1"

core = FakeCore()
_settings = Settings(wechat_app_id=APP_ID, wechat_token=TOKEN, wechat_aes_key=AES_KEY,
                     wecom_corp_id=CORP_ID, wecom_token=TOKEN, wecom_aes_key=AES_KEY,
                     wecom_agent_id=AGENT_ID, telegram_token="1:fuzz",
                     telegram_base_url="http://127.0.0.1:9/bot",
                     telegram_webhook_secret=TG_SECRET)
client = TestClient(Starlette(routes=[
    *wechat_routes(core, _settings), *wecom_routes(core, _settings),
    *telegram_routes(core, _settings, setup=False)]), raise_server_exceptions=True)

XML_ATTACKS = [
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;'
    b'&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><xml><Content>&c;</Content></xml>',
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b"<xml><Content>&e;</Content></xml>",
    b"<xml><Encrypt><![CDATA[" + b"A" * 5000 + b"]]></Encrypt></xml>",
    b"\xff\xfe<\x00x\x00m\x00l\x00>",
    b"<xml><MsgType>text</MsgType><Content>\x00\x01\x02</Content></xml>",
]
params = st.fixed_dictionaries({}, optional={
    "signature": st.text(max_size=50), "timestamp": st.one_of(
        st.integers().map(str), st.just(str(int(time.time()))), st.text(max_size=12)),
    "nonce": st.text(max_size=20), "msg_signature": st.text(max_size=50),
    "encrypt_type": st.sampled_from(["aes", "raw", "", "rsa"]), "openid": st.text(max_size=30),
    "echostr": st.text(max_size=40)})
bodies = st.one_of(st.binary(max_size=2000), st.sampled_from(XML_ATTACKS),
                   st.text(max_size=500).map(lambda t: f"<xml>{t}</xml>".encode()))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=5), max_leaves=20)
updates = st.one_of(
    json_values,
    st.fixed_dictionaries({"update_id": st.integers()}, optional={
        "message": json_values, "callback_query": json_values, "edited_message": json_values,
        "my_chat_member": json_values}),
)
fuzz = settings(max_examples=CASES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@fuzz
@given(path=st.sampled_from(["/wechat", "/wecom"]), q=params, body=bodies,
       method=st.sampled_from(["POST", "GET"]))
def test_wechat_and_wecom_never_500_and_unsigned_never_reach_the_core(
        path: str, q: dict[str, str], body: bytes, method: str) -> None:
    before = len(core.calls)
    r = client.request(method, path, params=q, content=body if method == "POST" else None)
    assert r.status_code < 500
    assert len(core.calls) == before  # a random signature never verifies


@fuzz
@given(update=updates, secret=st.sampled_from([TG_SECRET, "", "wrong", TG_SECRET + "x"]),
       raw=st.one_of(st.none(), st.binary(max_size=300)))
def test_telegram_never_500_and_needs_the_secret(update: object, secret: str,
                                                 raw: bytes | None) -> None:
    before = len(core.calls)
    body = raw if raw is not None else json.dumps(update).encode()
    r = client.post("/telegram", content=body,
                    headers={"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {})
    assert r.status_code < 500
    if secret != TG_SECRET:
        assert r.status_code == 403 and len(core.calls) == before


@pytest.mark.parametrize("attack", XML_ATTACKS)
def test_xml_attacks_with_a_valid_signature_are_refused(attack: bytes) -> None:
    """Signed, fresh, and still hostile: parsed safely, never expanded or fetched."""
    from tests.fakes.wechat_server import sign

    ts, nonce = str(int(time.time())), "n0nce"
    before = len(core.calls)
    r = client.post("/wechat", params={"signature": sign(TOKEN, ts, nonce), "timestamp": ts,
                                       "nonce": nonce}, content=attack)
    assert r.status_code in (200, 400, 403)
    assert len(core.calls) == before


# --- with an EncodingAESKey configured, a genuine query string carries no plain body ------

@fuzz
@given(body=bodies, encrypt_type=st.sampled_from([None, "raw", "", "RAW", "none"]),
       path=st.sampled_from(["/wechat", "/wecom"]))
def test_plain_body_with_a_genuine_signature_never_reaches_the_core(
        body: bytes, encrypt_type: str | None, path: str) -> None:
    """The forgery of issue #19: the signature a proxy log holds covers timestamp and
    nonce, never the body, so with a key configured a plain body is refused whatever it
    says and however the request calls its mode."""
    from tests.fakes.wechat_server import WeChatUser, nonce

    ts, nc = str(int(time.time())), nonce()
    q = WeChatUser("http://unused").params(ts, nc)
    if encrypt_type is not None:
        q["encrypt_type"] = encrypt_type
    before = len(core.calls)
    r = client.post(path, params=q, content=body)
    assert r.status_code in (400, 403, 413)
    assert len(core.calls) == before


# --- a slow body ----------------------------------------------------------------------------

def _slow_request(port: int, path: str, query: str, headers: str) -> bytes:
    """Headers promising 1,000 bytes, then ten of them, then nothing: the answer."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(f"POST {path}?{query} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                     f"{headers}\r\n".encode() + b"<xml><Encr")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def test_slow_bodies_are_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many clients sending a body a few bytes at a time each get 408 and let go of their
    connection, instead of holding it (and a task) as long as they like."""
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlencode

    from bot.channels import wechat_webhook
    from tests.fakes.wechat_server import ServerThread, WeChatUser, nonce

    monkeypatch.setattr(wechat_webhook, "BODY_TIMEOUT", 0.5)
    app = Starlette(routes=[*wechat_routes(core, _settings), *wecom_routes(core, _settings),
                            *telegram_routes(core, _settings, setup=False)])
    ts = str(int(time.time()))
    with ServerThread(app) as server:
        jobs = []
        for _ in range(20):
            q = WeChatUser(server.url).params(ts, nonce(), "e" * 10)
            jobs += [("/wechat", urlencode(q), ""), ("/wecom", urlencode(q), ""),
                     ("/telegram", "", f"X-Telegram-Bot-Api-Secret-Token: {TG_SECRET}\r\n")]
        with ThreadPoolExecutor(len(jobs)) as pool:
            answers = list(pool.map(lambda j: _slow_request(server.port, *j), jobs))
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers), {a[:20] for a in answers}


def test_deep_json_with_the_right_secret_is_400() -> None:
    for deep in ("[" * 5000 + "]" * 5000,
                 '{"update_id": 1, "message": ' + '{"a":' * 5000 + "1" + "}" * 5001):
        r = client.post("/telegram", content=deep.encode(),
                        headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
        assert r.status_code == 400
