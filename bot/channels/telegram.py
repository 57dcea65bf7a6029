"""Telegram: the webhook endpoint, long polling, and `TelegramChannel` for sending.

python-telegram-bot speaks the Bot API (its `Bot` client, `Update.de_json`); the
conversation state is ours, in the store. Updates are deduplicated by update_id (the
core's InboundSeen), so a redelivered update is processed once. Only private chats are
served; group chatter, edited messages and unknown update kinds are ignored with a log
line. A pressed button is acknowledged at once (answerCallbackQuery) and its keyboard
removed, so it cannot be pressed twice and the chat is not flooded with live buttons.

In webhook mode the first reply rides back in the HTTP response as a Bot API method
call (sendMessage), and its outbox row is marked sent in the same transaction; the rest
go through the dispatcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import warnings
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from bot.channel import Address, Incoming, Media, Outgoing, SendResult
from bot.channels.wechat_webhook import HandlesIncoming, TooLarge, read_limited
from bot.settings import Settings
from store.db import DatabaseUnavailable

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
MAX_TEXT = 4096
MAX_CALLBACK = 64  # bytes, the Bot API's limit on callback_data
DEADLINE = 8.0  # Telegram waits longer than WeChat; past this we answer 200 and send later
COMMANDS = [("visits", "我的待访对象"), ("overdue", "逾期未访"), ("cases", "待处理个案"),
            ("status", "家人近况"), ("report", "本月报表"), ("help", "帮助")]


def _secret(value: object) -> str | None:
    if value is None:
        return None
    get = getattr(value, "get_secret_value", None)
    return str(get()) if get else str(value)


def make_bot(settings: Settings) -> Bot:
    token = _secret(settings.telegram_token)
    if not token:
        raise ValueError("VISITBOT_TELEGRAM_TOKEN is required for the telegram channel")
    return Bot(token, base_url=settings.telegram_base_url,
               base_file_url=settings.telegram_base_file_url,
               request=HTTPXRequest(connection_pool_size=16, read_timeout=15),
               get_updates_request=HTTPXRequest(read_timeout=40))


# --- inbound ---------------------------------------------------------------------------


def to_incoming(update: Update) -> Incoming | None:
    """The update as visitbot's Incoming, or None for what is not served (logged)."""
    uid = f"tg:{update.update_id}"
    if update.callback_query is not None:
        q = update.callback_query
        msg = q.message
        if msg is not None and msg.chat.type != "private":
            return None
        chat_id = msg.chat.id if msg is not None else q.from_user.id
        return Incoming(Address("telegram", str(chat_id)), uid, choice=q.data or "",
                        meta={"callback_query_id": q.id,
                              "message_id": msg.message_id if msg is not None else None})
    msg = update.message
    if msg is None:  # edited messages, channel posts, polls, member updates …
        log.info("telegram update %s of an unserved kind ignored", update.update_id)
        return None
    if msg.chat.type != "private":
        log.info("telegram message in a %s chat ignored", msg.chat.type)
        return None
    address = Address("telegram", str(msg.chat.id))
    if msg.text is not None:
        return Incoming(address, uid, text=msg.text[:MAX_TEXT])
    if msg.photo:
        return Incoming(address, uid, text=msg.caption,
                        media=Media("photo", msg.photo[-1].file_id))
    if msg.location is not None:
        return Incoming(address, uid, media=Media("location", "", msg.location.latitude,
                                                  msg.location.longitude))
    # stickers, voice, files …: the core answers with help text
    return Incoming(address, uid, text="", meta={"unsupported": True})


async def acknowledge_button(bot: Bot, incoming: Incoming) -> None:
    """Answer the callback query and take the keyboard off the pressed message."""
    qid = incoming.meta.get("callback_query_id")
    try:
        if qid:
            await bot.answer_callback_query(qid)
        mid = incoming.meta.get("message_id")
        if mid:
            await bot.edit_message_reply_markup(chat_id=int(incoming.address.external_id),
                                                message_id=int(mid), reply_markup=None)
    except (TelegramError, RuntimeError) as exc:  # an old button, a race, no client yet
        log.info("telegram button acknowledgement failed: %s", exc)


def keyboard(message: Outgoing) -> InlineKeyboardMarkup | None:
    buttons = [InlineKeyboardButton(c.label[:64], callback_data=c.value)
               for c in message.choices if len(c.value.encode()) <= MAX_CALLBACK]
    if len(buttons) != len(message.choices):
        log.error("a button's callback data is over %d bytes; sent without it", MAX_CALLBACK)
    if not buttons:
        return None
    # Short labels (好/一般/较差) side by side, long ones one per row.
    width = 3 if all(len(b.text) <= 4 for b in buttons) else 1
    return InlineKeyboardMarkup([buttons[i:i + width] for i in range(0, len(buttons), width)])


def method_reply(chat_id: str, message: Outgoing) -> dict[str, Any]:
    """A sendMessage call as the webhook's HTTP response body."""
    body: dict[str, Any] = {"method": "sendMessage", "chat_id": int(chat_id),
                            "text": message.text[:MAX_TEXT]}
    markup = keyboard(message)
    if markup is not None:
        body["reply_markup"] = markup.to_dict()
    return body


async def process(core: HandlesIncoming, bot: Bot, update: Update, *, inline: bool
                  ) -> Outgoing | None:
    """One update through the core; the inline reply, if one was produced."""
    incoming = to_incoming(update)
    if incoming is None:
        if update.callback_query is not None:  # every callback query gets its answer
            try:
                await bot.answer_callback_query(update.callback_query.id)
            except TelegramError as exc:
                log.info("telegram callback answer failed: %s", exc)
        return None
    if incoming.choice is not None:
        await acknowledge_button(bot, incoming)
    handled = await asyncio.wait_for(
        asyncio.to_thread(core.handle, incoming, inline=inline), DEADLINE)
    return getattr(handled, "inline", None)


def webhook_routes(core: HandlesIncoming, settings: Settings, *, path: str = "/telegram",
                   bot: Bot | None = None) -> list[Route]:
    secret = _secret(settings.telegram_webhook_secret)
    if not secret:
        raise ValueError("VISITBOT_TELEGRAM_WEBHOOK_SECRET is required in webhook mode")
    the_bot = bot or make_bot(settings)
    ready: list[bool] = []

    async def receive(request: Request) -> Response:
        given = request.headers.get("x-telegram-bot-api-secret-token", "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            log.warning("telegram webhook refused: wrong secret token")
            return PlainTextResponse("", status_code=403)
        try:
            data = json.loads(await read_limited(request, MAX_BODY))
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update")
            update = Update.de_json(data, the_bot)
        except TooLarge:
            return PlainTextResponse("", status_code=413)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("telegram webhook: malformed update (%s)", type(exc).__name__)
            return PlainTextResponse("", status_code=400)
        if not ready:
            try:
                await the_bot.initialize()
                ready.append(True)
            except TelegramError as exc:  # the update is still handled; buttons ack later
                log.warning("telegram bot could not be initialised: %s", exc)
        try:
            reply = await process(core, the_bot, update, inline=True)
        except DatabaseUnavailable as exc:
            log.error("database unavailable for a telegram update: %s", exc)
            return PlainTextResponse("", status_code=503)  # Telegram delivers it again
        except TimeoutError:
            # The core goes on and commits; its reply is then delivered by the dispatcher.
            log.warning("telegram update took over %.0fs; answered 200", DEADLINE)
            return PlainTextResponse("")
        except Exception:
            log.exception("handling a telegram update failed")
            return PlainTextResponse("")
        if reply is not None and update.effective_chat is not None:
            return JSONResponse(method_reply(str(update.effective_chat.id), reply))
        return PlainTextResponse("")

    return [Route(path, receive, methods=["POST"])]


async def on_start(settings: Settings, bot: Bot | None = None) -> None:
    """Register the Chinese command menu and, in webhook mode, the webhook itself."""
    the_bot = bot or make_bot(settings)
    async with the_bot:
        await the_bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS])
        if settings.telegram_mode == "webhook" and settings.public_url:
            await the_bot.set_webhook(
                settings.public_url.rstrip("/") + "/telegram",
                secret_token=_secret(settings.telegram_webhook_secret),
                allowed_updates=["message", "callback_query"])


async def run_polling(core: HandlesIncoming, settings: Settings, stop: asyncio.Event, *,
                      bot: Bot | None = None, timeout: int = 25) -> None:
    """Long polling for deployments without a public URL; stops when `stop` is set."""
    the_bot = bot or make_bot(settings)
    async with the_bot:
        await the_bot.delete_webhook()
        await the_bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS])
        offset: int | None = None
        while not stop.is_set():
            try:
                updates = await the_bot.get_updates(
                    offset=offset, timeout=timeout,
                    allowed_updates=["message", "callback_query"])
            except RetryAfter as exc:
                await _sleep(stop, _retry_after(exc))
                continue
            except TelegramError as exc:
                log.warning("telegram getUpdates failed: %s", exc)
                await _sleep(stop, 3)
                continue
            for update in updates:
                try:
                    await process(core, the_bot, update, inline=False)
                except DatabaseUnavailable:
                    await _sleep(stop, 3)  # not acknowledged: fetched again with this offset
                    break
                except Exception:
                    log.exception("handling telegram update %s failed", update.update_id)
                offset = update.update_id + 1


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _retry_after(exc: RetryAfter) -> float:
    # PTB 22 warns that this attribute becomes a timedelta; both forms are handled here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value: Any = exc.retry_after
    total = getattr(value, "total_seconds", None)
    return float(total()) if total else float(value)


# --- outbound --------------------------------------------------------------------------


class TelegramChannel:
    name = "telegram"
    rate_per_second = 25.0  # under the Bot API's ~30 messages a second
    rate_per_recipient = 1.0  # one a second to one chat

    def __init__(self, settings: Settings, *, bot: Bot | None = None) -> None:
        self.settings = settings
        self.bot = bot or make_bot(settings)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _ready_bot(self) -> Bot:
        # The HTTP client belongs to the loop that opened it; `visitbot dispatch` and the
        # tests drain in a fresh loop each time, so a new loop gets a new client.
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None:
                self.bot = make_bot(self.settings)
            await self.bot.initialize()
            self._loop = loop
        return self.bot

    async def send(self, address: Address, message: Outgoing) -> SendResult:
        try:
            await self._ready_bot()
            chat_id = int(address.external_id)
            if message.attachment:
                with open(message.attachment, "rb") as fh:
                    sent = await self.bot.send_document(chat_id, fh,
                                                        caption=message.text[:1024])
            else:
                sent = await self.bot.send_message(chat_id, message.text[:MAX_TEXT],
                                                   reply_markup=keyboard(message))
        except RetryAfter as exc:
            return SendResult(ok=False, retry_after=_retry_after(exc),
                              error="telegram 429")
        except Forbidden as exc:  # blocked by the user, or the chat is gone
            return SendResult(ok=False, permanent=True, error=f"telegram: {exc.message}")
        except BadRequest as exc:
            return SendResult(ok=False, permanent=True, error=f"telegram: {exc.message}")
        except (NetworkError, TelegramError) as exc:  # 5xx, timeouts: try again later
            return SendResult(ok=False, retry_after=5.0, error=f"telegram: {exc}")
        except (OSError, ValueError) as exc:
            return SendResult(ok=False, permanent=True, error=f"telegram: {exc}")
        return SendResult(ok=True, provider_id=str(sent.message_id))
