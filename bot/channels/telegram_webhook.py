"""POST /telegram: Telegram's webhook behind the project's own ASGI server.

A request without the secret token we gave setWebhook is refused (403) before its body
is read; a body that is not an update is 400. The database being down is 503, so
Telegram delivers the update again later; every other outcome is 200, or Telegram
would repeat an update we can never handle. The first reply rides back in the HTTP
response as a Bot API method call (sendMessage, or editMessageText of the pressed
message when the reply takes its place: the next question, with what was chosen at its
top, or the same question after a toggle), its outbox row already marked sent by the core.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

import orjson
from starlette.routing import Route
from telegram import Update
from telegram.error import TelegramError

from bot.channels.telegram_api import (
    ALLOWED_UPDATES,
    SECRET_TOKEN,
    TEXT_MAX_CHARS,
    CallbackTooLong,
    TelegramApi,
    keyboard_rows,
    secret,
    shown_text,
)
from bot.channels.telegram_channel import TelegramChannel
from bot.channels.telegram_handler import Done, HandlesIncoming, UpdateHandler
from bot.channels.telegram_parse import parse_plain
from bot.settings import Settings
from bot.web.raw_asgi import (
    RawEndpoint,
    Receive,
    Scope,
    Send,
    Unread,
    header,
    read_body,
    respond,
    respond_json,
)
from conversations.messages import Address, Outgoing
from store.db import DatabaseUnavailable

log = logging.getLogger(__name__)

PATH = "/telegram"
MAX_BODY = 256 * 1024  # updates are a few KB; anything near this is not from Telegram
SECRET_HEADER = "x-telegram-bot-api-secret-token"
_background: set[asyncio.Task[Any]] = set()


def webhook_routes(core: HandlesIncoming, settings: Settings, *, path: str = PATH,
                   api: TelegramApi | None = None, setup: bool = True) -> list[Route]:
    """The webhook route (none in polling mode). With `setup`, and when called inside a
    running event loop (`visitbot run`), the webhook and the command menu are
    registered with Telegram in the background."""
    if settings.telegram_mode == "polling":
        return []
    token = secret(settings.telegram_webhook_secret)
    if not token or not SECRET_TOKEN.match(token):
        raise ValueError("VISITBOT_TELEGRAM_WEBHOOK_SECRET is required in webhook mode "
                         "(1-256 characters: A-Z, a-z, 0-9, _ and -)")
    api = api or TelegramApi(settings)
    endpoint = TelegramWebhook(UpdateHandler(core, api), TelegramChannel(settings, api=api),
                               token.encode())
    if setup:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            api.keep_acks_alive()  # the server calls acks_settled when it stops
            task = loop.create_task(setup_webhook(settings, api, path))
            _background.add(task)
            task.add_done_callback(_background.discard)
    return [Route(path, endpoint, methods=["POST"])]


class TelegramWebhook(RawEndpoint):
    """The webhook as plain ASGI: `visitbot run` hands its POSTs straight here."""

    def __init__(self, handler: UpdateHandler, channel: TelegramChannel, expected: bytes
                 ) -> None:
        self.handler = handler
        self.channel = channel
        self.expected = expected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        given = header(scope, SECRET_HEADER.encode()) or b""
        if not hmac.compare_digest(given, self.expected):
            await _refused(send, 403, "wrong secret token")
            return
        try:
            data = orjson.loads(await read_body(scope, receive, MAX_BODY))
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update object")
            # a press or a typed message is read from the JSON itself; anything else as
            # python-telegram-bot reads it
            parsed = parse_plain(data, self.handler.api.bot_id)
            update = Update.de_json(data, None) if parsed is None else None
            update_id: int = data["update_id"]
        except Unread as exc:
            await _refused(send, exc.status, exc.reason)
            return
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            # RecursionError: JSON nested thousands deep, even with the right secret
            await _refused(send, 400, f"malformed update ({type(exc).__name__})")
            return
        try:
            done = await (self.handler.process_parsed(parsed, update_id, inline=True)
                          if parsed is not None else
                          self.handler.process(update, inline=True))  # type: ignore[arg-type]
        except DatabaseUnavailable as exc:
            log.error("database unavailable for telegram update %s: %s", update_id, exc)
            await respond(send, 503)
            return
        except Exception:
            log.exception("handling telegram update %s failed", update_id)
            await respond(send, 200)
            return
        body = await _reply(done, self.channel)
        await (respond(send, 200) if body is None else respond_json(send, body))


async def setup_webhook(settings: Settings, api: TelegramApi | None = None,
                        path: str = PATH) -> bool:
    """Register the Chinese command menu and point Telegram at our webhook."""
    api = api or TelegramApi(settings)
    ok = await api.set_commands()
    if not settings.public_url:
        log.warning("VISITBOT_PUBLIC_URL is not set: the Telegram webhook was not registered")
        return False
    url = settings.public_url.rstrip("/") + path
    try:
        await api.bot().set_webhook(url, secret_token=secret(settings.telegram_webhook_secret),
                                    allowed_updates=list(ALLOWED_UPDATES))
    except TelegramError as exc:
        log.error("telegram setWebhook %s failed: %s", url, exc)
        return False
    log.info("telegram webhook set to %s", url)
    return ok


async def _reply(done: Done, channel: TelegramChannel) -> dict[str, Any] | None:
    """The webhook response's method call, or None for an empty 200."""
    out, chat_id = done.reply, done.chat_id
    if out is None or chat_id is None:
        return None
    body = method_call(chat_id, out, edit_message_id=done.in_place.message_id
                       if done.in_place else None)
    if body is None:
        # Too big for a webhook answer (a file, a long text): its row is already marked
        # sent, so send it by API now rather than lose it.
        result = await channel.send(Address("telegram", str(chat_id)), out)
        if not result.ok:
            log.error("telegram reply to %s not delivered: %s", chat_id, result.error)
        return None
    return body


def method_call(chat_id: int, out: Outgoing, *, edit_message_id: int | None = None
                ) -> dict[str, Any] | None:
    """The reply as a Bot API method in a webhook response, or None if it cannot be one."""
    if out.attachment or len(out.text) > TEXT_MAX_CHARS or not out.text:
        return None
    try:
        markup = keyboard_rows(out.choices)
    except CallbackTooLong as exc:
        log.error("telegram reply refused: %s", exc)
        return None
    text = shown_text(out, markup, edit=edit_message_id is not None)
    if len(text) > TEXT_MAX_CHARS:
        return None
    body: dict[str, Any] = {"method": "sendMessage", "chat_id": chat_id, "text": text}
    if edit_message_id is not None:
        body["method"] = "editMessageText"
        body["message_id"] = edit_message_id
    if markup is not None:
        body["reply_markup"] = {"inline_keyboard": markup}
    return body


async def _refused(send: Send, status: int, reason: str) -> None:
    log.warning("telegram webhook refused (%d): %s", status, reason)
    await respond(send, status)
