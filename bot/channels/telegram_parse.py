"""One Telegram `Update` to what the core understands, or to a reason to ignore it.

Only private chats are served: the bot holds personal data, and group chatter is not
meant for it. Every private message is classified into a `Kind` (bot/chat/inbound.py
decides what each kind does): an edit, a forward (forward_origin, via_bot, an automatic
forward) or a sticker reaches the core like any message and gets its reply from there,
through the outbox; it is never taken as an answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from telegram import Message, Update

from bot.channels.telegram_api import CALLBACK_MAX_BYTES
from conversations.messages import Address, Incoming, Kind, Media

PLATFORM = "telegram"
# "/visits@visitbot_bot" arrives when a command is picked from the menu in some clients
COMMAND_SUFFIX = re.compile(r"^(/[A-Za-z0-9_]+)@[A-Za-z0-9_]+")
# message fields the checklist cannot use, and the kind each is reported as
UNSUPPORTED = {"voice": Kind.VOICE_BLANK, "audio": Kind.VOICE_BLANK, "video": Kind.VIDEO,
               "video_note": Kind.VIDEO, "animation": Kind.VIDEO, "document": Kind.FILE,
               "sticker": Kind.OTHER, "contact": Kind.OTHER, "poll": Kind.OTHER,
               "dice": Kind.OTHER, "game": Kind.OTHER, "story": Kind.OTHER}


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


def update_key(bot_id: str, update_id: int) -> str:
    return f"tg:{bot_id}:{update_id}"


def parse_update(update: Update, bot_id: str) -> Parsed | Ignore:
    msg_id = update_key(bot_id, update.update_id)
    if update.callback_query is not None:
        return _callback(update, msg_id)
    if update.edited_channel_post is not None:
        return Ignore("edited channel post")
    edited = update.edited_message
    message = update.message or edited
    if message is None:
        kinds = [k for k, v in update.to_dict().items() if k != "update_id" and v]
        return Ignore(f"update of kind {','.join(kinds) or 'unknown'}")
    if message.chat.type != "private":
        return Ignore(f"message in a {message.chat.type} chat")
    if message.from_user is not None and message.from_user.is_bot:
        return Ignore("message from a bot")
    address = Address(PLATFORM, str(message.chat.id))
    if edited is not None:
        # an edit never changes a stored answer; the visitor is told how to change one
        return Parsed(Incoming(address, msg_id, text=edited.text, kind=Kind.EDIT))
    if forwarded(message):
        return Parsed(Incoming(address, msg_id, text=message.text, kind=Kind.FORWARD))
    if message.text is not None:
        return Parsed(Incoming(address, msg_id, text=normalise_command(message.text),
                               kind=Kind.TEXT))
    if message.photo:
        # the largest size; a caption is not an answer (the engine would take it as text).
        # An album comes as one update per photo: media_group_id lets it get one reply.
        meta = {"album": message.media_group_id} if message.media_group_id else {}
        return Parsed(Incoming(address, msg_id, media=Media("photo", message.photo[-1].file_id),
                               meta=meta, kind=Kind.IMAGE))
    if message.location is not None:  # a venue carries its location too
        loc = message.location
        return Parsed(Incoming(address, msg_id, media=Media(
            "location", "", latitude=loc.latitude, longitude=loc.longitude),
            kind=Kind.LOCATION))
    kind = _kind(message)
    if kind is not None:
        return Parsed(Incoming(address, msg_id, kind=kind))
    return Ignore("service message")


def forwarded(message: Message) -> bool:
    """Someone else's words passed on: a forward (Bot API 7's forward_origin, or the
    older forward_* fields a client may still send), a message sent via an inline bot,
    or a channel post forwarded automatically."""
    extra = message.api_kwargs or {}
    return (message.forward_origin is not None or message.via_bot is not None
            or bool(message.is_automatic_forward)
            or any(k in extra for k in ("forward_from", "forward_from_chat", "forward_date",
                                        "forward_sender_name")))


def normalise_command(text: str) -> str:
    return COMMAND_SUFFIX.sub(r"\1", text.strip(), count=1)


def _kind(message: Message) -> Kind | None:
    for field_name, kind in UNSUPPORTED.items():
        if getattr(message, field_name, None):
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
                                 "message_id": message.message_id}, kind=Kind.CALLBACK),
                  pressed)


def parse_press(data: dict[str, Any], bot_id: str) -> Parsed | Ignore | None:
    """A button press read straight from the update's JSON, as `parse_update` reads it
    from python-telegram-bot's objects (tests/unit/test_telegram_parse.py checks the two
    agree on every shape): a press is most of what a visitor sends, and building the
    update's objects cost more than the rest of the webhook's own work. None for
    anything else, or any field not of the type Telegram documents, which then goes the
    long way (and is refused there if it is malformed)."""
    query = data.get("callback_query")
    update_id = data.get("update_id")
    if not isinstance(query, dict) or not isinstance(update_id, int) or len(data) != 2:
        return None
    query_id, press, sender = query.get("id"), query.get("data"), query.get("from")
    if (not isinstance(query_id, str) or not (press is None or isinstance(press, str))
            or not _user(sender) or not isinstance(query.get("chat_instance"), str)):
        return None
    msg_id = update_key(bot_id, update_id)
    message = query.get("message")
    if message is None:
        return Ignore("button on an inline-mode message", Pressed(query_id, press or ""))
    if not isinstance(message, dict):
        return None
    chat, message_id, when = message.get("chat"), message.get("message_id"), message.get("date")
    if (not isinstance(chat, dict) or not _int(chat.get("id"))
            or not isinstance(chat.get("type"), str) or not _int(message_id)
            or not _int(when)):
        return None
    # an inaccessible message (date 0) carries no text or keyboard, so none is found
    text, markup, label = message.get("text"), message.get("reply_markup"), None
    if not (text is None or isinstance(text, str)) or not (
            markup is None or isinstance(markup, dict)):
        return None
    rows = (markup or {}).get("inline_keyboard", [])
    if not isinstance(rows, list) or not all(
            isinstance(row, list) and all(_button(b) for b in row) for row in rows):
        return None
    for row in rows:
        for button in row:
            if button.get("callback_data") == press:
                label = button["text"]
    pressed = Pressed(query_id, press or "", chat["id"], message_id, label, text)
    if chat["type"] != "private":
        return Ignore(f"button in a {chat['type']} chat", pressed)
    if not press:
        return Ignore("button without callback data", pressed)
    if len(press.encode("utf-8")) > CALLBACK_MAX_BYTES:
        return Ignore("callback data over 64 bytes", pressed)
    return Parsed(Incoming(Address(PLATFORM, str(chat["id"])), msg_id, choice=press,
                           meta={"callback_query_id": query_id, "message_id": message_id},
                           kind=Kind.CALLBACK), pressed)


# the fields of a plain typed message: with any other (a forward's, a reply's, a
# caption's …) the update goes the long way, through python-telegram-bot's reading
_TEXT_FIELDS = frozenset({"message_id", "date", "chat", "from", "text", "entities"})
_TEXT_NEEDS = frozenset({"message_id", "date", "chat", "text"})


def parse_text(data: dict[str, Any], bot_id: str) -> Parsed | Ignore | None:
    """A plain typed message read straight from the JSON, as `parse_update` reads it
    (typed answers are the other half of what a visitor sends); None for anything else,
    which goes the long way."""
    message = data.get("message")
    update_id = data.get("update_id")
    if not isinstance(message, dict) or not isinstance(update_id, int) or len(data) != 2:
        return None
    fields = message.keys()
    if not fields <= _TEXT_FIELDS or not fields >= _TEXT_NEEDS:
        return None
    chat, text, sender = message["chat"], message["text"], message.get("from")
    if (not isinstance(chat, dict) or not _int(chat.get("id"))
            or not isinstance(chat.get("type"), str) or not _int(message["message_id"])
            or not _int(message["date"]) or not isinstance(text, str)
            or not (sender is None or _user(sender))
            or not _entities(message.get("entities"))):
        return None
    if chat["type"] != "private":
        return Ignore(f"message in a {chat['type']} chat")
    if sender is not None and sender["is_bot"]:
        return Ignore("message from a bot")
    return Parsed(Incoming(Address(PLATFORM, str(chat["id"])), update_key(bot_id, update_id),
                           text=normalise_command(text), kind=Kind.TEXT))


def parse_plain(data: dict[str, Any], bot_id: str) -> Parsed | Ignore | None:
    """A press or a typed message read from the JSON; None: read it as an Update."""
    return parse_press(data, bot_id) or parse_text(data, bot_id)


def _entities(value: object) -> bool:
    return value is None or (isinstance(value, list) and all(
        isinstance(e, dict) and isinstance(e.get("type"), str) and _int(e.get("offset"))
        and _int(e.get("length")) and e.keys() <= {"type", "offset", "length"}
        for e in value))


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _user(value: object) -> bool:
    return (isinstance(value, dict) and _int(value.get("id"))
            and isinstance(value.get("is_bot"), bool)
            and isinstance(value.get("first_name"), str))


def _button(value: object) -> bool:
    return (isinstance(value, dict) and isinstance(value.get("text"), str)
            and (value.get("callback_data") is None
                 or isinstance(value.get("callback_data"), str)))
