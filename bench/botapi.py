"""A Bot API for load generators: on the generator's own event loop, counting calls.

tests/fakes/telegram_server.py is the faithful fake (a thread, a lock, every refusal
Telegram makes, inline keyboards only). This one is what a closed loop of a hundred
visitors needs beside it: it runs as a task on the loop that plays the visitors, so a
visitor waits on a future for the bot's next message instead of polling, and it accepts
any reply markup (the hand-written peer uses a reply keyboard). It keeps each chat's
messages (edits applied) and counts every call by method and by how it came: "http"
(the bot called the API) or "webhook" (a method in the webhook's response, run here as
Telegram runs it).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.web.server import listening_socket
from tests.fakes.telegram_server import _params

BOT_ID = 7000001
QUIET = 5.0  # seconds a message without buttons waits for a question to follow it


def bot_user() -> dict[str, Any]:
    return {"id": BOT_ID, "is_bot": True, "first_name": "探访助手", "username": "bench_bot"}


def live_buttons(message: dict[str, Any] | None) -> bool:
    """Whether the message offers buttons (inline, or a reply keyboard)."""
    markup = (message or {}).get("reply_markup") or {}
    return bool(markup.get("inline_keyboard") or markup.get("keyboard"))


class BotApi:
    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: Counter[tuple[str, str]] = Counter()  # (method, "http"|"webhook")
        self.chats: dict[int, dict[int, dict[str, Any]]] = {}  # chat → message id → message
        self.last: dict[int, dict[str, Any]] = {}  # each chat's latest bot message
        self.webhook: dict[str, Any] | None = None
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.url = ""

    # -- lifecycle (on the running loop)
    async def start(self) -> BotApi:
        sock = listening_socket("127.0.0.1", 0)  # TCP_NODELAY on what it accepts
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        app = Starlette(routes=[Route("/bot{token}/{method}", self._endpoint,
                                      methods=["GET", "POST"])])
        # the bot's pooled connections stay open however long it idles between calls
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning",
                                                     lifespan="off", access_log=False,
                                                     timeout_keep_alive=600))
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task

    @property
    def base_url(self) -> str:
        """What python-telegram-bot takes as base_url (it appends the token)."""
        return self.url + "/bot"

    # -- the visitors' side
    def expect(self, chat_id: int) -> asyncio.Future[dict[str, Any]]:
        """A future for the bot's next question in this chat: a message with live buttons,
        new or edited in place (a keyboard taken away is not one, a pressed question
        turned into the next one is); see _arrived."""
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[chat_id] = fut
        return fut

    def new_message_id(self) -> int:
        return next(self._ids)

    def webhook_answered(self, status: int, content: bytes) -> None:
        """Run the Bot API method the bot put in its webhook response, as Telegram does."""
        if status == 200 and content.strip():
            answer = json.loads(content)
            if isinstance(answer, dict) and answer.get("method"):
                params = {k: v for k, v in answer.items() if k != "method"}
                self.call(answer["method"], params, via="webhook")

    def counts(self) -> Counter[tuple[str, str]]:
        return Counter(self.calls)

    # -- the API
    async def _endpoint(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return JSONResponse({"ok": False, "error_code": 401,
                                 "description": "Unauthorized"}, status_code=401)
        params = await _params(request)
        status, body = self.call(request.path_params["method"], params)
        return JSONResponse(body, status_code=status)

    def call(self, method: str, params: dict[str, Any], *, via: str = "http"
             ) -> tuple[int, dict[str, Any]]:
        self.calls[method, via] += 1
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return 200, {"ok": True, "result": True}  # setMyCommands and the like
        result = handler(params)
        if result is None:
            return 400, {"ok": False, "error_code": 400,
                         "description": "Bad Request: message to edit not found"}
        if isinstance(result, dict) and "keyboard" in result.get("reply_markup", {}):
            # a Message carries inline keyboards only: a reply keyboard is not echoed
            result = {k: v for k, v in result.items() if k != "reply_markup"}
        return 200, {"ok": True, "result": result}

    def _m_getMe(self, p: dict[str, Any]) -> dict[str, Any]:
        return bot_user() | {"can_join_groups": False, "can_read_all_group_messages": False,
                             "supports_inline_queries": False}

    def _m_setWebhook(self, p: dict[str, Any]) -> bool:
        self.webhook = {"url": str(p.get("url") or ""), "secret_token": p.get("secret_token")}
        return True

    def _m_sendMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(p["chat_id"])
        msg: dict[str, Any] = {"message_id": self.new_message_id(), "date": int(time.time()),
                               "chat": {"id": chat_id, "type": "private", "first_name": "访"},
                               "from": bot_user(), "text": str(p.get("text") or "")}
        _set_markup(msg, p.get("reply_markup"))
        self.chats.setdefault(chat_id, {})[msg["message_id"]] = msg
        self._arrived(chat_id, msg)
        return msg

    def _m_editMessageText(self, p: dict[str, Any]) -> dict[str, Any] | None:
        msg = self._find(p)
        if msg is not None:
            old, msg["text"] = msg.get("text", ""), str(p.get("text") or "")
            # a new text, not the old one with the choice appended (a retired keyboard),
            # is a message of its own even without buttons: the next question, in place
            self._edited(msg, p.get("reply_markup"), anew=not msg["text"].startswith(old))
        return msg

    def _m_editMessageReplyMarkup(self, p: dict[str, Any]) -> dict[str, Any] | None:
        msg = self._find(p)
        if msg is not None:
            self._edited(msg, p.get("reply_markup"))
        return msg

    def _find(self, p: dict[str, Any]) -> dict[str, Any] | None:
        return self.chats.get(int(p["chat_id"]), {}).get(int(p.get("message_id") or 0))

    def _edited(self, msg: dict[str, Any], markup: Any, anew: bool = False) -> None:
        _set_markup(msg, markup)
        msg["edit_date"] = int(time.time())
        if live_buttons(msg) or anew:
            self._arrived(msg["chat"]["id"], msg)

    def _arrived(self, chat_id: int, msg: dict[str, Any]) -> None:
        """A message with buttons is the next question. One without may be a preamble
        (visitbot's "开始填写…" before the first question) or an answer that ends the walk:
        it counts only if nothing with buttons follows within QUIET seconds."""
        self.last[chat_id] = msg
        fut = self._waiting.get(chat_id)
        if fut is None or fut.done():
            return
        if live_buttons(msg):
            self._resolve(chat_id, fut, msg)
        else:
            asyncio.get_running_loop().call_later(QUIET, self._resolve, chat_id, fut, msg)

    def _resolve(self, chat_id: int, fut: asyncio.Future[dict[str, Any]],
                 msg: dict[str, Any]) -> None:
        if self._waiting.get(chat_id) is fut:
            del self._waiting[chat_id]
        if not fut.done():
            fut.set_result(json.loads(json.dumps(msg)))


def _set_markup(msg: dict[str, Any], markup: Any) -> None:
    if isinstance(markup, str) and markup:
        markup = json.loads(markup)
    if markup and (markup.get("inline_keyboard") or markup.get("keyboard")):
        msg["reply_markup"] = markup
    else:
        msg.pop("reply_markup", None)
