"""A fake Telegram Bot API server that speaks the real JSON over real HTTP.

`FakeTelegram` serves `/bot<token>/<method>` (Starlette + uvicorn in a thread on a free
127.0.0.1 port): getMe, getUpdates (long poll with offset and timeout), sendMessage,
editMessageText, editMessageReplyMarkup, answerCallbackQuery, setWebhook,
deleteWebhook, getWebhookInfo, setMyCommands, getMyCommands, sendDocument and getFile.
Parameters are taken as JSON, form-urlencoded or multipart, as the Bot API accepts.
It records every call, keeps each chat's messages (edits applied), refuses what Telegram
refuses (callback data over 64 bytes, unknown or repeated callback query answers,
editing a message that is not the bot's) and fails with 429/500/403 on demand.

`TgUser` plays a person in a private chat: it builds updates (text, button presses,
photos, locations, stickers, edits) and has the fake deliver them, by webhook (POST
with the secret token header; a method in the response is executed as Telegram does)
or into the getUpdates queue.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.wechat_server import ServerThread

TOKEN = "7000001:AAFakeTelegramToken-for_tests"
BOT_ID = 7000001
BOT_USERNAME = "visitbot_test_bot"
WEBHOOK_SECRET = "fake-webhook-secret_1"
JSON_FIELDS = ("reply_markup", "allowed_updates", "commands", "scope", "entities",
               "link_preview_options", "reply_parameters")

__all__ = ["BOT_ID", "TOKEN", "WEBHOOK_SECRET", "ApiError", "Call", "FakeTelegram",
           "ServerThread", "TgUser"]


class ApiError(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": False, "error_code": self.status,
                               "description": self.description}
        if self.retry_after is not None:
            out["parameters"] = {"retry_after": self.retry_after}
        return out


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    ok: bool
    result: Any
    via: str = "http"  # "http", or "webhook" for a method in a webhook response
    at: float = field(default_factory=time.time)


@dataclass
class FakeTelegram:
    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    chats: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    webhook: dict[str, Any] | None = None
    commands: list[dict[str, Any]] = field(default_factory=list)
    blocked: set[int] = field(default_factory=set)
    confirmed: int = 0  # the highest update_id getUpdates was told to forget
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    _queue: list[dict[str, Any]] = field(default_factory=list)
    _failures: dict[str, list[ApiError]] = field(default_factory=dict)
    _open_queries: set[str] = field(default_factory=set)
    _answered: set[str] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(500_000))
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _server: ServerThread | None = None
    _http: httpx.Client | None = None

    # -- lifecycle
    def start(self) -> FakeTelegram:
        self._server = ServerThread(self.app()).start()
        self._http = httpx.Client(timeout=30)
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return self._server.url

    @property
    def base_url(self) -> str:
        """For VISITBOT_TELEGRAM_BASE_URL: python-telegram-bot appends the token."""
        return self.url + "/bot"

    @property
    def base_file_url(self) -> str:
        return self.url + "/file/bot"

    # -- scripting
    def fail(self, method: str, status: int = 429, *, retry_after: int | None = None,
             description: str | None = None, times: int = 1) -> None:
        """The next `times` calls of `method` fail with this HTTP status."""
        if status == 429 and retry_after is None:
            retry_after = 3
        text = description or {429: f"Too Many Requests: retry after {retry_after}",
                               403: "Forbidden: bot was blocked by the user",
                               500: "Internal Server Error"}.get(status, "Bad Request")
        with self._lock:
            self._failures.setdefault(method, []).extend(
                [ApiError(status, text, retry_after if status == 429 else None)] * times)

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: every send to them is 403 from now on."""
        with self._lock:
            self.blocked.add(chat_id)

    # -- what happened
    def sent(self, method: str, ok_only: bool = True) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and (c.ok or not ok_only)]

    def messages(self, chat_id: int, *, from_bot: bool = True) -> list[dict[str, Any]]:
        """Copies of the chat's messages as they are now (edits applied)."""
        with self._lock:
            return [_copy(m) for m in self.chats.get(chat_id, [])
                    if not from_bot or m["from"]["id"] == BOT_ID]

    def last_message(self, chat_id: int) -> dict[str, Any] | None:
        mine = self.messages(chat_id)
        return mine[-1] if mine else None

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        with self._lock:
            found = self._find(chat_id, message_id)
            return _copy(found) if found is not None else None

    def _find(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        return next((m for m in self.chats.get(chat_id, []) if m["message_id"] == message_id),
                    None)

    def answered(self, query_id: str) -> bool:
        with self._lock:
            return query_id in self._answered

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 15.0,
                 what: str = "condition") -> Any:
        """Poll until `predicate()` is truthy (for work done on other threads)."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.01)

    def wait_consumed(self, update_id: int, timeout: float = 15.0) -> None:
        """Until a getUpdates call confirmed `update_id` (the bot handled it)."""
        self.wait_for(lambda: self.confirmed >= update_id, timeout,
                      f"update {update_id} to be confirmed")

    # -- delivering updates
    def next_update_id(self) -> int:
        return next(self._update_ids)

    def deliver(self, update: dict[str, Any], *, secret: str | None = None,
                body: bytes | None = None) -> httpx.Response | None:
        """By webhook if one is set (returns the bot's HTTP response), else queued."""
        request = self.webhook_request(update, secret=secret, body=body)
        if request is None:
            return None
        assert self._http is not None
        url, headers, content = request
        resp = self._http.post(url, content=content, headers=headers)
        self.webhook_answered(resp.status_code, resp.content)
        return resp

    def webhook_request(self, update: dict[str, Any], *, secret: str | None = None,
                        body: bytes | None = None
                        ) -> tuple[str, dict[str, str], bytes] | None:
        """(url, headers, body) of the POST that delivers `update` to the webhook, for a
        caller with its own HTTP client; None (queued for getUpdates) without a webhook."""
        if "callback_query" in update:
            with self._lock:
                self._open_queries.add(update["callback_query"]["id"])
        with self._lock:
            hook = dict(self.webhook) if self.webhook else None
            if hook is None:
                self._queue.append(update)
                return None
        headers = {"Content-Type": "application/json"}
        token = hook.get("secret_token") if secret is None else secret
        if token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        content = body if body is not None else json.dumps(update, ensure_ascii=False).encode()
        return hook["url"], headers, content

    def webhook_answered(self, status: int, content: bytes) -> None:
        """Run the Bot API method the bot put in its webhook response, as Telegram does."""
        if status == 200 and content.strip():
            answer = json.loads(content)
            if isinstance(answer, dict) and answer.get("method"):
                params = {k: v for k, v in answer.items() if k != "method"}
                self.call(answer["method"], params, via="webhook")

    def note_message(self, message: dict[str, Any]) -> None:
        """A user's message, as Telegram stores it in the chat."""
        with self._lock:
            self.chats.setdefault(message["chat"]["id"], []).append(message)

    def new_message_id(self) -> int:
        return next(self._ids)

    # -- the API
    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"]),
            Route("/file/bot{token}/{path:path}", self._file, methods=["GET"]),
        ])

    async def _endpoint(self, request: Request) -> JSONResponse:
        token, method = request.path_params["token"], request.path_params["method"]
        if token != self.token:
            return JSONResponse({"ok": False, "error_code": 401,
                                 "description": "Unauthorized"}, status_code=401)
        params = await _params(request)
        if method == "getUpdates":
            return await self._get_updates(params)
        status, body = self.call(method, params)
        return JSONResponse(body, status_code=status)

    async def _file(self, request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    def call(self, method: str, params: dict[str, Any], *, via: str = "http"
             ) -> tuple[int, dict[str, Any]]:
        """Run one Bot API method: (HTTP status, JSON answer), recorded."""
        with self._lock:
            queue = self._failures.get(method)
            try:
                if queue:
                    raise queue.pop(0)
                handler = getattr(self, f"_m_{method}", None)
                if handler is None:
                    raise ApiError(404, "Not Found")
                result = handler(params)
            except ApiError as err:
                self.calls.append(Call(method, params, False, err.body(), via))
                return err.status, err.body()
            self.calls.append(Call(method, params, True, result, via))
            return 200, {"ok": True, "result": result}

    async def _get_updates(self, params: dict[str, Any]) -> JSONResponse:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        with self._lock:
            if self.webhook:
                err = ApiError(409, "Conflict: can't use getUpdates method while webhook "
                                    "is active; use deleteWebhook to delete the webhook first")
                self.calls.append(Call("getUpdates", params, False, err.body()))
                return JSONResponse(err.body(), status_code=409)
            queue = self._failures.get("getUpdates")
            if queue:
                err = queue.pop(0)
                self.calls.append(Call("getUpdates", params, False, err.body()))
                return JSONResponse(err.body(), status_code=err.status)
            if offset:
                # as Telegram does: an offset confirms every update before it
                self._queue = [u for u in self._queue if u["update_id"] >= offset]
                self.confirmed = max(self.confirmed, offset - 1)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                ready = self._queue[:limit]
            if ready or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.01)
        with self._lock:
            self.calls.append(Call("getUpdates", params, True, ready))
        return JSONResponse({"ok": True, "result": ready})

    # -- methods (called under the lock)
    def _m_getMe(self, p: dict[str, Any]) -> dict[str, Any]:
        return _bot_user() | {"can_join_groups": False, "can_read_all_group_messages": False,
                              "supports_inline_queries": False}

    def _m_setWebhook(self, p: dict[str, Any]) -> bool:
        url = str(p.get("url") or "")
        if not url:
            self.webhook = None
            return True
        secret = p.get("secret_token")
        if secret is not None and not (1 <= len(str(secret)) <= 256):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = {"url": url, "secret_token": secret,
                        "allowed_updates": p.get("allowed_updates")}
        return True

    def _m_deleteWebhook(self, p: dict[str, Any]) -> bool:
        self.webhook = None
        if str(p.get("drop_pending_updates", "")).lower() in ("true", "1"):
            self._queue.clear()
        return True

    def _m_getWebhookInfo(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"url": (self.webhook or {}).get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self._queue)}

    def _m_setMyCommands(self, p: dict[str, Any]) -> bool:
        commands = p.get("commands") or []
        for c in commands:
            if not (1 <= len(c.get("command", "")) <= 32) or not c.get("description"):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        self.commands = list(commands)
        return True

    def _m_getMyCommands(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        return list(self.commands)

    def _m_sendMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(p)
        text = str(p.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return self._store(chat_id, {"text": text}, p.get("reply_markup"))

    def _m_sendDocument(self, p: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(p)
        doc = p.get("document")
        if not isinstance(doc, dict):
            raise ApiError(400, "Bad Request: there is no document in the request")
        file_id = f"doc-{self.new_message_id()}"
        self.files[file_id] = {"file_id": file_id, "file_unique_id": file_id,
                               "file_size": len(doc["content"]), "file_path": doc["filename"]}
        extra: dict[str, Any] = {"document": {"file_id": file_id, "file_unique_id": file_id,
                                              "file_name": doc["filename"],
                                              "file_size": len(doc["content"])}}
        if p.get("caption"):
            extra["caption"] = str(p["caption"])
        return self._store(chat_id, extra, p.get("reply_markup"))

    def _m_editMessageText(self, p: dict[str, Any]) -> dict[str, Any]:
        msg = self._own_message(p)
        text = str(p.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        markup = _markup(p.get("reply_markup"))
        if msg.get("text") == text and msg.get("reply_markup") == markup:
            raise ApiError(400, "Bad Request: message is not modified")
        msg["text"] = text
        _set_markup(msg, markup)
        msg["edit_date"] = int(time.time())
        return msg

    def _m_editMessageReplyMarkup(self, p: dict[str, Any]) -> dict[str, Any]:
        msg = self._own_message(p)
        markup = _markup(p.get("reply_markup"))
        if msg.get("reply_markup") == markup:
            raise ApiError(400, "Bad Request: message is not modified")
        _set_markup(msg, markup)
        msg["edit_date"] = int(time.time())
        return msg

    def _m_answerCallbackQuery(self, p: dict[str, Any]) -> bool:
        qid = str(p.get("callback_query_id") or "")
        if qid not in self._open_queries or qid in self._answered:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired "
                                "or query ID is invalid")
        self._answered.add(qid)
        return True

    def _m_getFile(self, p: dict[str, Any]) -> dict[str, Any]:
        info = self.files.get(str(p.get("file_id") or ""))
        if info is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return dict(info)

    def _chat(self, p: dict[str, Any]) -> int:
        try:
            chat_id = int(p.get("chat_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _own_message(self, p: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(p)
        msg = self._find(chat_id, int(p.get("message_id") or 0))
        if msg is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if msg["from"]["id"] != BOT_ID:
            raise ApiError(400, "Bad Request: message can't be edited")
        return msg

    def _store(self, chat_id: int, content: dict[str, Any], markup: Any) -> dict[str, Any]:
        msg: dict[str, Any] = {"message_id": self.new_message_id(), "date": int(time.time()),
                               "chat": _private_chat(chat_id), "from": _bot_user(), **content}
        _set_markup(msg, _markup(markup))
        self.chats.setdefault(chat_id, []).append(msg)
        return msg


def _copy(value: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(value))


def _markup(raw: Any) -> dict[str, Any] | None:
    """Validate an inline keyboard as Telegram does; None for no (or an empty) keyboard."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        raw = json.loads(raw)
    rows = raw.get("inline_keyboard")
    if rows is None:
        raise ApiError(400, "Bad Request: unsupported reply markup")
    for row in rows:
        for button in row:
            data = button.get("callback_data")
            if not button.get("text"):
                raise ApiError(400, "Bad Request: BUTTON_TEXT_EMPTY")
            if data is not None and not 1 <= len(data.encode("utf-8")) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return raw if any(rows) else None


def _set_markup(msg: dict[str, Any], markup: dict[str, Any] | None) -> None:
    if markup is None:
        msg.pop("reply_markup", None)
    else:
        msg["reply_markup"] = markup


def _bot_user() -> dict[str, Any]:
    return {"id": BOT_ID, "is_bot": True, "first_name": "探访助手", "username": BOT_USERNAME}


def _private_chat(chat_id: int, first_name: str = "用户") -> dict[str, Any]:
    return {"id": chat_id, "type": "private", "first_name": first_name}


async def _params(request: Request) -> dict[str, Any]:
    """Bot API parameters from a query string, JSON, form or multipart body."""
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    ctype = request.headers.get("content-type", "")
    if not body:
        return params
    if ctype.startswith("application/json"):
        params.update(json.loads(body))
        return params
    if ctype.startswith("multipart/form-data"):
        head = f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        for part in parsed.iter_parts():
            name = part.get_param("name", header="content-disposition")
            filename = part.get_filename()
            payload = part.get_payload(decode=True) or b""
            if filename:
                params[str(name)] = {"filename": filename, "content": payload}
            else:
                params[str(name)] = payload.decode("utf-8")
    else:
        params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    for key in JSON_FIELDS:  # python-telegram-bot sends these JSON-encoded in a form
        if isinstance(params.get(key), str) and params[key]:
            params[key] = json.loads(params[key])
    return params


# --- the people on the other side ---------------------------------------------------------

@dataclass
class TgUser:
    """A Telegram user in a private chat with the bot."""

    fake: FakeTelegram
    user_id: int
    first_name: str = "用户"
    last: httpx.Response | None = None  # the bot's answer to the last webhook delivery

    def _user(self) -> dict[str, Any]:
        return {"id": self.user_id, "is_bot": False, "first_name": self.first_name,
                "language_code": "zh-hans"}

    def _message(self, chat: dict[str, Any] | None = None, **content: Any) -> dict[str, Any]:
        msg = {"message_id": self.fake.new_message_id(), "date": int(time.time()),
               "chat": chat or _private_chat(self.user_id, self.first_name),
               "from": self._user(), **content}
        self.fake.note_message(msg)
        return msg

    def send(self, update: dict[str, Any], **kw: Any) -> int:
        """Deliver an update; its update_id. The bot's HTTP answer is in `self.last`."""
        self.last = self.fake.deliver(update, **kw)
        return int(update["update_id"])

    def update(self, **content: Any) -> dict[str, Any]:
        return {"update_id": self.fake.next_update_id(), **content}

    def text(self, text: str) -> int:
        entities = []
        if text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0,
                         "length": len(text.split()[0])}]
        return self.send(self.update(message=self._message(
            text=text, **({"entities": entities} if entities else {}))))

    def press(self, message: dict[str, Any], data: str) -> int:
        """Press a button (or forge one, with data the message never had)."""
        return self.send(self.press_update(message, data))

    def press_update(self, message: dict[str, Any], data: str) -> dict[str, Any]:
        query = {"id": f"cq-{self.fake.new_message_id()}", "from": self._user(),
                 "chat_instance": f"ci-{self.user_id}", "message": json.loads(
                     json.dumps(message)), "data": data}
        return self.update(callback_query=query)

    def photo(self, caption: str | None = None) -> int:
        file_id = f"photo-{self.fake.new_message_id()}"
        self.fake.files[file_id] = {"file_id": file_id, "file_unique_id": file_id,
                                    "file_size": 54321, "file_path": f"photos/{file_id}.jpg"}
        sizes = [{"file_id": f"{file_id}-s", "file_unique_id": f"{file_id}-s", "width": 90,
                  "height": 90, "file_size": 1200},
                 {"file_id": file_id, "file_unique_id": file_id, "width": 1280,
                  "height": 960, "file_size": 54321}]
        content: dict[str, Any] = {"photo": sizes}
        if caption:
            content["caption"] = caption
        return self.send(self.update(message=self._message(**content)))

    def album(self, count: int = 3) -> list[int]:
        """Several photos sent at once: one update each, sharing a media_group_id."""
        group = f"album-{self.fake.new_message_id()}"
        return [self.send(self.update(message=self._message(
            photo=self._sizes(), media_group_id=group))) for _ in range(count)]

    def _sizes(self) -> list[dict[str, Any]]:
        file_id = f"photo-{self.fake.new_message_id()}"
        self.fake.files[file_id] = {"file_id": file_id, "file_unique_id": file_id,
                                    "file_size": 54321, "file_path": f"photos/{file_id}.jpg"}
        return [{"file_id": file_id, "file_unique_id": file_id, "width": 1280,
                 "height": 960, "file_size": 54321}]

    def forward(self, text: str) -> int:
        """Another user's message forwarded into this chat (Bot API 7: forward_origin)."""
        origin = {"type": "user", "date": int(time.time()) - 3600, "sender_user": {
            "id": self.user_id + 1, "is_bot": False, "first_name": "别人"}}
        return self.send(self.update(message=self._message(text=text, forward_origin=origin)))

    def voice(self) -> int:
        return self.send(self.update(message=self._message(voice={
            "file_id": "voice-1", "file_unique_id": "v-1", "duration": 3,
            "mime_type": "audio/ogg"})))

    def video(self) -> int:
        return self.send(self.update(message=self._message(video={
            "file_id": "video-1", "file_unique_id": "vd-1", "width": 640, "height": 480,
            "duration": 5})))

    def document(self, name: str = "记录.docx") -> int:
        return self.send(self.update(message=self._message(document={
            "file_id": "doc-in-1", "file_unique_id": "d-1", "file_name": name})))

    def location(self, latitude: float, longitude: float) -> int:
        return self.send(self.update(message=self._message(
            location={"latitude": latitude, "longitude": longitude})))

    def sticker(self) -> int:
        return self.send(self.update(message=self._message(sticker={
            "file_id": "sticker-1", "file_unique_id": "st-1", "type": "regular",
            "width": 512, "height": 512, "is_animated": False, "is_video": False})))

    def edit(self, text: str) -> int:
        original = self._message(text=text)
        return self.send(self.update(edited_message=original | {
            "text": text + "（改）", "edit_date": int(time.time())}))

    def in_group(self, text: str, group_id: int = -100123) -> int:
        chat = {"id": group_id, "type": "supergroup", "title": "村务群"}
        return self.send(self.update(message=self._message(chat=chat, text=text)))
