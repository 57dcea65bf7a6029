"""`TelegramChannel`: what the dispatcher calls to deliver an outbox message.

Telegram tolerates about 30 messages a second from one bot and one a second to one
chat; past that it answers 429 with `retry_after`, which is handed back to the
dispatcher as is. A user who blocked the bot (403) is not retried.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from telegram import Message
from telegram.error import BadRequest, TelegramError

from bot.channels.telegram_api import (
    CAPTION_MAX_CHARS,
    CallbackTooLong,
    TelegramApi,
    keyboard,
    result_for,
    shown_text,
    split_text,
)
from bot.settings import Settings
from conversations.messages import Address, Outgoing, SendResult

log = logging.getLogger(__name__)


class TelegramChannel:
    name = "telegram"
    rate_per_second = 28.0  # just under the Bot API's ~30 messages a second
    rate_per_recipient = 1.0  # one message a second to one chat

    def __init__(self, settings: Settings, *, api: TelegramApi | None = None) -> None:
        self.settings = settings
        self.api = api or TelegramApi(settings)

    async def send(self, address: Address, message: Outgoing) -> SendResult:
        try:
            chat_id = int(address.external_id)
            markup = keyboard(message.choices)
        except (ValueError, CallbackTooLong) as exc:
            # a bad chat id or a button Telegram would refuse: no retry can fix it
            log.error("telegram message to %s refused: %s", address.external_id, exc)
            return SendResult(ok=False, permanent=True, error=str(exc))
        try:
            sent = await self._deliver(chat_id, message, markup)
        except TelegramError as exc:
            return result_for(exc, "send")
        except OSError as exc:  # the report file is gone
            return SendResult(ok=False, permanent=True, error=f"attachment: {exc}")
        return SendResult(ok=True, provider_id=str(sent.message_id) if sent else None)

    async def _deliver(self, chat_id: int, message: Outgoing, markup: Any) -> Message | None:
        bot = self.api.bot()
        edit_id = message.meta.get("edit_message_id")
        if edit_id and not message.attachment:
            try:
                # the next question (with what was chosen at the pressed one on top), or
                # the same one after a toggle, in the pressed message's place
                edited = await bot.edit_message_text(shown_text(message, markup, edit=True),
                                                     chat_id=chat_id,
                                                     message_id=int(edit_id),
                                                     reply_markup=markup)
                return edited if isinstance(edited, Message) else None
            except BadRequest as exc:
                # the message to edit is gone, or the text too long: say it anew instead
                log.info("telegram edit of %s failed (%s): sending anew", edit_id, exc)
        # the buttons are the options: not listed in the text as well
        message = replace(message, text=shown_text(message, markup))
        chunks = split_text(message.text)
        if message.attachment:
            path = Path(message.attachment)
            caption = chunks[0] if len(chunks) == 1 and len(chunks[0]) <= CAPTION_MAX_CHARS \
                else None
            if caption is None:
                for chunk in chunks:
                    await bot.send_message(chat_id, chunk)
            with path.open("rb") as fh:
                return await bot.send_document(chat_id, fh, filename=path.name,
                                               caption=caption, reply_markup=markup)
        # A long text goes in pieces; the buttons belong under the last one.
        for chunk in chunks[:-1]:
            await bot.send_message(chat_id, chunk)
        return await bot.send_message(chat_id, chunks[-1], reply_markup=markup)
