"""A local fake Telegram Bot API: the real JSON of the methods visitbot calls.

`python-telegram-bot` is pointed at it with `base_url`. It records every call, can fail
the next calls of a method with 429 (with `retry_after`) or 500, holds updates for
getUpdates (long polling) and builds updates as Telegram would send them (messages,
callback queries) for the webhook tests.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.wechat_server import ServerThread

TOKEN = "123456:TEST-token"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "探访助手", "username": "visitbot_test"}


@dataclass
class TgCall:
    method: str
    params: dict[str, Any]


@dataclass
class FakeTelegram:
    calls: list[TgCall] = field(default_factory=list)
    failures: dict[str, list[tuple[int, int | None]]] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)
    ids: Any = field(default_factory=lambda: itertools.count(1000))
    update_ids: Any = field(default_factory=lambda: itertools.count(5000))
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ServerThread | None = None

    # --- control ------------------------------------------------------------------------

    def start(self) -> FakeTelegram:
        self.server = ServerThread(Starlette(routes=[
            Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"])])).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop()

    @property
    def base_url(self) -> str:
        assert self.server
        return f"{self.server.url}/bot"

    def fail(self, method: str, status: int, times: int = 1, retry_after: int | None = None
             ) -> None:
        self.failures.setdefault(method, []).extend([(status, retry_after)] * times)

    def sent(self, method: str = "sendMessage", chat_id: int | None = None) -> list[TgCall]:
        with self.lock:
            return [c for c in self.calls if c.method == method and (
                chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)]

    # --- what Telegram sends ------------------------------------------------------------

    def text_update(self, chat_id: int, text: str, chat_type: str = "private",
                    kind: str = "message") -> dict[str, Any]:
        return {"update_id": next(self.update_ids), kind: {
            "message_id": next(self.ids), "date": int(time.time()), "text": text,
            "chat": {"id": chat_id, "type": chat_type},
            "from": {"id": chat_id, "is_bot": False, "first_name": "用户"}}}

    def sticker_update(self, chat_id: int) -> dict[str, Any]:
        u = self.text_update(chat_id, "")
        del u["message"]["text"]
        u["message"]["sticker"] = {"file_id": "stk", "file_unique_id": "stk-u", "width": 512,
                                   "height": 512, "is_animated": False, "is_video": False,
                                   "type": "regular"}
        return u

    def button_update(self, chat_id: int, data: str, message_id: int) -> dict[str, Any]:
        return {"update_id": next(self.update_ids), "callback_query": {
            "id": f"cq{next(self.ids)}", "chat_instance": "ci", "data": data,
            "from": {"id": chat_id, "is_bot": False, "first_name": "用户"},
            "message": {"message_id": message_id, "date": int(time.time()),
                        "chat": {"id": chat_id, "type": "private"}, "text": "…"}}}

    def push(self, update: dict[str, Any]) -> None:
        with self.lock:
            self.updates.append(update)

    # --- the API ------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        if request.path_params["token"] != TOKEN:
            return JSONResponse({"ok": False, "error_code": 401,
                                 "description": "Unauthorized"}, status_code=401)
        params = await self._params(request)
        with self.lock:
            self.calls.append(TgCall(method, params))
            queued = self.failures.get(method)
            failure = queued.pop(0) if queued else None
        if failure is not None:
            status, retry = failure
            body: dict[str, Any] = {"ok": False, "error_code": status,
                                    "description": "Too Many Requests" if status == 429
                                    else "Forbidden: bot was blocked by the user"
                                    if status == 403 else "Internal Server Error"}
            if retry is not None:
                body["parameters"] = {"retry_after": retry}
            return JSONResponse(body, status_code=status)
        if method == "getUpdates":
            return await self._get_updates(params)
        return JSONResponse({"ok": True, "result": self._result(method, params)})

    async def _params(self, request: Request) -> dict[str, Any]:
        kind = request.headers.get("content-type", "")
        body = await request.body()
        if "json" in kind:
            return dict(json.loads(body or b"{}"))
        pairs: list[tuple[str, Any]]
        if kind.startswith("multipart/"):  # sendDocument: parsed as the MIME it is
            msg = BytesParser(policy=policy.HTTP).parsebytes(
                f"Content-Type: {kind}\r\n\r\n".encode() + body)
            pairs = [(part.get_param("name", header="content-disposition"),
                      {"filename": part.get_filename()} if part.get_filename()
                      else part.get_payload(decode=True).decode("utf-8"))
                     for part in msg.iter_parts()]
        else:
            pairs = parse_qsl(body.decode(), keep_blank_values=True)
        out: dict[str, Any] = {}
        for k, v in pairs:
            out[k] = _maybe_json(v)
        return out

    async def _get_updates(self, params: dict[str, Any]) -> JSONResponse:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 2.0)
        while True:
            with self.lock:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                ready = list(self.updates)
            if ready or time.monotonic() >= deadline:
                return JSONResponse({"ok": True, "result": ready})
            await asyncio.sleep(0.02)

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method in ("sendMessage", "sendDocument", "editMessageText"):
            msg: dict[str, Any] = {
                "message_id": next(self.ids), "date": int(time.time()),
                "chat": {"id": int(params.get("chat_id", 0)), "type": "private"},
                "from": BOT_USER}
            if "text" in params:
                msg["text"] = params["text"]
            if params.get("reply_markup"):
                msg["reply_markup"] = params["reply_markup"]
            if method == "sendDocument":
                msg["document"] = {"file_id": "doc", "file_unique_id": "doc-u"}
            return msg
        return True


def _maybe_json(v: Any) -> Any:
    """reply_markup and the like arrive as JSON text inside a form."""
    if isinstance(v, str) and v[:1] in "{[":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v
