"""The WeChat Official Account (公众号) channel: the callback endpoint and `WeChatChannel`.

GET /wechat answers WeChat's URL verification; POST /wechat takes messages in plain
mode (signature) or safe mode (AES, msg_signature). With an EncodingAESKey configured,
safe mode is the only mode: plain mode's signature covers the timestamp and nonce, never
the body, so a logged query string would carry any forged body. A forged, stale or
replayed request gets 403 and touches nothing (the replay guard is shared by every
process, `bot.channels.replay_guard`); a hostile or broken body 400/413, a slow one 408;
anything we do not handle 'success'. The first reply rides back as the passive reply
(encrypted in safe mode).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.channels import replay_guard
from bot.channels.wechat_channel import WeChatChannel
from bot.channels.wechat_crypto import MAX_SKEW_SECONDS, CallbackAuth, Forbidden
from bot.channels.wechat_parse import Ignore, parse_wechat
from bot.channels.wechat_webhook import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_BODY,
    HandlesIncoming,
    LateSend,
    read_limited,
    refused,
    run_core,
    success,
    unread,
)
from bot.channels.wechat_xml import BadXml, fit_utf8, parse_xml, text_reply_xml
from bot.channels.wechat_xml import with_numbered_choices as numbered
from bot.chat.inbound import kind_of, silent
from bot.settings import Settings
from bot.web.raw_asgi import Unread
from conversations.messages import Address, Outgoing
from store.db import DatabaseUnavailable

__all__ = ["WeChatChannel", "wechat_routes"]

log = logging.getLogger(__name__)
PASSIVE_MAX_BYTES = 2047  # WeChat drops longer passive text replies


def _secret(value: object) -> str | None:
    if value is None:
        return None
    get = getattr(value, "get_secret_value", None)
    return str(get()) if get else str(value)


def wechat_routes(core: HandlesIncoming, settings: Settings, *, path: str = "/wechat",
                  deadline: float = DEFAULT_DEADLINE, max_body: int = DEFAULT_MAX_BODY,
                  late: LateSend | None = None,
                  clock: Callable[[], float] = time.time,
                  replay: replay_guard.ReplayGuard | None = None) -> list[Route]:
    token = _secret(settings.wechat_token)
    if not token:
        raise ValueError("VISITBOT_WECHAT_TOKEN is required for the WeChat endpoint")
    auth = CallbackAuth(token, _secret(settings.wechat_aes_key),
                        settings.wechat_app_id or "", clock=clock)
    if late is None:
        late = _default_late(core, settings)
    guard = replay or replay_guard.guard_for(core, "wechat", MAX_SKEW_SECONDS, clock)

    async def verify(request: Request) -> Response:
        q = request.query_params
        ts, nonce = q.get("timestamp", ""), q.get("nonce", "")
        try:
            auth.check_fresh(ts, nonce)
            auth.check_signature(q.get("signature"), ts, nonce)
        except Forbidden as exc:
            return refused(403, str(exc), "wechat")
        return PlainTextResponse(q.get("echostr", ""))

    async def receive(request: Request) -> Response:
        q = request.query_params
        ts, nonce = q.get("timestamp", ""), q.get("nonce", "")
        safe = q.get("encrypt_type", "raw").lower() == "aes"
        try:
            # the query's signature is checked before the body is read
            auth.check_fresh(ts, nonce)
            auth.check_signature(q.get("signature"), ts, nonce)
            if auth.can_decrypt and not safe:
                raise Forbidden("plain-mode callback but an EncodingAESKey is configured")
        except Forbidden as exc:
            return refused(403, str(exc), "wechat")
        try:
            body = await read_limited(request, max_body)
        except Unread as exc:
            return unread(exc, "wechat")
        try:
            if safe:
                msg = auth.open_envelope(body, q.get("msg_signature"), ts, nonce)
            else:
                msg = parse_xml(body)
        except Forbidden as exc:
            return refused(403, str(exc), "wechat")
        except BadXml as exc:
            return refused(400, str(exc), "wechat")
        try:
            if not await replay_guard.claim(guard, ts, nonce):
                return refused(403, "replayed nonce", "wechat")
        except DatabaseUnavailable as exc:
            log.error("database unavailable for the wechat replay guard: %s", exc)
            return PlainTextResponse("", status_code=503)

        parsed = parse_wechat(msg)
        if isinstance(parsed, Ignore) or silent(kind_of(parsed)):
            log.info("wechat callback ignored: %s",
                     parsed.reason if isinstance(parsed, Ignore) else parsed.meta)
            return success()
        handled, early = await run_core(core, parsed, inline=True, deadline=deadline,
                                        late=late)
        if early is not None:
            if early.status_code >= 500:  # WeChat sends it again: let that one in
                await replay_guard.release(guard, ts, nonce)
            return early
        out: Outgoing | None = getattr(handled, "inline", None)
        if out is None:
            return success()
        return _reply(parsed.address.external_id, msg.get("ToUserName", ""),
                      passive_text(out), safe, nonce)

    def _reply(to_user: str, from_user: str, content: str, safe: bool, nonce: str) -> Response:
        xml = text_reply_xml(to_user, from_user, content, int(clock()))
        if safe:
            xml = auth.encrypt_reply(xml, nonce)
        return Response(xml, media_type="application/xml")

    return [Route(path, verify, methods=["GET"]), Route(path, receive, methods=["POST"])]


def passive_text(out: Outgoing) -> str:
    text = out.text if out.meta.get("listed") else numbered(out.text,
                                                           [c.label for c in out.choices])
    short = fit_utf8(text, PASSIVE_MAX_BYTES)
    if short != text:
        log.info("passive reply shortened to %d bytes, its end kept", PASSIVE_MAX_BYTES)
    return short


def _default_late(core: HandlesIncoming, settings: Settings) -> LateSend | None:
    sessions = getattr(core, "sessions", None)
    if sessions is None or not settings.wechat_app_id or settings.wechat_app_secret is None:
        return None
    channel: WeChatChannel | None = None

    async def late(address: Address, out: Outgoing) -> object:
        nonlocal channel
        if channel is None:
            channel = WeChatChannel(settings, sessions)
        return await channel.send(address, out)

    return late
