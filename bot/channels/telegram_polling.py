"""Long polling (getUpdates) for small deployments without a public HTTPS address.

An update is confirmed to Telegram (the next offset) only after the core committed
it; if the database is down, the loop pauses and fetches the same updates again. The
core's dedupe by update_id makes a repeat harmless. The offset is kept in the store
after each batch (channel_cursors), so a restarted poller goes on where it stopped
instead of being sent every update it had handled but not confirmed. Replies go
through the outbox and the dispatcher like every other message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from telegram import Update
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError

from bot.channels.telegram_api import (
    ALLOWED_UPDATES,
    TelegramApi,
    acks_settled,
    retry_after_seconds,
)
from bot.channels.telegram_channel import TelegramChannel
from bot.channels.telegram_handler import HandlesIncoming, UpdateHandler
from bot.settings import Settings
from conversations.messages import Address
from store.base import utcnow
from store.cursors import read_cursor, write_cursor
from store.db import DatabaseUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
ERROR_PAUSE = 3.0
DB_PAUSE = 5.0


async def run_polling(core: HandlesIncoming, settings: Settings, stop: asyncio.Event, *,
                      api: TelegramApi | None = None, poll_timeout: int = 25,
                      error_pause: float = ERROR_PAUSE, db_pause: float = DB_PAUSE) -> None:
    """Fetch and handle updates until `stop` is set."""
    api = api or TelegramApi(settings, poll_timeout=poll_timeout)
    handler = UpdateHandler(core, api)
    channel = TelegramChannel(settings, api=api)
    await _prepare(api, stop, error_pause)
    sessions = getattr(core, "sessions", None)
    cursor = f"telegram:{api.bot_id}:offset"
    offset = await _stored_offset(sessions, cursor)
    kept = offset
    log.info("telegram long polling started at offset %s", offset)
    api.keep_acks_alive()
    try:
        while not stop.is_set():
            try:
                updates = await _until_stop(stop, api.bot().get_updates(
                    offset=offset, timeout=poll_timeout, allowed_updates=list(ALLOWED_UPDATES)))
            except RetryAfter as exc:
                await _pause(stop, retry_after_seconds(exc))
                continue
            except Conflict as exc:  # another poller, or a webhook set behind our back
                log.error("telegram getUpdates conflict: %s", exc)
                await _pause(stop, error_pause * 10)
                continue
            except TelegramError as exc:
                log.warning("telegram getUpdates failed: %s", exc)
                await _pause(stop, error_pause)
                continue
            if updates is None:  # stopped
                break
            for update in updates:
                try:
                    await _one(handler, channel, update)
                except DatabaseUnavailable as exc:
                    log.error("database unavailable for telegram update %s: %s; fetching it "
                              "again", update.update_id, exc)
                    await _pause(stop, db_pause)
                    break
                offset = update.update_id + 1
            if offset != kept and offset is not None:
                kept = offset if await _keep_offset(sessions, cursor, offset) else kept
    finally:
        await acks_settled()  # button presses acknowledged but not yet sent
    log.info("telegram long polling stopped")


async def _stored_offset(sessions: Any, cursor: str) -> int | None:
    if sessions is None:
        return None
    try:
        return await asyncio.to_thread(read_cursor, sessions, cursor)
    except Exception as exc:  # the database is down: Telegram's own memory will do
        log.warning("telegram polling offset not read: %s", exc)
        return None


async def _keep_offset(sessions: Any, cursor: str, offset: int) -> bool:
    if sessions is None:
        return False
    try:
        await asyncio.to_thread(write_cursor, sessions, cursor, offset, utcnow())
        return True
    except Exception as exc:  # kept next batch; a repeat meanwhile is a duplicate
        log.warning("telegram polling offset not kept: %s", exc)
        return False


async def _prepare(api: TelegramApi, stop: asyncio.Event, pause: float) -> None:
    """Telegram refuses getUpdates while a webhook is set: remove it, then register the
    command menu. Retried until it works, as nothing can be received before."""
    while not stop.is_set():
        try:
            await api.bot().delete_webhook(drop_pending_updates=False)
            await api.set_commands()
            return
        except InvalidToken:
            raise
        except TelegramError as exc:
            log.warning("telegram deleteWebhook failed: %s", exc)
            await _pause(stop, pause)


async def _one(handler: UpdateHandler, channel: TelegramChannel, update: Update) -> None:
    try:
        done = await handler.process(update, inline=False)
    except DatabaseUnavailable:
        raise
    except Exception:
        # a poison update must not stop the bot; it is confirmed and left behind
        log.exception("handling telegram update %s failed", update.update_id)
        return
    if done.reply is not None and done.chat_id is not None:
        # nothing comes back here in polling (every reply went to the outbox); kept for
        # a core that answers inline all the same
        result = await channel.send(Address("telegram", str(done.chat_id)), done.reply)
        if not result.ok:
            log.info("telegram reply to %s not delivered: %s", done.chat_id, result.error)


async def _until_stop(stop: asyncio.Event, work: Coroutine[Any, Any, T]) -> T | None:
    """`work`'s result, or None when `stop` came first (a long poll is cut short)."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TelegramError):
            await task
        return None
    return task.result()


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
