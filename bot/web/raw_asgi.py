"""Webhook endpoints as plain ASGI, and the front door that sends their POSTs straight in.

A webhook answers thousands of platform calls a minute, each with a few hundred bytes of
JSON; Starlette's routing, middleware and request and response objects around each cost
the bot about a tenth of its CPU per answer (py-spy, bench.openloop). A `RawEndpoint` is
still a Starlette route (tests and the dashboard's app mount it as one), and `direct`
puts the serving app behind a dispatcher that hands those paths' POSTs to it at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import orjson
from starlette.routing import BaseRoute, Route

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


BODY_TIMEOUT = 10.0  # seconds for the whole body: a platform sends it at once


class Unread(Exception):
    """The body was not read: too large, too slow, or the client went away."""

    status = 400
    reason = "body not read"


class TooLarge(Unread):
    status = 413
    reason = "body too large"


class TooSlow(Unread):
    status = 408
    reason = "body not sent in time"


class ClientGone(Unread):
    status = 400
    reason = "client disconnected"


def refuse_declared(declared: str | bytes | None, limit: int) -> None:
    """TooLarge when the Content-Length header says more than `limit` bytes (or is not a
    number): refused before a byte of the body is read."""
    if declared is None:
        return
    try:
        if int(declared) > limit:
            raise TooLarge
    except ValueError:
        raise TooLarge from None


class RawEndpoint:
    """An ASGI endpoint (Starlette mounts an instance as is, with no Request around it)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


def header(scope: Scope, name: bytes) -> bytes | None:
    """A request header's value (`name` in lower case, as ASGI gives them)."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def read_body(scope: Scope, receive: Receive, limit: int,
                    timeout: float = BODY_TIMEOUT) -> bytes:
    """The body, refused (`Unread`) over `limit` bytes, slower than `timeout` seconds or
    cut off by the client: as `read_limited` reads a Starlette request."""
    refuse_declared(header(scope, b"content-length"), limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise TooLarge
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        raise TooSlow from None


async def respond(send: Send, status: int, body: bytes = b"",
                  content_type: bytes | None = None) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if content_type is not None:
        headers.append((b"content-type", content_type))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def respond_json(send: Send, content: Any) -> None:
    """200 with `content` as Starlette's JSONResponse renders it."""
    await respond(send, 200, orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS),
                  b"application/json")


def direct(app: ASGIApp, route_sets: Sequence[Sequence[BaseRoute]]) -> ASGIApp:
    """`app`, with the POSTs of every `RawEndpoint` route among `route_sets` handed to
    the endpoint before the app sees them (the same endpoint the app would reach)."""
    posts: dict[str, RawEndpoint] = {
        r.path: r.endpoint for rs in route_sets for r in rs
        if isinstance(r, Route) and isinstance(r.endpoint, RawEndpoint)
        and "POST" in (r.methods or ())}
    if not posts:
        return app

    async def front(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = posts.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await app(scope, receive, send)

    return front
