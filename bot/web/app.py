"""The project's own ASGI server: every platform's webhook behind one Starlette app."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import BaseRoute, Route

from bot.chat.service import Core
from bot.settings import Settings
from bot.web.metrics import metrics_routes
from store.db import DatabaseUnavailable, check_connection


def build_app(core: Core, settings: Settings,
              route_sets: Sequence[Sequence[BaseRoute]] = ()) -> Starlette:
    async def health(_: Request) -> PlainTextResponse:
        import asyncio

        try:
            await asyncio.to_thread(check_connection, core.sessions.kw["bind"])
        except DatabaseUnavailable:
            return PlainTextResponse("database unavailable", status_code=503)
        return PlainTextResponse("ok")

    async def on_db_down(_: Request, exc: Exception) -> JSONResponse:
        # 503 makes WeChat and Telegram deliver the message again later: nothing is lost.
        return JSONResponse({"error": "database unavailable"}, status_code=503)

    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    routes: list[BaseRoute] = [Route("/healthz", health),
                               *metrics_routes(core.sessions, token)]
    for rs in route_sets:
        routes.extend(rs)
    app = Starlette(routes=routes, exception_handlers={DatabaseUnavailable: on_db_down})
    app.state.core = core
    app.state.settings = settings
    return app
