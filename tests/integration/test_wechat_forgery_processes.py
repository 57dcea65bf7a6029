"""The WeChat forgery of issue #19 against `visitbot run --workers 2` on PostgreSQL.

A genuine safe-mode callback's query string (as any proxy's access log holds) is sent
again with a plain body claiming an officer's openid, and the genuine request itself is
replayed: whichever worker takes each connection, all are refused and nothing reaches the
core, because safe mode is the only mode with a key configured and the replay guard is
the store's, shared by both processes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import xmltodict
from sqlalchemy import func, select

from store.db import make_engine, session_factory
from store.models import CallbackNonce, InboundSeen
from tests.fakes.wechat_server import AES_KEY, APP_ID, TOKEN, WeChatUser

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def two_workers(pg_url: str, tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VISITBOT_DATABASE_URL": pg_url,
           "VISITBOT_WECHAT_APP_ID": APP_ID, "VISITBOT_WECHAT_APP_SECRET": "s",
           "VISITBOT_WECHAT_TOKEN": TOKEN, "VISITBOT_WECHAT_AES_KEY": AES_KEY,
           "VISITBOT_WECHAT_API_BASE": "http://127.0.0.1:9/cgi-bin/"}
    env.pop("VISITBOT_CONFIG", None)
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from bot.cli.main import main; main()", "run",
         "--channel", "wechat", "--workers", "2", "--no-scheduler", "--host", "127.0.0.1",
         "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        else:
            pytest.fail("visitbot run did not answer")
        assert proc.poll() is None, (tmp_path / "run.log").read_text()[-2000:]
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.postgres
def test_forged_plain_body_and_replays_refused_by_two_workers(two_workers: str,
                                                               pg_url: str) -> None:
    wechat = WeChatUser(two_workers, aes_key=AES_KEY)
    try:
        ts, nc = str(int(time.time())), "5550123"
        genuine = wechat.text("o-visitor", "帮助")  # signed and encrypted, as WeChat sends
        assert genuine.status == 200 and genuine.content  # the unbound user is answered
        assert wechat.crypto is not None
        inner = wechat._envelope("o-visitor", "text", "<Content>待访</Content><MsgId>71</MsgId>")
        encrypted = xmltodict.parse(wechat.crypto.encrypt_message(inner, nc, ts))["xml"]["Encrypt"]
        body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
        signed = wechat.params(ts, nc, encrypted)
        assert wechat.http.post(wechat.url, params=signed, content=body).status_code == 200
        logged = wechat.params(ts, nc)  # the query string a proxy's access log holds
        forged = wechat._envelope("o-officer", "text",
                                  "<Content>联系人 1</Content><MsgId>72</MsgId>").encode()
        statuses = []
        for _ in range(12):  # new connections: the kernel spreads them over both workers
            with httpx.Client(timeout=10) as fresh:
                statuses.append(fresh.post(wechat.url, params=logged,
                                           content=forged).status_code)
                statuses.append(fresh.post(wechat.url, params={**logged, "encrypt_type": "raw"},
                                           content=forged).status_code)
                # the genuine request replayed whole: same query, same ciphertext
                statuses.append(fresh.post(wechat.url, params=signed,
                                           content=body).status_code)
        assert set(statuses) == {403}, statuses
    finally:
        wechat.close()
    engine = make_engine(pg_url)
    try:
        with session_factory(engine)() as s:
            # the two genuine callbacks claimed their nonces; their unbound sender wrote
            # nothing else (and the refused requests nothing at all)
            assert s.scalar(select(func.count()).select_from(CallbackNonce)) == 2
            assert s.scalar(select(func.count()).select_from(InboundSeen)) == 0
    finally:
        engine.dispose()
