"""Benchmark: Telegram webhook updates per second and latency, on SQLite or PostgreSQL.

    .venv/bin/python bench/telegram_webhook_bench.py [--db sqlite|postgres] [--updates 3000]
        [--concurrency 16] [--users 500] [--processes 1] [--warmup 200]

Creates a fresh migrated database (SQLite in a temporary folder, or a new database on
VISITBOT_TEST_PG's server), binds --users visitors to Telegram chats, serves the bot's
own ASGI app (bot.web.build_app + POST /telegram) under uvicorn in --processes forked
server processes (SQLite: one), and posts updates with the secret token header from
--concurrency async clients, as Telegram would. Each update goes the whole way:
secret check, JSON, Update.de_json, the core's transaction (dedupe by update_id,
account, routing, outbox row) and the reply as a sendMessage in the HTTP response.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.dbs import drop_database, new_database, seed_visitors

PG_BASE = os.environ.get("VISITBOT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
TOKEN = "7000001:AAFakeTelegramToken-for_bench"
SECRET = "bench-webhook-secret"
CHAT0 = 10_000_000


def make_db(kind: str, users: int) -> tuple[str, str | None]:
    from store.migrate import upgrade

    url, name = new_database(kind)
    upgrade(url)
    seed_visitors(url, users, "telegram", lambda i: str(CHAT0 + i))
    return url, name


def serve(sock: socket.socket, url: str) -> None:
    """One server process (forked): build everything here, after the fork."""
    import logging

    import uvicorn

    from bot.channels.telegram_webhook import webhook_routes
    from bot.chat.service import Core
    from bot.settings import Settings
    from bot.web.app import build_app
    from store.db import is_sqlite, make_engine, session_factory

    logging.basicConfig(level=logging.ERROR)
    # the API is never called for text updates; a closed port makes sure of it
    settings = Settings(database_url=url, telegram_token=TOKEN, telegram_webhook_secret=SECRET,
                        telegram_base_url="http://127.0.0.1:9/bot")
    kw = {} if url.startswith("sqlite") else {"pool_size": 20, "max_overflow": 20}
    engine = make_engine(url, **kw)
    # as `visitbot run` wires it: on PostgreSQL the core runs on the event loop
    core = Core(session_factory(engine), settings,
                async_url=None if is_sqlite(engine) else url)
    app = build_app(core, settings, [webhook_routes(core, settings, setup=False)])
    uvicorn.Server(uvicorn.Config(app, log_level="error", access_log=False,
                                  lifespan="off")).run(sockets=[sock])


def updates(n: int, users: int, words: list[str], first_id: int) -> list[bytes]:
    out = []
    for i in range(n):
        chat = CHAT0 + random.randint(1, users)
        out.append(json.dumps({"update_id": first_id + i, "message": {
            "message_id": first_id + i, "date": int(time.time()),
            "chat": {"id": chat, "type": "private", "first_name": "探访员"},
            "from": {"id": chat, "is_bot": False, "first_name": "探访员"},
            "text": random.choice(words)}}, ensure_ascii=False).encode())
    return out


async def fire(url: str, bodies: list[bytes], concurrency: int
               ) -> tuple[list[float], dict[int, int], float, str]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sample = ""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def worker() -> None:
            nonlocal sample
            while not queue.empty():
                body = queue.get_nowait()
                t0 = time.perf_counter()
                resp = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - t0)
                statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
                if not sample and resp.content:
                    sample = resp.json().get("text", "")

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return latencies, statuses, elapsed, sample


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    ap.add_argument("--updates", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--words", default="帮助,待访,/visits,/help,你好")
    args = ap.parse_args()
    processes = 1 if args.db == "sqlite" else args.processes  # SQLite serves one process

    url, db_name = make_db(args.db, args.users)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}/telegram"
    ctx = mp.get_context("fork")
    servers = [ctx.Process(target=serve, args=(sock, url), daemon=True)
               for _ in range(processes)]
    for p in servers:
        p.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.post(endpoint, timeout=1)  # 403 without the secret: up
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        words = args.words.split(",")
        asyncio.run(fire(endpoint, updates(args.warmup, args.users, words, 1),
                         args.concurrency))
        bodies = updates(args.updates, args.users, words, args.warmup + 1)
        lat, statuses, elapsed, sample = asyncio.run(fire(endpoint, bodies, args.concurrency))
    finally:
        for p in servers:
            p.terminate()
        for p in servers:
            p.join(5)
        if db_name:
            drop_database(db_name)
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    print(f"db={args.db} processes={processes} concurrency={args.concurrency} "
          f"updates={len(lat)} statuses={statuses}")
    print(f"throughput {len(lat) / elapsed:,.0f} updates/s  p50 {p(0.50):.1f} ms  "
          f"p95 {p(0.95):.1f} ms  p99 {p(0.99):.1f} ms  max {lat[-1] * 1000:.1f} ms  "
          f"mean {statistics.mean(lat) * 1000:.1f} ms")
    print(f"sample inline reply: {sample[:40].replace(chr(10), ' ')!r}")


if __name__ == "__main__":
    main()
