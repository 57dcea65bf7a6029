"""`visitbot run`: webhooks, the scheduler tick and the dispatcher in one process.

Every piece is stateless between requests: start as many of these processes as the
load needs, all on one PostgreSQL, and they behave as one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket

import uvicorn
from starlette.routing import BaseRoute

from bot.heap import settle
from bot.web.app import build_app
from bot.web.raw_asgi import direct
from bot.wiring import App, channels_for, setup_logging
from conversations.messages import Channel

log = logging.getLogger(__name__)


def webhook_routes(app: App, names: list[str]) -> list[list[BaseRoute]]:
    from bot.web.dashboard import dashboard_routes
    from bot.web.signals import signal_routes

    sets: list[list[BaseRoute]] = [signal_routes(app.sessions, app.settings),
                                   dashboard_routes(app.sessions, app.settings)]
    if "telegram" in names and app.settings.telegram_mode == "webhook":
        from bot.channels import telegram

        sets.append(telegram.webhook_routes(app.core, app.settings))
    if "wechat" in names:
        from bot.channels import wechat

        sets.append(wechat.wechat_routes(app.core, app.settings))
    if "wecom" in names:
        from bot.channels import wecom

        sets.append(wecom.wecom_routes(app.core, app.settings))
    return sets


async def _serve(app: App, names: list[str], host: str, port: int, scheduler: bool,
                 sock: socket.socket | None = None, tick: bool = True) -> None:
    from scheduler.dispatch import Dispatcher

    channels: dict[str, Channel] = channels_for(app.settings, names, app.sessions)
    route_sets = webhook_routes(app, names)
    # the webhooks' POSTs go straight to their endpoints, past Starlette's routing
    web = direct(build_app(app.core, app.settings, route_sets), route_sets)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[object]] = []
    runner = None
    if scheduler:
        from scheduler.runner import start_scheduler

        dispatcher = Dispatcher(app.sessions, channels, worker_id=f"{os.uname().nodename}:"
                                f"{os.getpid()}")
        tasks.append(asyncio.create_task(dispatcher.run_forever(stop)))
        if tick:
            from bot.alerts.case_escalation import escalate_cases, escalate_undelivered

            runner = start_scheduler(app.sessions, app.settings,
                                     every_minute=[escalate_cases, escalate_undelivered])
    if "telegram" in names and app.settings.telegram_mode == "polling":
        from bot.channels import telegram

        tasks.append(asyncio.create_task(telegram.run_polling(app.core, app.settings, stop)))
    config = uvicorn.Config(web, host=host, port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def stop_server() -> None:
        await stop.wait()
        server.should_exit = True

    tasks.append(asyncio.create_task(stop_server()))
    settle(app.settings.gc_threshold)  # start-up is done: its heap is never walked again
    log.info("visitbot serving %s on %s:%s", ",".join(names), host, port)
    try:
        await server.serve(sockets=[sock] if sock is not None else None)
    finally:
        stop.set()
        if "telegram" in names:
            from bot.channels.telegram_api import acks_settled

            await acks_settled()  # button presses acknowledged but not yet sent
        await app.core.aclose()
        if runner is not None:
            runner.shutdown(wait=False)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def listening_socket(host: str, port: int) -> socket.socket:
    """The socket forked workers share. Its proto is given: asyncio sets TCP_NODELAY only
    on accepted sockets whose proto says TCP, and without it every reply (headers and body
    written apart) waits ~40 ms for the client's delayed ACK."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def serve(app: App, names: list[str], *, host: str | None = None, port: int | None = None,
          scheduler: bool = True, tick: bool = True, workers: int = 1) -> None:
    """Serve in this process, or in `workers` forked processes sharing one listening socket
    (each its own connection pool, scheduler and dispatcher: they coordinate through the
    database, as separate machines would)."""
    setup_logging()
    host, port = host or app.settings.host, port or app.settings.port
    if workers <= 1:
        asyncio.run(_serve(app, names, host, port, scheduler, tick=tick))
        return
    sock = listening_socket(host, port)
    app.engine.dispose()  # no connection may cross the fork
    # frozen before the fork, the start-up heap stays shared: no child's collection
    # writes to its pages
    settle(app.settings.gc_threshold)
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                asyncio.run(_serve(app, names, host, port, scheduler, sock, tick=tick))
            except BaseException:
                log.exception("worker %d failed", os.getpid())
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    log.info("visitbot: %d workers on %s:%s (pids %s)", workers, host, port,
             " ".join(map(str, children)))

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    failed = 0
    for child in children:
        while True:
            try:
                _, status = os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
        failed += os.waitstatus_to_exitcode(status) != 0
    sock.close()
    if failed:
        raise SystemExit(1)
