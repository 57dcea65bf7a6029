"""Pieces shared by the WeChat and WeCom callback endpoints.

The core is synchronous (one DB transaction); it runs in a worker thread and the
endpoint waits for it at most `deadline` seconds, inside WeChat's 5-second limit. A
core that finishes later still commits; its inline reply, already marked sent in the
outbox, is then delivered by API (`late`), so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

from bot.channels.handoff import hand_to_core
from bot.web.raw_asgi import BODY_TIMEOUT, Unread, read_body
from conversations.messages import Address, Incoming, Outgoing
from store.db import DatabaseUnavailable

log = logging.getLogger(__name__)

DEFAULT_DEADLINE = 4.0
DEFAULT_MAX_BODY = 64 * 1024
SUCCESS = "success"

LateSend = Callable[[Address, Outgoing], Awaitable[Any]]


class HandlesIncoming(Protocol):
    """What the endpoints need of `bot.chat.service.Core`."""

    def handle(self, incoming: Incoming, *, inline: bool = False) -> Any: ...


async def read_limited(request: Request, limit: int, timeout: float | None = None) -> bytes:
    """The body, refused when it is over `limit` bytes or takes over `timeout` seconds:
    a slow client (a few bytes a minute) would otherwise hold a connection and a task."""
    return await read_body(request.scope, request.receive, limit,
                           BODY_TIMEOUT if timeout is None else timeout)


def unread(exc: Unread, platform: str) -> Response:
    """One log line (no traceback) and the status; a gone client never sees it."""
    return refused(exc.status, exc.reason, platform)


def success() -> Response:
    return PlainTextResponse(SUCCESS)


def refused(status: int, reason: str, platform: str) -> Response:
    log.warning("%s callback refused (%d): %s", platform, status, reason)
    return PlainTextResponse("", status_code=status)


_background: set[asyncio.Task[Any]] = set()


async def run_core(core: HandlesIncoming, incoming: Incoming, *, inline: bool,
                   deadline: float, late: LateSend | None) -> tuple[Any | None, Response | None]:
    """(handled, None) if the core answered in time; (None, response) otherwise."""
    task: asyncio.Future[Any] = asyncio.ensure_future(
        hand_to_core(core, incoming, inline=inline))
    try:
        return await asyncio.wait_for(asyncio.shield(task), deadline), None
    except TimeoutError:
        log.warning("%s message took over %.1fs; answered 'success', replying by API",
                    incoming.address.platform, deadline)
        _background.add(task)
        task.add_done_callback(lambda t: _after_deadline(t, incoming.address, late))
        return None, success()
    except DatabaseUnavailable as exc:
        # 503: WeChat tries again later, and the message is processed then.
        log.error("database unavailable for a %s message: %s", incoming.address.platform, exc)
        return None, PlainTextResponse("", status_code=503)
    except ClientDisconnect:
        return None, success()
    except Exception:
        log.exception("handling a %s message failed", incoming.address.platform)
        return None, success()


def _after_deadline(task: asyncio.Future[Any], address: Address, late: LateSend | None) -> None:
    _background.discard(task)  # type: ignore[arg-type]
    if task.cancelled() or task.exception() is not None:
        if not task.cancelled():
            log.error("late %s message failed: %s", address.platform, task.exception())
        return
    out = getattr(task.result(), "inline", None)
    if out is None:
        return
    if late is None:
        log.error("a late inline reply to a %s user could not be sent (no channel)",
                  address.platform)
        return
    sending = asyncio.ensure_future(_send_late(late, address, out))
    _background.add(sending)
    sending.add_done_callback(_background.discard)


async def _send_late(late: LateSend, address: Address, out: Outgoing) -> None:
    with contextlib.suppress(Exception):
        result = await late(address, out)
        if not getattr(result, "ok", False):
            log.error("late reply to a %s user not delivered: %s", address.platform,
                      getattr(result, "error", None))
