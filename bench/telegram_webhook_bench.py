"""Telegram webhook updates per second and latency: `python -m bench.telegram_webhook_bench
--updates 3000 --db postgres`.

A fresh migrated database with --users bound Telegram visitors; the bot's own ASGI app
(bot.web.build_app + the /telegram route) under uvicorn in this process's thread, its
Bot API pointed at a local fake; --concurrency clients post real update JSON with the
secret token header, closed loop. Each update goes the whole way: secret check, JSON,
python-telegram-bot's Update, the core's transaction (dedupe, account, routing, outbox)
and the sendMessage in the webhook's response.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import statistics
import time

import httpx
from sqlalchemy import create_engine, insert

from bench.roster_bench import _database, _drop
from bot.channels.telegram import webhook_routes
from bot.service import Core
from bot.settings import Settings
from bot.web import build_app
from store.base import utcnow
from store.db import make_engine, session_factory
from store.migrate import upgrade
from store.models import Account, Jurisdiction, Person, Role
from tests.fakes.tg_api import TOKEN, FakeTelegram
from tests.fakes.wechat_server import ServerThread

SECRET = "bench-secret"
WORDS = ["/visits", "/help", "你好", "/overdue"]


def seed(url: str, users: int) -> None:
    eng = create_engine(url)
    now = utcnow()
    with eng.begin() as conn:
        conn.execute(insert(Jurisdiction), [{"id": 1, "name": "样例村", "level": "village"}])
        conn.execute(insert(Person), [{"id": i, "name": f"探访员{i}", "jurisdiction_id": 1,
                                       "created_at": now, "updated_at": now}
                                      for i in range(1, users + 1)])
        conn.execute(insert(Role), [{"person_id": i, "role": "visitor", "jurisdiction_id": 1,
                                     "on_duty": True} for i in range(1, users + 1)])
        conn.execute(insert(Account), [{"person_id": i, "platform": "telegram",
                                        "external_id": str(10_000 + i), "bound_at": now,
                                        "free_sent": 0} for i in range(1, users + 1)])
    eng.dispose()


async def fire(url: str, n: int, users: int, concurrency: int
               ) -> tuple[list[float], dict[int, int], float]:
    ids = itertools.count(1)
    lat: list[float] = []
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def worker() -> None:
            while (i := next(ids)) <= n:
                chat = 10_000 + 1 + i % users
                update = {"update_id": i, "message": {
                    "message_id": i, "date": int(time.time()), "text": WORDS[i % len(WORDS)],
                    "chat": {"id": chat, "type": "private"},
                    "from": {"id": chat, "is_bot": False, "first_name": "访"}}}
                t0 = time.perf_counter()
                r = await client.post(url, json=update,
                                      headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
                lat.append(time.perf_counter() - t0)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return lat, statuses, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--updates", type=int, default=2000)
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    url, pg_name = _database(args.db)
    fake = FakeTelegram().start()
    try:
        upgrade(url)
        seed(url, args.users)
        settings = Settings(database_url=url, telegram_token=TOKEN,
                            telegram_base_url=fake.base_url, telegram_webhook_secret=SECRET)
        engine = make_engine(url, pool_size=20, max_overflow=20)
        core = Core(session_factory(engine), settings)
        server = ServerThread(build_app(core, settings, [webhook_routes(core, settings)]))
        server.start()
        lat, statuses, wall = asyncio.run(fire(f"{server.url}/telegram", args.updates,
                                               args.users, args.concurrency))
        server.stop()
        q = statistics.quantiles(lat, n=100)
        print(f"{args.db}: {args.updates:,} updates, {args.concurrency} concurrent clients, "
              f"statuses {statuses}")
        print(f"  {args.updates / wall:,.0f} updates/s; p50 {q[49] * 1000:.1f} ms, "
              f"p99 {q[98] * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms")
        engine.dispose()
    finally:
        fake.stop()
        if pg_name:
            _drop(pg_name)


if __name__ == "__main__":
    main()
