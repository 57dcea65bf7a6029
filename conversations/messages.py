"""What a message is and what a channel promises: the vocabulary every room shares.

Channels (console, telegram, wechat, wecom) only convert between these frozen
dataclasses and their wire format; nothing else in visitbot knows a platform. They live
below bot/ and scheduler/ alike, so the dispatcher and the reminders speak them without
importing the chat layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

Platform = Literal["console", "telegram", "wechat", "wecom"]


@dataclass(frozen=True)
class Address:
    """Where a person is reached on one platform (chat id, openid, userid)."""

    platform: str
    external_id: str


@dataclass(frozen=True)
class Choice:
    """One answer option: `value` goes back in button callbacks, `label` is shown."""

    value: str
    label: str


@dataclass(frozen=True)
class Media:
    """A photo, voice note or location sent by a user, kept as a reference only."""

    kind: Literal["photo", "location", "voice"]
    ref: str  # the platform's file id (Telegram file_id, WeChat MediaId), or a place name
    latitude: float | None = None
    longitude: float | None = None


class Kind(StrEnum):
    """What a platform payload is, as its channel classifies it. What each kind may do
    (before binding, outside a checklist, at each question) is decided in one table,
    bot/chat/inbound.py."""

    TEXT = "text"
    VOICE_TEXT = "voice_text"  # a voice note the platform transcribed
    VOICE_BLANK = "voice_blank"  # a voice note without a transcript
    IMAGE = "image"
    LOCATION = "location"
    VIDEO = "video"
    FILE = "file"
    LINK = "link"
    OTHER = "other"  # stickers, contacts, polls, message types we do not know
    FORWARD = "forward"  # someone else's words passed on: never an answer
    MENU_CLICK = "menu_click"  # a custom-menu key: a command word, never an answer
    MENU_PHOTO = "menu_photo"  # 拍照/相册 menu event: the picture follows as an image
    SCAN = "scan"  # one of our QR codes scanned by a follower
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    EDIT = "edit"  # an edited message (Telegram)
    CALLBACK = "callback"  # a button of ours: inline keyboard, msgmenu item, card button
    NOTICE = "notice"  # platform notices no person sent (template delivered, VIEW…)


@dataclass(frozen=True)
class Incoming:
    """One message from a user, already verified and deduplicated by its channel."""

    address: Address
    msg_id: str
    text: str | None = None
    choice: str | None = None  # callback data of a pressed button
    media: Media | None = None
    # platform-specific bits the router may need (e.g. telegram callback query id)
    meta: dict[str, Any] = field(default_factory=dict)
    # the channel's classification; None: read from the fields (text, choice, media)
    kind: Kind | None = None


@dataclass(frozen=True)
class Outgoing:
    """One message to a user, as stored in the outbox payload."""

    text: str
    choices: tuple[Choice, ...] = ()
    template: str | None = None  # template key, for channels with template messages
    fields: dict[str, str] = field(default_factory=dict)  # template message fields
    callback_prefix: str | None = None  # names the question, so stale buttons are refused
    attachment: str | None = None  # path of a file to send (reports)
    # platform extras, e.g. {"edit_message_id": …} for Telegram, {"kind": "template"} for WeChat
    meta: dict[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "choices": [[c.value, c.label] for c in self.choices],
            "template": self.template,
            "fields": dict(self.fields),
            "callback_prefix": self.callback_prefix,
            "attachment": self.attachment,
            "meta": dict(self.meta),
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Outgoing:
        return cls(
            text=payload.get("text", ""),
            choices=tuple(Choice(v, lbl) for v, lbl in payload.get("choices") or ()),
            template=payload.get("template"),
            fields=dict(payload.get("fields") or {}),
            callback_prefix=payload.get("callback_prefix"),
            attachment=payload.get("attachment"),
            meta=dict(payload.get("meta") or {}),
        )


@dataclass(frozen=True)
class SendResult:
    """What a channel says of one delivery attempt.

    ok: delivered; retry_after: seconds to wait before trying again (429, 5xx,
    timeouts); permanent: never retry (blocked by user, invalid recipient).
    """

    ok: bool
    provider_id: str | None = None
    retry_after: float | None = None
    permanent: bool = False
    error: str | None = None


class Channel(Protocol):
    """A platform adapter. `send` must not raise for platform errors: it reports them."""

    name: str
    # messages per second overall and per recipient the platform tolerates
    rate_per_second: float
    rate_per_recipient: float

    async def send(self, address: Address, message: Outgoing) -> SendResult: ...
