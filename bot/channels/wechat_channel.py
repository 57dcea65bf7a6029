"""`WeChatChannel`: sending to Official Account followers.

WeChat lets an account send free-form customer-service messages only for 48 hours after
the user's last message, and only so many per message of theirs. Within that window
(and budget) we send customer-service text, or a msgmenu whose items the user can tap;
outside it, or when WeChat says 45015 (window closed) / 45047 (budget spent), a
template message whose template id comes from `settings.wechat_templates[kind]`.

The window and budget live on `accounts` (last_inbound_at, free_sent): the core sets
them on every inbound message; a slot is reserved here with one conditional UPDATE
before each customer-service send, so concurrent dispatchers never overspend.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.channels.wechat_api import ApiClient, ApiReply, failure, fetch_token, short_id
from bot.channels.wechat_tokens import TokenStore
from bot.channels.wechat_xml import fit_utf8, truncate_utf8
from bot.channels.wechat_xml import with_numbered_choices as numbered
from bot.settings import Settings
from conversations.messages import Address, Outgoing, SendResult
from conversations.text import render
from store.base import utcnow
from store.models import Account

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=48)
FREE_BUDGET = 20  # customer-service messages per user message (45047 beyond)
WINDOW_CLOSED = frozenset({45015, 45047})
TEXT_MAX_BYTES = 2048
MSGMENU_MAX_ITEMS = 10
Slot = Literal["reserved", "closed", "unknown"]


# --- the 48-hour window, on the accounts table ------------------------------------------

# Built once: every customer-service message books its slot, and a statement built per
# call costs more Python than the database spends on it.
_BOOK = (
    update(Account.__table__)
    .where(Account.platform == "wechat", Account.external_id == bindparam("openid"),
           Account.last_inbound_at > bindparam("since"), Account.free_sent < bindparam("budget"))
    .values(free_sent=Account.free_sent + 1)
    .returning(Account.id)
)
_KNOWN = select(Account.id).where(Account.platform == "wechat",
                                  Account.external_id == bindparam("openid"))


def reserve_free_slot(sessions: sessionmaker[Session], openid: str, now: datetime,
                      budget: int = FREE_BUDGET, window: timedelta = WINDOW) -> Slot:
    """Book one customer-service message: 'reserved', 'closed' (window or budget), or
    'unknown' (no bound account: we do not know when they last wrote)."""
    with sessions() as s:
        booked = s.connection().execute(
            _BOOK, {"openid": openid, "since": now - window, "budget": budget}).first()
        if booked is not None:
            s.commit()
            return "reserved"
        exists = s.connection().execute(_KNOWN, {"openid": openid}).scalar()
        s.rollback()
        return "closed" if exists is not None else "unknown"


def close_window(sessions: sessionmaker[Session], openid: str, budget: int = FREE_BUDGET
                 ) -> None:
    """WeChat said 45015/45047: no more free messages until the user writes again."""
    with sessions() as s:
        s.execute(update(Account)
                  .where(Account.platform == "wechat", Account.external_id == openid)
                  .values(free_sent=budget))
        s.commit()


def release_slot(sessions: sessionmaker[Session], openid: str) -> None:
    """A booked message was not sent (network, busy): give the slot back."""
    with sessions() as s:
        s.execute(update(Account)
                  .where(Account.platform == "wechat", Account.external_id == openid,
                         Account.free_sent > 0)
                  .values(free_sent=Account.free_sent - 1))
        s.commit()


# --- the channel ------------------------------------------------------------------------

class WeChatChannel:
    name = "wechat"
    rate_per_second = 20.0
    rate_per_recipient = 1.0

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], *,
                 msgmenu: bool = True, budget: int = FREE_BUDGET,
                 clock: Callable[[], datetime] = utcnow, timeout: float = 10.0) -> None:
        if not settings.wechat_app_id or settings.wechat_app_secret is None:
            raise ValueError("VISITBOT_WECHAT_APP_ID and _APP_SECRET are required to send")
        self.settings = settings
        self.sessions = sessions
        self.msgmenu = msgmenu  # msgmenu needs a verified service account
        self.budget = budget
        self.clock = clock
        base = settings.wechat_api_base
        app_id, secret = settings.wechat_app_id, settings.wechat_app_secret.get_secret_value()
        self.tokens = TokenStore(
            sessions, f"wechat:{app_id}",
            lambda: fetch_token(_join(base, "token"), {
                "grant_type": "client_credential", "appid": app_id, "secret": secret}),
            clock=clock)
        self.api = ApiClient(base, self.tokens, timeout=timeout, platform="wechat")

    async def send(self, address: Address, message: Outgoing) -> SendResult:
        openid = address.external_id
        if message.meta.get("kind") != "template":
            slot = await asyncio.to_thread(reserve_free_slot, self.sessions, openid,
                                           self.clock(), self.budget)
            if slot != "closed":
                reply = await self.api.post("message/custom/send", self._custom(openid, message))
                if isinstance(reply, ApiReply) and reply.ok:
                    return SendResult(ok=True, provider_id=None)
                if isinstance(reply, ApiReply) and reply.errcode in WINDOW_CLOSED:
                    log.info("wechat window closed (%s): sending a template", reply.errcode)
                    if slot == "reserved":
                        await asyncio.to_thread(close_window, self.sessions, openid,
                                                self.budget)
                else:
                    if slot == "reserved":
                        await asyncio.to_thread(release_slot, self.sessions, openid)
                    if isinstance(reply, SendResult):
                        return reply
                    return failure(reply, "custom message")
        return await self._send_template(openid, message)

    def _custom(self, openid: str, message: Outgoing) -> dict[str, Any]:
        choices = message.choices
        if self.msgmenu and choices and len(choices) <= MSGMENU_MAX_ITEMS:
            return {"touser": openid, "msgtype": "msgmenu", "msgmenu": {
                # the menu items are the options: not listed in the text as well
                "head_content": fit_utf8(message.meta.get("head") or message.text,
                                         TEXT_MAX_BYTES),
                "list": [{"id": c.value, "content": c.label} for c in choices],
                "tail_content": "",
            }}
        text = message.text if message.meta.get("listed") else numbered(
            message.text, [c.label for c in choices])
        return {"touser": openid, "msgtype": "text",
                "text": {"content": fit_utf8(text, TEXT_MAX_BYTES)}}

    async def _send_template(self, openid: str, message: Outgoing) -> SendResult:
        kind = message.template or "default"
        templates = self.settings.wechat_templates
        template_id = templates.get(kind) or templates.get("default")
        if not template_id:
            return SendResult(ok=False, permanent=True,
                              error=f"outside the 48-hour window and no WeChat template "
                                    f"for {kind!r} (VISITBOT_WECHAT_TEMPLATES)")
        body: dict[str, Any] = {"touser": openid, "template_id": template_id,
                                "data": template_data(message)}
        if url := message.meta.get("url"):
            body["url"] = str(url)
        if key := message.meta.get("outbox_key"):
            body["client_msg_id"] = short_id(str(key))  # WeChat drops a repeat within 10 min
        reply = await self.api.post("message/template/send", body)
        if isinstance(reply, SendResult):
            return reply
        if reply.ok:
            msgid = reply.data.get("msgid")
            return SendResult(ok=True, provider_id=str(msgid) if msgid is not None else None)
        return failure(reply, f"template {kind}")


def template_data(message: Outgoing) -> dict[str, dict[str, str]]:
    """Template fields: a first line and a remark from the text, then `fields`, then
    `meta["template_data"]` (exact keys of the template in the MP console) win."""
    first, _, _rest = message.text.strip().partition("\n")
    data: dict[str, dict[str, str]] = {
        "first": {"value": truncate_utf8(first, 200)},
        "remark": {"value": render("wechat_template_remark", window_closed=True)},
    }
    for key, value in message.fields.items():
        data[key] = {"value": truncate_utf8(str(value), 200)}
    extra = message.meta.get("template_data")
    if isinstance(extra, dict):
        for key, value in extra.items():
            data[str(key)] = {"value": truncate_utf8(str(value), 200)}
    return data


def _join(base: str, path: str) -> str:
    return (base if base.endswith("/") else base + "/") + path
