"""The ceiling: a webhook that does nothing, for wrk to measure what any Python bot could
do on this machine: `python -m bench.ceiling --port 8090 --workers 2`.

Starlette under uvicorn, as visitbot's own web process, the same number of processes on
one shared socket; every update is parsed and answered with a fixed webhook reply (a
sendMessage to the sender), with no database and no checklist.
"""

from __future__ import annotations

import argparse
import json
import os

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.web.server import listening_socket

SECRET_HEADER = "x-telegram-bot-api-secret-token"


def app(secret: str) -> Starlette:
    async def webhook(request: Request) -> Response:
        if request.headers.get(SECRET_HEADER) != secret:
            return Response(status_code=403)
        update = json.loads(await request.body())
        chat = (update.get("message") or {}).get("chat", {}).get("id", 0)
        body = {"method": "sendMessage", "chat_id": chat, "text": "收到"}
        return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")

    return Starlette(routes=[Route("/telegram", webhook, methods=["POST"])])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--secret", default="bench-webhook-secret")
    args = ap.parse_args()
    sock = listening_socket("127.0.0.1", args.port)  # the same socket as visitbot's
    config = uvicorn.Config(app(args.secret), log_level="error", access_log=False,
                            lifespan="off")
    for _ in range(args.workers - 1):
        if os.fork() == 0:
            break
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
