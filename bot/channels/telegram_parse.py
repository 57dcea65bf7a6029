"""One Telegram `Update` to what the core understands, or to a reason to ignore it.

Only private chats are served: the bot holds personal data, and group chatter is not
meant for it. Edited messages are ignored (an answer is final once recorded), and
stickers, voice and files get a short hint, as the checklist cannot use them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from telegram import Message, Update

from bot.channels.telegram_api import CALLBACK_MAX_BYTES
from conversations.messages import Address, Incoming, Media

PLATFORM = "telegram"
# "/visits@visitbot_bot" arrives when a command is picked from the menu in some clients
COMMAND_SUFFIX = re.compile(r"^(/[A-Za-z0-9_]+)@[A-Za-z0-9_]+")
UNSUPPORTED = ("sticker", "voice", "audio", "video", "video_note", "animation", "document",
               "contact", "poll", "dice", "game", "story")


@dataclass(frozen=True)
class Pressed:
    """A button press: what to acknowledge and which message's keyboard to retire."""

    query_id: str
    data: str
    chat_id: int | None = None
    message_id: int | None = None
    label: str | None = None  # the pressed button's label, from the message's keyboard
    text: str | None = None  # the message's text, to show the choice in place


@dataclass(frozen=True)
class Parsed:
    incoming: Incoming
    pressed: Pressed | None = None


@dataclass(frozen=True)
class Ignore:
    reason: str
    pressed: Pressed | None = None  # answered all the same, so the client stops waiting


@dataclass(frozen=True)
class Unsupported:
    chat_id: int
    reason: str
    extra: dict[str, str] = field(default_factory=dict)


def update_key(bot_id: str, update_id: int) -> str:
    return f"tg:{bot_id}:{update_id}"


def parse_update(update: Update, bot_id: str) -> Parsed | Ignore | Unsupported:
    msg_id = update_key(bot_id, update.update_id)
    if update.callback_query is not None:
        return _callback(update, msg_id)
    if update.edited_message is not None or update.edited_channel_post is not None:
        return Ignore("edited message")
    message = update.message
    if message is None:
        kinds = [k for k, v in update.to_dict().items() if k != "update_id" and v]
        return Ignore(f"update of kind {','.join(kinds) or 'unknown'}")
    if message.chat.type != "private":
        return Ignore(f"message in a {message.chat.type} chat")
    if message.from_user is not None and message.from_user.is_bot:
        return Ignore("message from a bot")
    address = Address(PLATFORM, str(message.chat.id))
    if message.text is not None:
        return Parsed(Incoming(address, msg_id, text=normalise_command(message.text)))
    if message.photo:
        # the largest size; a caption is not an answer (the engine would take it as text)
        return Parsed(Incoming(address, msg_id, media=Media("photo", message.photo[-1].file_id)))
    if message.location is not None:
        loc = message.location
        return Parsed(Incoming(address, msg_id, media=Media(
            "location", "", latitude=loc.latitude, longitude=loc.longitude)))
    kind = _kind(message)
    if kind is not None:
        return Unsupported(message.chat.id, kind)
    return Ignore("service message")


def normalise_command(text: str) -> str:
    return COMMAND_SUFFIX.sub(r"\1", text.strip(), count=1)


def _kind(message: Message) -> str | None:
    for kind in UNSUPPORTED:
        if getattr(message, kind, None):
            return kind
    return None


def _callback(update: Update, msg_id: str) -> Parsed | Ignore:
    query = update.callback_query
    assert query is not None
    data = query.data
    message = query.message
    pressed = Pressed(query.id, data or "")
    if message is None:
        return Ignore("button on an inline-mode message", pressed)
    chat = message.chat
    label, text = None, None
    if isinstance(message, Message):
        text = message.text
        markup = message.reply_markup
        for row in markup.inline_keyboard if markup else ():
            for button in row:
                if button.callback_data == data:
                    label = button.text
    pressed = Pressed(query.id, data or "", chat.id, message.message_id, label, text)
    if chat.type != "private":
        return Ignore(f"button in a {chat.type} chat", pressed)
    if not data:
        return Ignore("button without callback data", pressed)
    if len(data.encode("utf-8")) > CALLBACK_MAX_BYTES:
        return Ignore("callback data over 64 bytes", pressed)
    return Parsed(Incoming(Address(PLATFORM, str(chat.id)), msg_id, choice=data,
                           meta={"callback_query_id": query.id,
                                 "message_id": message.message_id}), pressed)
