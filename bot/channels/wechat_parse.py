"""WeChat and WeCom callback fields → `Incoming`, or a reason to do nothing.

Message ids let the core drop redeliveries: MsgId for messages, and for events (which
have none) FromUserName:CreateTime:Event, which WeChat keeps across its retries.
"""

from __future__ import annotations

from dataclasses import dataclass

from conversations.messages import Address, Incoming, Media

QR_PREFIX = "qrscene_"


@dataclass(frozen=True)
class Ignore:
    """Not for the core (image, video, link, view/location events…): answer 'success'."""

    reason: str


@dataclass(frozen=True)
class AskText:
    """A voice note WeChat could not transcribe: ask for text or a button instead."""

    from_user: str
    to_user: str


Parsed = Incoming | Ignore | AskText


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
    msg_id = msg.get("MsgId", "")
    if kind == "text":
        content = msg.get("Content", "")
        menu_id = msg.get("bizmsgmenuid", "")
        if menu_id:  # a click on a msgmenu item: the id is the choice's value
            return Incoming(addr, msg_id or _event_id(msg, "menu"), text=content or None,
                            choice=menu_id, meta={"menu_click": True})
        return Incoming(addr, msg_id or _event_id(msg, "text"), text=content)
    if kind == "voice":
        recognition = msg.get("Recognition", "").strip()
        if not recognition:
            return AskText(sender, msg.get("ToUserName", ""))
        return Incoming(addr, msg_id or _event_id(msg, "voice"), text=recognition,
                        meta={"voice": True, "media_id": msg.get("MediaId", "")})
    if kind == "location":
        return Incoming(addr, msg_id or _event_id(msg, "location"), media=Media(
            "location", msg.get("Label", ""), latitude=_coord(msg.get("Location_X")),
            longitude=_coord(msg.get("Location_Y"))))
    if kind == "event":
        return _wechat_event(msg, addr)
    return Ignore(f"message type {kind[:20]!r}")


def _wechat_event(msg: dict[str, str], addr: Address) -> Parsed:
    event = msg.get("Event", "")
    low = event.lower()
    key = msg.get("EventKey", "")
    msg_id = _event_id(msg, event)
    if low == "subscribe":
        meta: dict[str, object] = {"event": "subscribe"}
        if key.startswith(QR_PREFIX) and key[len(QR_PREFIX):]:
            meta["bind_code"] = key[len(QR_PREFIX):]
        return Incoming(addr, msg_id, meta=meta)
    if low == "scan":
        if not key:
            return Ignore("scan without a scene")
        return Incoming(addr, msg_id, meta={"event": "scan", "bind_code": key})
    if low == "unsubscribe":
        return Incoming(addr, msg_id, meta={"event": "unsubscribe"})
    if low == "click" and key:  # a custom menu item: its key is a command word
        return Incoming(addr, msg_id, text=key, meta={"menu_click": True})
    return Ignore(f"event {event[:32]!r}")


def parse_wecom(msg: dict[str, str], agent_id: int | None = None) -> Parsed:
    """A WeCom self-built app callback: text messages, menu clicks and card buttons."""
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
                        text=msg.get("Content", ""))
    if kind != "event":
        return Ignore(f"message type {kind[:20]!r}")
    event = msg.get("Event", "")
    key = msg.get("EventKey", "")
    msg_id = _event_id(msg, event)
    if event.lower() == "click" and key:
        return Incoming(addr, msg_id, text=key, meta={"menu_click": True})
    if event.lower() == "template_card_event" and key:
        # A button on a card we sent; TaskId names the card, so one press counts once.
        task = msg.get("TaskId", "")
        return Incoming(addr, f"{sender}:card:{task}:{key}"[:128] if task else msg_id,
                        choice=key, meta={"card_task": task})
    return Ignore(f"event {event[:32]!r}")
