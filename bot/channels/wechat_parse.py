"""WeChat and WeCom callback fields → `Incoming` of one `Kind`, or a reason to do nothing.

Every message a person sends is classified and handed to the core, which decides by the
table in bot/chat/inbound.py what it does (an answer, a command, a hint that repeats the
question) and replies through the outbox. Only callbacks without a sender, or for another
WeCom app, are ignored here.

Message ids let the core drop redeliveries: MsgId for messages, and for events (which
have none) FromUserName:CreateTime:Event, which WeChat keeps across its retries.
"""

from __future__ import annotations

from dataclasses import dataclass

from conversations.messages import Address, Incoming, Kind, Media

QR_PREFIX = "qrscene_"

# Message types the checklist cannot use (voice, image and location are read below).
MESSAGE_KINDS = {"video": Kind.VIDEO, "shortvideo": Kind.VIDEO, "link": Kind.LINK,
                 "file": Kind.FILE}
# Events a person causes that ask for nothing of ours: the 拍照/相册 menu (the picture
# arrives as an image message of its own), the location picker (a location message
# follows), a URL menu (the person is on their way to a web page). The rest of the
# events no person typed (delivery reports, periodic location reports) are notices.
EVENT_KINDS = {"pic_sysphoto": Kind.MENU_PHOTO, "pic_photo_or_album": Kind.MENU_PHOTO,
               "pic_weixin": Kind.MENU_PHOTO, "scancode_waitmsg": Kind.OTHER}


@dataclass(frozen=True)
class Ignore:
    """Not for the core (no sender, another app's callback): answer 'success'."""

    reason: str


Parsed = Incoming | Ignore


def _event_id(msg: dict[str, str], event: str) -> str:
    return f"{msg.get('FromUserName', '')}:{msg.get('CreateTime', '')}:{event}"


def _coord(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def parse_wechat(msg: dict[str, str]) -> Parsed:
    """An Official Account callback (already authenticated and parsed)."""
    sender = msg.get("FromUserName", "")
    if not sender:
        return Ignore("no sender")
    addr = Address("wechat", sender)
    kind = msg.get("MsgType", "").lower()
    if kind == "text":
        content = msg.get("Content", "")
        menu_id = msg.get("bizmsgmenuid", "")
        msg_id = msg.get("MsgId", "")
        if menu_id:  # a click on a msgmenu item: the id is the choice's value
            return Incoming(addr, msg_id or _event_id(msg, "menu"), text=content or None,
                            choice=menu_id, meta={"menu_click": True}, kind=Kind.CALLBACK)
        return Incoming(addr, msg_id or _event_id(msg, "text"), text=content, kind=Kind.TEXT)
    if kind == "event":
        return _wechat_event(msg, addr)
    return _message(msg, addr, kind)


def _message(msg: dict[str, str], addr: Address, kind: str) -> Incoming:
    """A message (not an event) of WeChat or WeCom other than text."""
    msg_id = msg.get("MsgId", "") or _event_id(msg, kind)
    if kind == "voice":
        recognition = msg.get("Recognition", "").strip()
        meta = {"voice": True, "media_id": msg.get("MediaId", "")}
        if not recognition:
            return Incoming(addr, msg_id, meta=meta, kind=Kind.VOICE_BLANK)
        return Incoming(addr, msg_id, text=recognition, meta=meta, kind=Kind.VOICE_TEXT)
    if kind == "image":
        # kept as a reference, as Telegram's file_id is: MediaId for the media API,
        # PicUrl for the picture itself
        media_id, url = msg.get("MediaId", ""), msg.get("PicUrl", "")
        return Incoming(addr, msg_id, media=Media("photo", media_id or url),
                        meta={"pic_url": url} if url else {}, kind=Kind.IMAGE)
    if kind == "location":
        return Incoming(addr, msg_id, media=Media(
            "location", msg.get("Label", ""), latitude=_coord(msg.get("Location_X")),
            longitude=_coord(msg.get("Location_Y"))), kind=Kind.LOCATION)
    return Incoming(addr, msg_id, meta={"msg_type": kind[:20]},
                    kind=MESSAGE_KINDS.get(kind, Kind.OTHER))


def _wechat_event(msg: dict[str, str], addr: Address) -> Incoming:
    event = msg.get("Event", "")
    low = event.lower()
    key = msg.get("EventKey", "")
    msg_id = _event_id(msg, event)
    if low == "subscribe":
        meta: dict[str, object] = {"event": "subscribe"}
        if key.startswith(QR_PREFIX) and key[len(QR_PREFIX):]:
            meta["bind_code"] = key[len(QR_PREFIX):]
        return Incoming(addr, msg_id, meta=meta, kind=Kind.SUBSCRIBE)
    if low == "scan":
        code = key[len(QR_PREFIX):] if key.startswith(QR_PREFIX) else key
        return Incoming(addr, msg_id, meta={"event": "scan", "bind_code": code},
                        kind=Kind.SCAN)
    if low == "unsubscribe":
        return Incoming(addr, msg_id, meta={"event": "unsubscribe"}, kind=Kind.UNSUBSCRIBE)
    if low == "click":  # a custom menu item: its key is a command word, never an answer
        return Incoming(addr, msg_id, text=key, meta={"menu_click": True},
                        kind=Kind.MENU_CLICK)
    return Incoming(addr, msg_id, meta={"event": low[:32]},
                    kind=EVENT_KINDS.get(low, Kind.NOTICE))


def parse_wecom(msg: dict[str, str], agent_id: int | None = None) -> Parsed:
    """A WeCom self-built app callback: messages, menu clicks and card buttons."""
    sender = msg.get("FromUserName", "")
    if not sender:
        return Ignore("no sender")
    agent = msg.get("AgentID", "")
    if agent_id is not None and agent and agent != str(agent_id):
        return Ignore(f"for agent {agent[:16]}")
    addr = Address("wecom", sender)
    kind = msg.get("MsgType", "").lower()
    if kind == "text":
        return Incoming(addr, msg.get("MsgId") or _event_id(msg, "text"),
                        text=msg.get("Content", ""), kind=Kind.TEXT)
    if kind != "event":
        return _message(msg, addr, kind)
    event = msg.get("Event", "")
    low = event.lower()
    key = msg.get("EventKey", "")
    msg_id = _event_id(msg, event)
    if low == "click":
        return Incoming(addr, msg_id, text=key, meta={"menu_click": True},
                        kind=Kind.MENU_CLICK)
    if low == "template_card_event" and key:
        # A button on a card we sent; TaskId names the card, so one press counts once.
        task = msg.get("TaskId", "")
        return Incoming(addr, f"{sender}:card:{task}:{key}"[:128] if task else msg_id,
                        choice=key, meta={"card_task": task}, kind=Kind.CALLBACK)
    if low == "subscribe":
        return Incoming(addr, msg_id, meta={"event": "subscribe"}, kind=Kind.SUBSCRIBE)
    if low == "unsubscribe":
        return Incoming(addr, msg_id, meta={"event": "unsubscribe"}, kind=Kind.UNSUBSCRIBE)
    return Incoming(addr, msg_id, meta={"event": low[:32]},
                    kind=EVENT_KINDS.get(low, Kind.NOTICE))
