"""Talking to the Bot API with python-telegram-bot: one `Bot` per event loop, inline
keyboards from `Choice`s, Telegram's errors as `SendResult`s, the command menu.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import warnings
import weakref
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import aiohttp
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.settings import Settings
from conversations.messages import Choice, Outgoing, SendResult
from conversations.text import render

log = logging.getLogger(__name__)
# PTB 22 builds RetryAfter by reading its own deprecated `retry_after`; we read either type
warnings.filterwarnings("ignore", message=r".*`retry_after` will be of type",
                        category=PTBDeprecationWarning)

CALLBACK_MAX_BYTES = 64  # Bot API limit on callback_data
TEXT_MAX_CHARS = 4096
CAPTION_MAX_CHARS = 1024
# edits are asked for so the visitor can be told an edit changes no stored answer
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what setWebhook accepts
NETWORK_RETRY_AFTER = 5.0  # 5xx and connection errors: Telegram is usually back soon
BAD_TOKEN_RETRY_AFTER = 300.0  # a configuration error: keep the message, retry slowly
SHORT_LABEL = 6  # labels this short share a keyboard row (是/否, 今天/昨天)
ROW_MAX = 3
ACK_SETTLE = 5.0  # seconds a stopping server gives the acknowledgements still under way
# acknowledgements under way (fire and forget, but never dropped: see TelegramApi.ack)
_acks: set[asyncio.Task[None]] = set()
# the acknowledgements' keep-alive HTTP session of each serving event loop (closed at stop)
_kept: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = (
    weakref.WeakKeyDictionary())


def secret(value: object) -> str | None:
    if value is None:
        return None
    get = getattr(value, "get_secret_value", None)
    return str(get()) if get else str(value)


class CallbackTooLong(ValueError):
    """A choice value Telegram would reject as callback_data (over 64 bytes)."""


def keyboard(choices: Sequence[Choice]) -> InlineKeyboardMarkup | None:
    """One button per choice; short labels share a row so yes/no fits on one line."""
    rows = keyboard_rows(choices)
    if rows is None:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b["text"], callback_data=b["callback_data"])
                                  for b in row] for row in rows])


def keyboard_rows(choices: Sequence[Choice]) -> list[list[dict[str, str]]] | None:
    """`keyboard`'s rows as the Bot API's JSON (`inline_keyboard`): a webhook answer is
    JSON already, and building python-telegram-bot's objects only to turn them back into
    dicts cost every answer more than the rows themselves."""
    if not choices:
        return None
    rows: list[list[dict[str, str]]] = []
    for c in choices:
        if len(c.value.encode("utf-8")) > CALLBACK_MAX_BYTES:
            raise CallbackTooLong(f"callback data over {CALLBACK_MAX_BYTES} bytes: "
                                  f"{c.value[:20]!r}…")
        button = {"text": c.label, "callback_data": c.value}
        last = rows[-1] if rows else None
        if (last is not None and len(c.label) <= SHORT_LABEL and len(last) < ROW_MAX
                and all(len(b["text"]) <= SHORT_LABEL for b in last)):
            last.append(button)
        else:
            rows.append([button])
    return rows


def shown_text(message: Outgoing, markup: object | None, *, edit: bool = False) -> str:
    """The text Telegram shows: the head above buttons (the options are the buttons),
    and, when the message replaces the pressed question it follows, what was chosen
    there at its top (the core's `answered`)."""
    text = str(message.meta.get("head") or message.text) if markup is not None \
        else message.text
    answered = message.meta.get("answered")
    if edit and isinstance(answered, dict) and answered.get("question"):
        display = answered.get("display")
        return render("tg_answered", text=text, question=str(answered["question"]),
                      label=str(display or ""), skipped=display is None)
    return text


def split_text(text: str, limit: int = TEXT_MAX_CHARS) -> list[str]:
    """Telegram refuses messages over 4096 characters: cut at line ends where possible."""
    text = text or " "
    chunks: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= 0:
            cut = limit
        chunks.append(text[:cut])
        text = text[cut:].lstrip("\n")
    chunks.append(text)
    return chunks


def result_for(exc: TelegramError, what: str) -> SendResult:
    """A Bot API error as a delivery outcome the dispatcher understands."""
    error = f"telegram {what}: {type(exc).__name__}: {exc}"[:500]
    if isinstance(exc, RetryAfter):
        return SendResult(ok=False, retry_after=retry_after_seconds(exc), error=error)
    if isinstance(exc, Forbidden | ChatMigrated):
        # blocked by the user, deactivated, or not a private chat any more
        return SendResult(ok=False, permanent=True, error=error)
    if isinstance(exc, InvalidToken):
        return SendResult(ok=False, retry_after=BAD_TOKEN_RETRY_AFTER, error=error)
    if isinstance(exc, BadRequest):
        # chat not found, message too long, bad markup: sending again cannot help
        return SendResult(ok=False, permanent=True, error=error)
    if isinstance(exc, TimedOut):
        # it may have arrived: the dispatcher's backoff, not a fast retry
        return SendResult(ok=False, error=error)
    if isinstance(exc, Conflict):
        return SendResult(ok=False, retry_after=NETWORK_RETRY_AFTER, error=error)
    return SendResult(ok=False, retry_after=NETWORK_RETRY_AFTER, error=error)


def retry_after_seconds(exc: RetryAfter) -> float:
    # PTB 22 warns that the attribute will become a timedelta; accept either.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def commands() -> list[BotCommand]:
    """The command menu, from the tg_commands template ("name - 描述" per line)."""
    out: list[BotCommand] = []
    for line in render("tg_commands").splitlines():
        name, sep, description = line.partition(" - ")
        if sep and name.strip():
            out.append(BotCommand(name.strip().lstrip("/"), description.strip()))
    return out


class TelegramApi:
    """The bot's Bot API client. httpx pools belong to one event loop, and tests and
    `drain` run several loops, so each loop gets its own `Bot`."""

    def __init__(self, settings: Settings, *, timeout: float = 10.0,
                 poll_timeout: int = 25) -> None:
        token = secret(settings.telegram_token)
        if not token:
            raise ValueError("VISITBOT_TELEGRAM_TOKEN is required for Telegram")
        self.settings = settings
        self.token = token
        # update ids are per bot: the bot id keeps dedupe keys apart if the token changes
        self.bot_id = token.partition(":")[0]
        self.timeout = timeout
        self.poll_timeout = poll_timeout
        self._bots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Bot] = (
            weakref.WeakKeyDictionary())

    def bot(self) -> Bot:
        loop = asyncio.get_running_loop()
        bot = self._bots.get(loop)
        if bot is None:
            t = self.timeout
            bot = Bot(
                self.token,
                base_url=self.settings.telegram_base_url,
                base_file_url=self.settings.telegram_base_file_url,
                request=HTTPXRequest(connection_pool_size=64, read_timeout=t, write_timeout=t,
                                     connect_timeout=t, pool_timeout=t),
                # a long poll holds its connection for poll_timeout seconds
                get_updates_request=HTTPXRequest(connection_pool_size=1,
                                                 read_timeout=self.poll_timeout + t,
                                                 connect_timeout=t, pool_timeout=t),
            )
            self._bots[loop] = bot
        return bot

    def ack(self, query_id: str) -> asyncio.Task[None]:
        """Acknowledge a button press (answerCallbackQuery) without waiting for it: the
        client shows a spinner until it comes, and nothing else waits on it. A failure is
        logged at WARNING; a stopping server waits for those under way (`acks_settled`)."""
        task = asyncio.ensure_future(self._ack(query_id))
        _acks.add(task)
        task.add_done_callback(_acks.discard)
        return task

    async def _ack(self, query_id: str) -> None:
        ok, _status, why = await self.plain("answerCallbackQuery",
                                            {"callback_query_id": query_id})
        if not ok:
            # a redelivered update's query was answered the first time; any other
            # failure left the visitor's button spinning
            log.warning("telegram answerCallbackQuery %s failed: %s", query_id, why)

    async def plain(self, method: str, params: dict[str, Any]) -> tuple[bool, int, str]:
        """A Bot API call whose result is not needed (an acknowledgement, a keyboard
        retired) as a plain keep-alive POST with aiohttp: python-telegram-bot's request
        and result objects, and httpx's connection pool with many requests under way,
        cost more CPU than such a call is worth (bench.peer). Same base URL and token.
        (ok, HTTP status or 0, why not) — never raises for the network or Telegram."""
        url = f"{self.bot().base_url}/{method}"
        kept = _kept_session()
        try:
            if kept is not None:
                return await _post(kept, url, params)
            async with self._new_session() as session:
                return await _post(session, url, params)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return False, 0, f"{type(exc).__name__}: {exc}"

    def _new_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout),
                                     connector=aiohttp.TCPConnector(limit=64))

    def keep_acks_alive(self) -> None:
        """On the running loop, acknowledgements share one keep-alive session until
        `acks_settled` (the server and the long poll, which call it when they stop);
        elsewhere (a test's short-lived loop) each opens and closes its own."""
        loop = asyncio.get_running_loop()
        if _kept.get(loop) is None:
            _kept[loop] = self._new_session()

    async def username(self) -> str | None:
        """The bot's username (getMe), for t.me links; None when Telegram cannot say."""
        try:
            me = await self.bot().get_me()
        except TelegramError as exc:
            log.error("telegram getMe failed: %s", exc)
            return None
        return me.username

    async def set_commands(self) -> bool:
        try:
            await self.bot().set_my_commands(commands())
            return True
        except TelegramError as exc:
            log.error("telegram setMyCommands failed: %s", exc)
            return False


async def acks_settled(timeout: float = ACK_SETTLE) -> None:
    """Wait (a while) for the acknowledgements still under way on this loop, then close
    their HTTP sessions."""
    loop = asyncio.get_running_loop()
    mine = [t for t in _acks if t.get_loop() is loop and not t.done()]
    if mine:
        _done, late = await asyncio.wait(mine, timeout=timeout)
        if late:
            log.warning("%d telegram answerCallbackQuery calls still under way at stop",
                        len(late))
    session = _kept.pop(loop, None)
    if session is not None:
        await session.close()


def _kept_session() -> aiohttp.ClientSession | None:
    session = _kept.get(asyncio.get_running_loop())
    return session if session is not None and not session.closed else None


async def _post(session: aiohttp.ClientSession, url: str, params: dict[str, Any]
                ) -> tuple[bool, int, str]:
    async with session.post(url, json=params) as resp:
        body = await resp.read()
    answer = json.loads(body) if body[:1] == b"{" else None
    ok = resp.status == 200 and isinstance(answer, dict) and answer.get("ok") is True
    why = "" if ok else (str(answer.get("description", ""))[:200] if isinstance(answer, dict)
                         else body[:200].decode(errors="replace"))
    return ok, resp.status, f"{resp.status} {why}" if not ok else ""
