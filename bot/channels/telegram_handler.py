"""What the webhook and the long-polling loop both do with one update.

Acknowledging a button press (answerCallbackQuery) and retiring the pressed message's
keyboard are not messages: they are done here, by API, and not through the outbox. The
acknowledgement is sent for every press without waiting for it. The replies the core
writes are messages and go through the outbox (the first one may ride back in the
webhook's HTTP response). When the core says its reply takes the pressed message's place
(the next question of the same checklist, or the same one again after a toggle), that
reply edits the pressed message and there is no keyboard left to retire.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from telegram import Update

from bot.channels.handoff import hand_to_core
from bot.channels.telegram_api import TEXT_MAX_CHARS, TelegramApi
from bot.channels.telegram_parse import Ignore, Parsed, Pressed, parse_update
from conversations.messages import Outgoing
from conversations.text import render

log = logging.getLogger(__name__)


class HandlesIncoming(Protocol):
    """What the Telegram endpoints need of `bot.chat.service.Core`."""

    def handle(self, incoming: Any, *, inline: bool = False) -> Any: ...


@dataclass(frozen=True)
class Done:
    """The outcome of one update. `reply` was already marked sent in the outbox (it is
    for the caller to deliver); `in_place` says it should replace the pressed message."""

    chat_id: int | None = None
    reply: Outgoing | None = None
    in_place: Pressed | None = None
    duplicate: bool = False


class UpdateHandler:
    def __init__(self, core: HandlesIncoming, api: TelegramApi) -> None:
        self.core = core
        self.api = api

    async def process(self, update: Update, *, inline: bool) -> Done:
        """Raises DatabaseUnavailable (the update must come again); nothing else."""
        return await self.process_parsed(parse_update(update, self.api.bot_id),
                                         update.update_id, inline=inline)

    async def process_parsed(self, parsed: Parsed | Ignore, update_id: int, *,
                             inline: bool) -> Done:
        """An update already read (`telegram_parse`)."""
        if isinstance(parsed, Ignore):
            log.info("telegram update %s ignored: %s", update_id, parsed.reason)
            if parsed.pressed is not None:
                self.answer(parsed.pressed)
            return Done()
        return await self._run_core(parsed, inline)

    async def _run_core(self, parsed: Parsed, inline: bool) -> Done:
        pressed = parsed.pressed
        if pressed is not None:
            # The client shows a spinner until the query is answered: answer at once,
            # whatever the core decides, and do not wait for it.
            self.answer(pressed)
        handled = await hand_to_core(self.core, parsed.incoming, inline=inline)
        chat_id = int(parsed.incoming.address.external_id)
        out: Outgoing | None = getattr(handled, "inline", None)
        in_place = pressed if (pressed is not None and out is not None
                               and edits_pressed(pressed, out)) else None
        if getattr(handled, "duplicate", False):
            # a webhook retry after a lost response gets the first delivery's reply again
            # (an edit of the pressed message again: the first one may never have landed)
            log.info("telegram update %s seen before: skipped", parsed.incoming.msg_id)
            return Done(chat_id=chat_id, reply=out, in_place=in_place, duplicate=True)
        replies: tuple[Outgoing, ...] = tuple(getattr(handled, "replies", ()) or ())
        if pressed is not None:
            if any(edits_pressed(pressed, r) for r in replies):
                # the core puts its reply in the pressed message's place (the next
                # question, or the same one after a multi-choice toggle): the reply edits
                # it, by webhook answer or from the outbox
                return Done(chat_id=chat_id, reply=out, in_place=in_place)
            # a refused (expired) press stored nothing: do not show its label as chosen
            refused = any(r.meta.get("button_refused") for r in replies)
            await self.retire_keyboard(pressed, chosen=not refused)
        return Done(chat_id=chat_id, reply=out)

    def answer(self, pressed: Pressed) -> None:
        self.api.ack(pressed.query_id)

    async def retire_keyboard(self, pressed: Pressed, *, chosen: bool = True) -> None:
        """Show what was chosen (unless the press was refused) and take the buttons away,
        so the chat does not fill with live keyboards and a button cannot be pressed
        twice."""
        if pressed.chat_id is None or pressed.message_id is None:
            return
        text = (render("tg_answered", text=pressed.text, label=pressed.label)
                if chosen and pressed.label and pressed.text else None)
        target = {"chat_id": pressed.chat_id, "message_id": pressed.message_id}
        if text is not None and len(text) <= TEXT_MAX_CHARS:
            ok, status, why = await self.api.plain("editMessageText", {**target, "text": text})
        else:
            ok, status, why = await self.api.plain("editMessageReplyMarkup", target)
        if not ok:
            # 400: too old to edit, already edited, deleted: nothing left to retire
            log.log(logging.INFO if status == 400 else logging.WARNING,
                    "telegram keyboard of message %s not retired: %s", pressed.message_id, why)


def edits_pressed(pressed: Pressed, out: Outgoing) -> bool:
    """Whether the reply replaces the message whose button was pressed: the core says so
    with `edit_message_id` (the same question asked again at the same ask, or the next
    question after an answer), and the pressed message is a text one can edit."""
    return (pressed.message_id is not None and pressed.text is not None
            and not out.attachment
            and out.meta.get("edit_message_id") == pressed.message_id)
