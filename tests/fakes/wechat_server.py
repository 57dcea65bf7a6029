"""A fake WeChat + WeCom that speaks the real protocol over real HTTP.

`FakePlatform` is the platforms' API (Starlette + uvicorn in a background thread on a
free 127.0.0.1 port): WeChat's `token`, `message/custom/send`, `message/template/send`
and WeCom's `gettoken`, `message/send`. It records every call, enforces access tokens
and (optionally) the 48-hour window and its budget, and fails or hangs on demand.

`WeChatUser` and `WeComUser` play the platforms' side of the callbacks: they build a
user's message as XML, sign and (in safe mode) AES-encrypt it with wechatpy exactly as
WeChat does, POST it to the bot, then check and decrypt the passive reply.
"""

from __future__ import annotations

import itertools
import random
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
import xmltodict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WorkCrypto
from wechatpy.utils import WeChatSigner

from bot.web.server import listening_socket

APP_ID = "wx0123456789abcdef"
APP_SECRET = "fake-app-secret"
CORP_ID = "ww0123456789abcdef"
CORP_SECRET = "fake-corp-secret"
AGENT_ID = 1000002
TOKEN = "fake-callback-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters
WINDOW_SECONDS = 48 * 3600


# --- a uvicorn server in a thread ----------------------------------------------------------

class ServerThread:
    """Serves an ASGI app on 127.0.0.1:<free port> in a daemon thread."""

    def __init__(self, app: Any) -> None:
        # the project's own listening socket: without TCP_NODELAY on what it accepts, a
        # reply written as headers then body waits ~40 ms for the client's delayed ACK
        self.sock = listening_socket("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the platforms' API ----------------------------------------------------------------------

@dataclass
class Call:
    platform: str  # wechat|wecom
    path: str  # e.g. "message/custom/send"
    query: dict[str, str]
    body: dict[str, Any] | None
    answer: dict[str, Any]
    at: float


@dataclass
class FakePlatform:
    app_id: str = APP_ID
    app_secret: str = APP_SECRET
    corp_id: str = CORP_ID
    corp_secret: str = CORP_SECRET
    token_ttl: int = 7200
    enforce_window: bool = False  # answer 45015/45047 as WeChat does
    budget: int = 20
    clock: Callable[[], float] = time.time
    calls: list[Call] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    last_wrote: dict[str, float] = field(default_factory=dict)
    free_used: dict[str, int] = field(default_factory=dict)
    # parametric QR codes created (ticket → scene) and the installed custom menu
    qr_scenes: dict[str, str] = field(default_factory=dict)
    menu: dict[str, Any] | None = None
    _actions: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ServerThread | None = None

    # -- lifecycle
    def start(self) -> FakePlatform:
        self._server = ServerThread(self.app()).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> FakePlatform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return self._server.url

    @property
    def wechat_api_base(self) -> str:
        return self.url + "/cgi-bin/"

    @property
    def wecom_api_base(self) -> str:
        return self.url + "/wecom/cgi-bin/"

    # -- scripting
    def fail(self, path: str, errcode: int, times: int = 1, errmsg: str = "fake error") -> None:
        """The next `times` calls of `path` answer this errcode."""
        with self._lock:
            self._actions.setdefault(path, []).extend(
                [("errcode", (errcode, errmsg))] * times)

    def hang(self, path: str, seconds: float, times: int = 1) -> None:
        """The next `times` calls of `path` take `seconds` to answer (timeouts)."""
        with self._lock:
            self._actions.setdefault(path, []).extend([("hang", seconds)] * times)

    def expire_tokens(self) -> None:
        """Every token issued so far is now refused (40001 on WeChat, 42001 on WeCom)."""
        with self._lock:
            self.valid_tokens.clear()

    def user_wrote(self, openid: str, at: float | None = None) -> None:
        """A user's message opens the 48-hour window and resets the budget."""
        with self._lock:
            self.last_wrote[openid] = self.clock() if at is None else at
            self.free_used[openid] = 0

    def sent(self, path: str, ok_only: bool = True) -> list[Call]:
        return [c for c in self.calls if c.path == path
                and (not ok_only or c.answer.get("errcode", 0) == 0)]

    def token_calls(self, platform: str = "wechat") -> list[Call]:
        name = "token" if platform == "wechat" else "gettoken"
        return [c for c in self.calls if c.platform == platform and c.path == name]

    # -- the app
    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/cgi-bin/token", self._wechat_token, methods=["GET"]),
            Route("/cgi-bin/message/custom/send", self._custom, methods=["POST"]),
            Route("/cgi-bin/message/template/send", self._template, methods=["POST"]),
            Route("/cgi-bin/qrcode/create", self._qrcode, methods=["POST"]),
            Route("/cgi-bin/menu/create", self._menu, methods=["POST"]),
            Route("/wecom/cgi-bin/gettoken", self._wecom_token, methods=["GET"]),
            Route("/wecom/cgi-bin/message/send", self._wecom_send, methods=["POST"]),
        ])

    def _next_action(self, path: str) -> tuple[str, Any] | None:
        with self._lock:
            queue = self._actions.get(path)
            return queue.pop(0) if queue else None

    async def _record(self, platform: str, path: str, request: Request,
                      answer: dict[str, Any]) -> JSONResponse:
        body = None
        if request.method == "POST":
            try:
                body = await request.json()
            except ValueError:
                body = None
        with self._lock:
            self.calls.append(Call(platform, path, dict(request.query_params), body, answer,
                                   time.time()))
        return JSONResponse(answer)

    def _issue(self, prefix: str) -> str:
        token = f"{prefix}-{next(self._counter)}-" + "".join(
            random.choices(string.ascii_letters, k=8))
        with self._lock:
            self.valid_tokens.add(token)
        return token

    async def _wechat_token(self, request: Request) -> Response:
        q = request.query_params
        if q.get("appid") != self.app_id or q.get("secret") != self.app_secret:
            answer: dict[str, Any] = {"errcode": 40125, "errmsg": "invalid appsecret"}
        else:
            answer = {"access_token": self._issue("wx"), "expires_in": self.token_ttl}
        return await self._record("wechat", "token", request, answer)

    async def _wecom_token(self, request: Request) -> Response:
        q = request.query_params
        if q.get("corpid") != self.corp_id or q.get("corpsecret") != self.corp_secret:
            answer: dict[str, Any] = {"errcode": 40001, "errmsg": "invalid secret"}
        else:
            answer = {"errcode": 0, "errmsg": "ok", "access_token": self._issue("ww"),
                      "expires_in": self.token_ttl}
        return await self._record("wecom", "gettoken", request, answer)

    async def _scripted(self, path: str, token_error: int, request: Request
                        ) -> dict[str, Any] | None:
        action = self._next_action(path)
        if action is not None and action[0] == "hang":
            import asyncio

            await asyncio.sleep(action[1])
        if request.query_params.get("access_token") not in self.valid_tokens:
            return {"errcode": token_error, "errmsg": "invalid credential"}
        if action is not None and action[0] == "errcode":
            code, msg = action[1]
            return {"errcode": code, "errmsg": msg}
        return None

    async def _custom(self, request: Request) -> Response:
        answer = await self._scripted("message/custom/send", 40001, request)
        if answer is None and self.enforce_window:
            body = await request.json()
            openid = str(body.get("touser"))
            with self._lock:
                wrote = self.last_wrote.get(openid)
                if wrote is None or self.clock() - wrote > WINDOW_SECONDS:
                    answer = {"errcode": 45015, "errmsg": "response out of time limit"}
                elif self.free_used.get(openid, 0) >= self.budget:
                    answer = {"errcode": 45047, "errmsg": "out of response count limit"}
                else:
                    self.free_used[openid] = self.free_used.get(openid, 0) + 1
        return await self._record("wechat", "message/custom/send", request,
                                  answer or {"errcode": 0, "errmsg": "ok"})

    async def _qrcode(self, request: Request) -> Response:
        """A temporary parametric QR code (QR_STR_SCENE): WeChat answers a ticket and the
        URL its image encodes; scanning it sends EventKey qrscene_<scene> (or SCAN)."""
        answer = await self._scripted("qrcode/create", 40001, request)
        if answer is None:
            body = await request.json()
            scene = ((body.get("action_info") or {}).get("scene") or {}).get("scene_str")
            seconds = body.get("expire_seconds")
            if body.get("action_name") != "QR_STR_SCENE" or not scene or len(scene) > 64:
                answer = {"errcode": 40097, "errmsg": "invalid args"}
            elif not isinstance(seconds, int) or not 60 <= seconds <= 2_592_000:
                answer = {"errcode": 40097, "errmsg": "invalid expire_seconds"}
            else:
                ticket = f"gQ{next(self._counter)}" + "".join(
                    random.choices(string.ascii_letters, k=12))
                with self._lock:
                    self.qr_scenes[ticket] = str(scene)
                answer = {"ticket": ticket, "expire_seconds": seconds,
                          "url": f"http://weixin.qq.com/q/{ticket}"}
        return await self._record("wechat", "qrcode/create", request, answer)

    async def _menu(self, request: Request) -> Response:
        """menu/create: at most 3 top-level buttons of at most 5 sub-buttons each."""
        answer = await self._scripted("menu/create", 40001, request)
        if answer is None:
            body = await request.json()
            buttons = body.get("button") or []
            if not 1 <= len(buttons) <= 3 or any(
                    len(b.get("sub_button") or []) > 5 or not b.get("name") for b in buttons):
                answer = {"errcode": 40017, "errmsg": "invalid button size"}
            else:
                with self._lock:
                    self.menu = body
                answer = {"errcode": 0, "errmsg": "ok"}
        return await self._record("wechat", "menu/create", request, answer)

    async def _template(self, request: Request) -> Response:
        answer = await self._scripted("message/template/send", 40001, request)
        answer = answer or {"errcode": 0, "errmsg": "ok", "msgid": next(self._counter)}
        return await self._record("wechat", "message/template/send", request, answer)

    async def _wecom_send(self, request: Request) -> Response:
        answer = await self._scripted("message/send", 42001, request)
        answer = answer or {"errcode": 0, "errmsg": "ok", "invaliduser": "",
                            "msgid": f"wm-{next(self._counter)}"}
        return await self._record("wecom", "message/send", request, answer)


# --- the platforms' side of the callbacks ------------------------------------------------------

def sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def nonce() -> str:
    return "".join(random.choices(string.digits, k=10))


@dataclass
class BotReply:
    status: int
    body: str
    xml: dict[str, Any] | None = None  # the (decrypted) passive reply

    @property
    def content(self) -> str | None:
        return None if self.xml is None else self.xml.get("Content")


class WeChatUser:
    """WeChat's servers delivering users' messages to the bot's /wechat endpoint."""

    def __init__(self, bot_url: str, *, token: str = TOKEN, app_id: str = APP_ID,
                 aes_key: str | None = None, account: str = "gh_fakeaccount",
                 platform: FakePlatform | None = None, path: str = "/wechat",
                 clock: Callable[[], float] = time.time, timeout: float = 10.0) -> None:
        self.url = bot_url.rstrip("/") + path
        self.token = token
        self.app_id = app_id
        self.crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None
        self.account = account
        self.platform = platform
        self.clock = clock
        self.http = httpx.Client(timeout=timeout)
        self._msg_ids = itertools.count(random.randrange(10**15, 9 * 10**15))

    @property
    def safe(self) -> bool:
        return self.crypto is not None

    def close(self) -> None:
        self.http.close()

    # -- the wire
    def params(self, timestamp: str, nonce_: str, encrypted: str | None = None,
               openid: str | None = None) -> dict[str, str]:
        q = {"signature": sign(self.token, timestamp, nonce_), "timestamp": timestamp,
             "nonce": nonce_}
        if openid:
            q["openid"] = openid
        if encrypted is not None:
            q["encrypt_type"] = "aes"
            q["msg_signature"] = sign(self.token, timestamp, nonce_, encrypted)
        return q

    def post_xml(self, xml: str | bytes, *, openid: str | None = None,
                 timestamp: str | None = None, nonce_: str | None = None,
                 params: dict[str, str] | None = None, encrypt: bool | None = None,
                 headers: dict[str, str] | None = None) -> BotReply:
        ts = timestamp or str(int(self.clock()))
        nc = nonce_ or nonce()
        encrypt = self.safe if encrypt is None else encrypt
        if encrypt:
            assert self.crypto is not None
            text = xml.decode("utf-8", "replace") if isinstance(xml, bytes) else xml
            envelope = xmltodict.parse(self.crypto.encrypt_message(text, nc, ts))["xml"]
            encrypted = envelope["Encrypt"]
            body: bytes = (f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName>"
                           f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>").encode()
            q = self.params(ts, nc, encrypted, openid)
        else:
            body = xml.encode("utf-8") if isinstance(xml, str) else xml
            q = self.params(ts, nc, None, openid)
        if params:
            q.update(params)
        resp = self.http.post(self.url, params=q, content=body,
                              headers={"Content-Type": "text/xml", **(headers or {})})
        return self._reply(resp, ts, nc)

    def _reply(self, resp: httpx.Response, ts: str, nc: str) -> BotReply:
        text = resp.text
        if resp.status_code != 200 or not text.strip().startswith("<xml"):
            return BotReply(resp.status_code, text)
        parsed = xmltodict.parse(text)["xml"]
        if "Encrypt" in parsed:
            assert self.crypto is not None, "encrypted reply in plain mode"
            # wechatpy checks MsgSignature and decrypts, as WeChat does.
            plain = self.crypto.decrypt_message(text, parsed["MsgSignature"],
                                                parsed["TimeStamp"], parsed["Nonce"])
            parsed = xmltodict.parse(plain)["xml"]
        return BotReply(resp.status_code, text, dict(parsed))

    def verify(self, echostr: str = "echo-123", **overrides: str) -> httpx.Response:
        ts = str(int(self.clock()))
        nc = nonce()
        q = {"signature": sign(self.token, ts, nc), "timestamp": ts, "nonce": nc,
             "echostr": echostr, **overrides}
        return self.http.get(self.url, params=q)

    # -- users' actions
    def _envelope(self, openid: str, msg_type: str, inner: str, create_time: int | None = None
                  ) -> str:
        ct = int(self.clock()) if create_time is None else create_time
        return (f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName>"
                f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
                f"<CreateTime>{ct}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
                f"{inner}</xml>")

    def _wrote(self, openid: str) -> None:
        if self.platform is not None:
            self.platform.user_wrote(openid)

    def next_msg_id(self) -> int:
        return next(self._msg_ids)

    def text(self, openid: str, content: str, msg_id: int | None = None) -> BotReply:
        mid = msg_id if msg_id is not None else self.next_msg_id()
        self._wrote(openid)
        return self.post_xml(self._envelope(
            openid, "text", f"<Content><![CDATA[{content}]]></Content><MsgId>{mid}</MsgId>"),
            openid=openid)

    def menu_click(self, openid: str, menu_id: str, content: str) -> BotReply:
        self._wrote(openid)
        return self.post_xml(self._envelope(
            openid, "text", f"<Content><![CDATA[{content}]]></Content>"
            f"<MsgId>{self.next_msg_id()}</MsgId><bizmsgmenuid>{menu_id}</bizmsgmenuid>"),
            openid=openid)

    def voice(self, openid: str, recognition: str | None) -> BotReply:
        self._wrote(openid)
        rec = "" if recognition is None else f"<Recognition><![CDATA[{recognition}]]></Recognition>"
        return self.post_xml(self._envelope(
            openid, "voice", f"<MediaId><![CDATA[media-{self.next_msg_id()}]]></MediaId>"
            f"<Format><![CDATA[amr]]></Format>{rec}<MsgId>{self.next_msg_id()}</MsgId>"),
            openid=openid)

    def image(self, openid: str, media_id: str = "m1") -> BotReply:
        self._wrote(openid)
        return self.post_xml(self._envelope(
            openid, "image", "<PicUrl><![CDATA[http://example.invalid/p.jpg]]></PicUrl>"
            f"<MediaId><![CDATA[{media_id}]]></MediaId><MsgId>{self.next_msg_id()}</MsgId>"),
            openid=openid)

    def message(self, openid: str, msg_type: str, inner: str, msg_id: int | None = None
                ) -> BotReply:
        """Any other message type, with its own fields (`inner`) and a MsgId."""
        self._wrote(openid)
        mid = msg_id if msg_id is not None else self.next_msg_id()
        return self.post_xml(self._envelope(openid, msg_type, f"{inner}<MsgId>{mid}</MsgId>"),
                             openid=openid)

    def location(self, openid: str, lat: float, lon: float, label: str = "") -> BotReply:
        return self.message(openid, "location", f"<Location_X>{lat}</Location_X>"
                            f"<Location_Y>{lon}</Location_Y><Scale>15</Scale>"
                            f"<Label><![CDATA[{label}]]></Label>")

    def event(self, openid: str, event: str, key: str | None = None,
              create_time: int | None = None, inner: str = "") -> BotReply:
        if event.lower() in ("subscribe", "scan", "click"):
            self._wrote(openid)
        fields = f"<Event><![CDATA[{event}]]></Event>"
        if key is not None:
            fields += f"<EventKey><![CDATA[{key}]]></EventKey>"
        return self.post_xml(self._envelope(openid, "event", fields + inner, create_time),
                             openid=openid)

    def subscribe(self, openid: str, scene: str | None = None) -> BotReply:
        return self.event(openid, "subscribe", f"qrscene_{scene}" if scene else "")

    def scan(self, openid: str, scene: str) -> BotReply:
        return self.event(openid, "SCAN", scene)

    def unsubscribe(self, openid: str) -> BotReply:
        return self.event(openid, "unsubscribe", "")


class WeComUser:
    """WeCom's servers delivering members' messages to the bot's /wecom endpoint."""

    def __init__(self, bot_url: str, *, token: str = TOKEN, corp_id: str = CORP_ID,
                 aes_key: str = AES_KEY, agent_id: int = AGENT_ID, path: str = "/wecom",
                 clock: Callable[[], float] = time.time) -> None:
        self.url = bot_url.rstrip("/") + path
        self.token = token
        self.corp_id = corp_id
        self.agent_id = agent_id
        self.crypto = WorkCrypto(token, aes_key, corp_id)
        self.clock = clock
        self.http = httpx.Client(timeout=10.0)
        self._ids = itertools.count(random.randrange(10**15, 9 * 10**15))

    def close(self) -> None:
        self.http.close()

    def verify(self, echostr_plain: str = "wecom-echo-42") -> httpx.Response:
        ts, nc = str(int(self.clock())), nonce()
        envelope = xmltodict.parse(self.crypto.encrypt_message(echostr_plain, nc, ts))["xml"]
        echostr = envelope["Encrypt"]
        return self.http.get(self.url, params={
            "msg_signature": sign(self.token, ts, nc, echostr), "timestamp": ts,
            "nonce": nc, "echostr": echostr})

    def post_xml(self, xml: str, *, forge: bool = False, timestamp: str | None = None
                 ) -> httpx.Response:
        ts, nc = timestamp or str(int(self.clock())), nonce()
        envelope = xmltodict.parse(self.crypto.encrypt_message(xml, nc, ts))["xml"]
        encrypted = envelope["Encrypt"]
        body = (f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
                f"<AgentID><![CDATA[{self.agent_id}]]></AgentID>"
                f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
        sig = sign(self.token, ts, nc, encrypted)
        if forge:
            sig = sign("wrong-token", ts, nc, encrypted)
        return self.http.post(self.url, params={"msg_signature": sig, "timestamp": ts,
                                                "nonce": nc}, content=body.encode())

    def _envelope(self, userid: str, msg_type: str, inner: str,
                  create_time: int | None = None) -> str:
        ct = int(self.clock()) if create_time is None else create_time
        return (f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
                f"<FromUserName><![CDATA[{userid}]]></FromUserName>"
                f"<CreateTime>{ct}</CreateTime>"
                f"<MsgType><![CDATA[{msg_type}]]></MsgType>{inner}"
                f"<AgentID>{self.agent_id}</AgentID></xml>")

    def text(self, userid: str, content: str, msg_id: int | None = None) -> httpx.Response:
        mid = msg_id if msg_id is not None else next(self._ids)
        return self.post_xml(self._envelope(
            userid, "text", f"<Content><![CDATA[{content}]]></Content><MsgId>{mid}</MsgId>"))

    def message(self, userid: str, msg_type: str, inner: str) -> httpx.Response:
        """Any other message type, with its own fields (`inner`) and a MsgId."""
        return self.post_xml(self._envelope(
            userid, msg_type, f"{inner}<MsgId>{next(self._ids)}</MsgId>"))

    def event(self, userid: str, event: str, key: str | None = None,
              create_time: int | None = None) -> httpx.Response:
        """An event: no MsgId, so WeCom's retries are told apart by CreateTime."""
        inner = f"<Event><![CDATA[{event}]]></Event>"
        if key is not None:
            inner += f"<EventKey><![CDATA[{key}]]></EventKey>"
        return self.post_xml(self._envelope(userid, "event", inner, create_time))

    def click(self, userid: str, key: str, create_time: int | None = None) -> httpx.Response:
        return self.event(userid, "click", key, create_time)

    def card_button(self, userid: str, key: str, task_id: str) -> httpx.Response:
        return self.post_xml(self._envelope(
            userid, "event", "<Event><![CDATA[template_card_event]]></Event>"
            f"<EventKey><![CDATA[{key}]]></EventKey><TaskId><![CDATA[{task_id}]]></TaskId>"
            "<CardType><![CDATA[button_interaction]]></CardType>"
            "<ResponseCode><![CDATA[rc-1]]></ResponseCode>"))


# --- a stand-in for bot.chat.service.Core, for endpoint tests -----------------------------------

@dataclass(frozen=True)
class FakeHandled:
    inline: Any
    duplicate: bool


@dataclass
class FakeCore:
    """Records what the endpoint hands to the core; answers with `reply(incoming)`."""

    reply: Callable[[Any], Any] | None = None
    delay: float = 0.0
    error: BaseException | None = None
    calls: list[tuple[Any, bool]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def handle(self, incoming: Any, *, inline: bool = False) -> FakeHandled:
        if self.delay:
            time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        self.calls.append((incoming, inline))
        key = f"{incoming.address.platform}:{incoming.msg_id}"
        if key in self.seen:
            return FakeHandled(None, True)
        self.seen.add(key)
        out = self.reply(incoming) if self.reply is not None else None
        return FakeHandled(out if inline else None, False)

    @property
    def incomings(self) -> list[Any]:
        return [inc for inc, _ in self.calls]


# --- helpers for scripts that may not import wechatpy themselves (bench) ------------------

def encrypt_as_wechat(xml: str, nonce_: str, timestamp: str, *, token: str = TOKEN,
                      aes_key: str = AES_KEY, app_id: str = APP_ID) -> str:
    """The Encrypt value WeChat would put in a safe-mode callback for `xml`."""
    env = WeChatCrypto(token, aes_key, app_id).encrypt_message(xml, nonce_, timestamp)
    return str(xmltodict.parse(env)["xml"]["Encrypt"])


def open_passive_reply(body: str, *, token: str = TOKEN, aes_key: str = AES_KEY,
                       app_id: str = APP_ID) -> dict[str, Any]:
    """Check and decrypt an encrypted passive reply as WeChat does; its fields."""
    env = xmltodict.parse(body)["xml"]
    plain = WeChatCrypto(token, aes_key, app_id).decrypt_message(
        body, env["MsgSignature"], env["TimeStamp"], env["Nonce"])
    return dict(xmltodict.parse(plain)["xml"])
