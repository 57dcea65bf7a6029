"""Calling the WeChat and WeCom JSON APIs: tokens, error codes, retries.

Both APIs answer HTTP 200 with {"errcode": …, "errmsg": …}. A token error (40001,
40014, 42001) gets the token replaced once and the call repeated; every other outcome
is returned to the channel, which turns it into a `SendResult`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from dataclasses import dataclass
from typing import Any

import httpx

from bot.channels.wechat_tokens import TokenError, TokenStore
from conversations.messages import SendResult

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
# errcode → seconds to wait before trying again
RETRY_AFTER: dict[int, float] = {
    -1: 5.0,        # system busy
    45009: 600.0,   # daily API quota reached
    45011: 60.0,    # API frequency limit
    45033: 30.0,    # WeCom: too many concurrent calls
    45035: 60.0,
}
# errcodes for which trying again cannot help
PERMANENT = frozenset({
    40003,  # invalid openid
    40037,  # invalid template_id
    43004,  # user did not subscribe (or unsubscribed)
    43019,  # user in the blacklist
    43101,  # user refused this kind of message
    47003,  # template data invalid
    60111,  # WeCom: userid not found
    81013,  # WeCom: all recipients invalid
    40031,  # WeCom: invalid user list
})
TOKEN_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class ApiReply:
    errcode: int
    errmsg: str
    data: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.errcode == 0


class ApiClient:
    """POSTs JSON to `base + path?access_token=…` with one token refresh on 40001/42001."""

    def __init__(self, base: str, tokens: TokenStore, *, timeout: float = 10.0,
                 platform: str = "wechat") -> None:
        self.base = base if base.endswith("/") else base + "/"
        self.tokens = tokens
        self.timeout = timeout
        self.platform = platform
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                                 httpx.AsyncClient] = weakref.WeakKeyDictionary()

    def _client(self) -> httpx.AsyncClient:
        # One connection pool per event loop (tests and `drain` run several loops).
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = httpx.AsyncClient(timeout=self.timeout,
                                       headers={"User-Agent": "visitbot"})
            self._clients[loop] = client
        return client

    async def _token(self, bad: str | None = None) -> str:
        if bad is None and (value := self.tokens.cached()):
            return value
        if bad is None:
            return await asyncio.to_thread(self.tokens.get)
        return await asyncio.to_thread(self.tokens.replace, bad)

    async def post(self, path: str, body: dict[str, Any]) -> ApiReply | SendResult:
        """The platform's answer, or a SendResult when no answer could be had."""
        try:
            token = await self._token()
        except TokenError as exc:
            return SendResult(ok=False, retry_after=TOKEN_RETRY_AFTER, error=str(exc))
        for attempt in (1, 2):
            reply = await self._post_once(path, body, token)
            if isinstance(reply, SendResult):
                return reply
            if reply.errcode in TOKEN_ERRORS and attempt == 1:
                log.info("%s token refused (%s), replacing it", self.platform, reply.errcode)
                try:
                    token = await self._token(bad=token)
                except TokenError as exc:
                    return SendResult(ok=False, retry_after=TOKEN_RETRY_AFTER, error=str(exc))
                continue
            return reply
        raise AssertionError("unreachable")

    async def _post_once(self, path: str, body: dict[str, Any],
                         token: str) -> ApiReply | SendResult:
        try:
            resp = await self._client().post(self.base + path, params={"access_token": token},
                                             json=body)
        except httpx.TimeoutException:
            return SendResult(ok=False, error=f"{self.platform} {path}: timeout")
        except httpx.HTTPError as exc:
            return SendResult(ok=False, error=f"{self.platform} {path}: {type(exc).__name__}")
        if resp.status_code >= 500 or resp.status_code == 429:
            return SendResult(ok=False, retry_after=5.0,
                              error=f"{self.platform} {path}: HTTP {resp.status_code}")
        try:
            data = resp.json()
            code = int(data.get("errcode", 0))
        except (ValueError, TypeError, AttributeError):
            return SendResult(ok=False, error=f"{self.platform} {path}: HTTP "
                                              f"{resp.status_code}, not JSON")
        return ApiReply(code, str(data.get("errmsg", "")), data)


def failure(reply: ApiReply, what: str) -> SendResult:
    """A failed API reply as a SendResult: permanent, retry after, or plain retry."""
    error = f"{what}: {reply.errcode} {reply.errmsg}"[:500]
    if reply.errcode in PERMANENT:
        return SendResult(ok=False, permanent=True, error=error)
    return SendResult(ok=False, retry_after=RETRY_AFTER.get(reply.errcode), error=error)


def fetch_token(url: str, params: dict[str, str], timeout: float = 10.0) -> tuple[str, int]:
    """GET a token endpoint (sync: runs in a worker thread under the row lock)."""
    try:
        resp = httpx.get(url, params=params, timeout=timeout)
        data = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise TokenError(f"token request failed: {type(exc).__name__}") from None
    token = data.get("access_token") if isinstance(data, dict) else None
    if not token:
        code = data.get("errcode") if isinstance(data, dict) else None
        msg = str(data.get("errmsg", ""))[:200] if isinstance(data, dict) else ""
        raise TokenError(f"token refused: {code} {msg}")
    return str(token), int(data.get("expires_in", 7200))


def short_id(key: str, size: int = 32) -> str:
    """A stable id of at most `size` characters from an outbox key (dedupe ids)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:size]
