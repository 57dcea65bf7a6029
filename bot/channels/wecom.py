"""WeCom (企业微信) self-built app: township officers' callback endpoint and `WeComChannel`.

Callbacks are always encrypted (msg_signature over the ciphertext, AES with the corp
id); each signed (timestamp, nonce) is served once by all processes
(`bot.channels.replay_guard`). Every member's message, menu click and card button becomes
an `Incoming` of one kind (bot/chat/inbound.py decides what it does); replies go through
the outbox and the app-message API (no passive reply: cards with buttons cannot ride in
one).

Sending: a message with choices becomes a button card (template_card
button_interaction, buttons carry the choice values and come back as
template_card_event); one with meta["url"] a textcard; anything else text. WeCom
allows 30 messages a minute and 1,000 an hour to one member: rate_per_recipient 0.5.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.channels import replay_guard
from bot.channels.wechat_api import ApiClient, failure, fetch_token, short_id
from bot.channels.wechat_crypto import MAX_SKEW_SECONDS, CallbackAuth, Forbidden
from bot.channels.wechat_parse import Ignore, parse_wecom
from bot.channels.wechat_tokens import TokenStore
from bot.channels.wechat_webhook import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_BODY,
    HandlesIncoming,
    read_limited,
    refused,
    run_core,
    unread,
)
from bot.channels.wechat_xml import BadXml, fit_utf8, truncate_utf8
from bot.channels.wechat_xml import with_numbered_choices as numbered
from bot.chat.inbound import kind_of, silent
from bot.settings import Settings
from bot.web.raw_asgi import Unread
from conversations.messages import Address, Outgoing, SendResult
from store.base import utcnow
from store.db import DatabaseUnavailable

log = logging.getLogger(__name__)

TEXT_MAX_BYTES = 2048
CARD_MAX_BUTTONS = 6
_TASK_OK = re.compile(r"[^A-Za-z0-9_\-@]")


def _secret(value: object) -> str | None:
    if value is None:
        return None
    get = getattr(value, "get_secret_value", None)
    return str(get()) if get else str(value)


def wecom_routes(core: HandlesIncoming, settings: Settings, *, path: str = "/wecom",
                 deadline: float = DEFAULT_DEADLINE, max_body: int = DEFAULT_MAX_BODY,
                 clock: Callable[[], float] = time.time,
                 replay: replay_guard.ReplayGuard | None = None) -> list[Route]:
    token, aes_key = _secret(settings.wecom_token), _secret(settings.wecom_aes_key)
    if not token or not aes_key or not settings.wecom_corp_id:
        raise ValueError("VISITBOT_WECOM_TOKEN, _AES_KEY and _CORP_ID are required")
    auth = CallbackAuth(token, aes_key, settings.wecom_corp_id, work=True, clock=clock)
    guard = replay or replay_guard.guard_for(core, "wecom", MAX_SKEW_SECONDS, clock)

    async def verify(request: Request) -> Response:
        q = request.query_params
        ts, nonce = q.get("timestamp", ""), q.get("nonce", "")
        try:
            auth.check_fresh(ts, nonce)
            echo = auth.decrypt_echo(q.get("msg_signature"), ts, nonce, q.get("echostr", ""))
        except Forbidden as exc:
            return refused(403, str(exc), "wecom")
        return PlainTextResponse(echo)

    async def receive(request: Request) -> Response:
        q = request.query_params
        ts, nonce = q.get("timestamp", ""), q.get("nonce", "")
        try:
            auth.check_fresh(ts, nonce)
            if not q.get("msg_signature"):
                raise Forbidden("no msg_signature")
        except Forbidden as exc:
            return refused(403, str(exc), "wecom")
        try:
            body = await read_limited(request, max_body)
        except Unread as exc:
            return unread(exc, "wecom")
        try:
            msg = auth.open_envelope(body, q.get("msg_signature"), ts, nonce)
        except Forbidden as exc:
            return refused(403, str(exc), "wecom")
        except BadXml as exc:
            return refused(400, str(exc), "wecom")
        try:
            if not await replay_guard.claim(guard, ts, nonce):
                return refused(403, "replayed nonce", "wecom")
        except DatabaseUnavailable as exc:
            log.error("database unavailable for the wecom replay guard: %s", exc)
            return PlainTextResponse("", status_code=503)
        parsed = parse_wecom(msg, settings.wecom_agent_id)
        if isinstance(parsed, Ignore) or silent(kind_of(parsed)):
            log.info("wecom callback ignored: %s",
                     parsed.reason if isinstance(parsed, Ignore) else parsed.meta)
            return PlainTextResponse("")
        _, early = await run_core(core, parsed, inline=False,
                                  deadline=deadline, late=None)
        if early is not None and early.status_code >= 500:
            await replay_guard.release(guard, ts, nonce)  # WeCom's retry is let in
            return early
        return PlainTextResponse("")

    return [Route(path, verify, methods=["GET"]), Route(path, receive, methods=["POST"])]


class WeComChannel:
    name = "wecom"
    rate_per_second = 20.0
    rate_per_recipient = 0.5  # 30 a minute, 1,000 an hour per member

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], *,
                 cards: bool = True, clock: Callable[[], datetime] = utcnow,
                 timeout: float = 10.0) -> None:
        secret = _secret(settings.wecom_secret)
        if not settings.wecom_corp_id or not secret or settings.wecom_agent_id is None:
            raise ValueError("VISITBOT_WECOM_CORP_ID, _SECRET and _AGENT_ID are required")
        self.agent_id = settings.wecom_agent_id
        self.cards = cards
        self.public_url = settings.public_url
        base = settings.wecom_api_base
        corp_id = settings.wecom_corp_id
        root = base if base.endswith("/") else base + "/"
        self.tokens = TokenStore(
            sessions, f"wecom:{corp_id}:{self.agent_id}",
            lambda: fetch_token(root + "gettoken", {"corpid": corp_id, "corpsecret": secret}),
            clock=clock)
        self.api = ApiClient(base, self.tokens, timeout=timeout, platform="wecom")

    def body(self, userid: str, message: Outgoing) -> dict[str, Any]:
        head: dict[str, Any] = {"touser": userid, "agentid": self.agent_id}
        key = str(message.meta.get("outbox_key") or "") or uuid.uuid4().hex
        choices = message.choices
        title, _, rest = message.text.strip().partition("\n")
        if self.cards and choices and len(choices) <= CARD_MAX_BUTTONS:
            # the buttons are the options: not listed in the card's text as well
            title, _, rest = (message.meta.get("head") or message.text).strip().partition("\n")
            task = _TASK_OK.sub("_", f"vb-{short_id(key, 40)}")[:128]
            return {**head, "msgtype": "template_card", "template_card": {
                "card_type": "button_interaction",
                "main_title": {"title": truncate_utf8(title, 120)},
                "sub_title_text": truncate_utf8(rest.strip() or title, 1000),
                "task_id": task,
                "button_list": [{"text": truncate_utf8(c.label, 40), "style": 1, "key": c.value}
                                for c in choices],
            }}
        url = message.meta.get("url")
        if url:
            return {**head, "msgtype": "textcard", "textcard": {
                "title": truncate_utf8(title, 128),
                "description": truncate_utf8(rest.strip() or title, 512),
                "url": str(url), "btntxt": "详情"}}
        text = message.text if message.meta.get("listed") else numbered(
            message.text, [c.label for c in choices])
        return {**head, "msgtype": "text", "text": {"content": fit_utf8(text, TEXT_MAX_BYTES)}}

    async def send(self, address: Address, message: Outgoing) -> SendResult:
        reply = await self.api.post("message/send", self.body(address.external_id, message))
        if isinstance(reply, SendResult):
            return reply
        if not reply.ok:
            return failure(reply, "wecom message")
        invalid = str(reply.data.get("invaliduser") or "")
        if address.external_id in invalid.split("|"):
            return SendResult(ok=False, permanent=True, error="wecom: invalid user")
        msgid = reply.data.get("msgid")
        return SendResult(ok=True, provider_id=str(msgid) if msgid else None)
