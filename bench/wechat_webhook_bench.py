"""Benchmark: WeChat safe-mode (AES) webhook messages per second and latency, on PostgreSQL.

    .venv/bin/python bench/wechat_webhook_bench.py [--messages 3000] [--concurrency 32]
        [--users 500] [--processes 1] [--database-url URL] [--core real|fake]

Creates a fresh migrated database (on VISITBOT_TEST_PG's server unless --database-url
is given), binds --users visitors to WeChat openids, starts the bot's own ASGI app
(bot.web.build_app + the /wechat routes) under uvicorn in --processes forked server
processes sharing one socket, and fires pre-signed, pre-encrypted text messages at it
from --concurrency async clients, as WeChat would. Every message goes through the whole
path: signature, AES, safe XML parsing, the core's transaction (dedupe, account,
routing, outbox) and the encrypted passive reply. `--core fake` measures the endpoint
alone (crypto and parsing, no database).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import socket
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.dbs import drop_database, new_database, seed_visitors
from tests.fakes.wechat_server import (
    AES_KEY,
    APP_ID,
    TOKEN,
    encrypt_as_wechat,
    open_passive_reply,
    sign,
)


def make_db(users: int) -> tuple[str, str | None]:
    from store.migrate import upgrade

    url, name = new_database("postgres")
    upgrade(url)
    seed(url, users)
    return url, name


def seed(url: str, users: int) -> None:
    seed_visitors(url, users, "wechat", lambda i: f"o-bench-{i}")


def serve(sock: socket.socket, url: str | None, core_kind: str) -> None:
    """One server process (forked): build everything here, after the fork."""
    import logging

    import uvicorn

    from bot.channels.wechat import wechat_routes
    from bot.settings import Settings

    logging.basicConfig(level=logging.ERROR)
    settings = Settings(wechat_app_id=APP_ID, wechat_token=TOKEN, wechat_aes_key=AES_KEY,
                        database_url=url or "sqlite://")
    if core_kind == "fake":
        from starlette.applications import Starlette

        from conversations.messages import Outgoing
        from tests.fakes.wechat_server import FakeCore

        core: Any = FakeCore(reply=lambda inc: Outgoing(f"收到 {inc.text}"))
        app: Any = Starlette(routes=wechat_routes(core, settings))
    else:
        from bot.chat.service import Core
        from bot.web.app import build_app
        from store.db import is_sqlite, make_engine, session_factory

        engine = make_engine(settings.database_url, pool_size=20, max_overflow=20)
        # as `visitbot run` wires it: on PostgreSQL the core runs on the event loop
        core = Core(session_factory(engine), settings,
                    async_url=None if is_sqlite(engine) else settings.database_url)
        app = build_app(core, settings, [wechat_routes(core, settings)])
    config = uvicorn.Config(app, log_level="error", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


def requests(n: int, users: int, words: list[str]) -> list[tuple[dict[str, str], bytes]]:
    out = []
    base_id = random.randrange(10**15, 9 * 10**15)
    for i in range(n):
        openid = f"o-bench-{random.randint(1, users)}"
        ts, nonce = str(int(time.time())), uuid.uuid4().hex[:16]
        xml = (f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA["
               f"{openid}]]></FromUserName><CreateTime>{ts}</CreateTime><MsgType><![CDATA["
               f"text]]></MsgType><Content><![CDATA[{random.choice(words)}]]></Content>"
               f"<MsgId>{base_id + i}</MsgId></xml>")
        enc = encrypt_as_wechat(xml, nonce, ts)
        body = (f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><Encrypt><![CDATA[{enc}]]>"
                f"</Encrypt></xml>").encode()
        params = {"signature": sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce,
                  "openid": openid, "encrypt_type": "aes",
                  "msg_signature": sign(TOKEN, ts, nonce, enc)}
        out.append((params, body))
    return out


async def fire(url: str, reqs: list[tuple[dict[str, str], bytes]], concurrency: int
               ) -> tuple[list[float], dict[int, int], float, str]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sample = ""
    queue: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue()
    for r in reqs:
        queue.put_nowait(r)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def worker() -> None:
            nonlocal sample
            while not queue.empty():
                params, body = queue.get_nowait()
                t0 = time.perf_counter()
                resp = await client.post(url, params=params, content=body)
                latencies.append(time.perf_counter() - t0)
                statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
                if not sample and "<Encrypt>" in resp.text:
                    sample = resp.text

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return latencies, statuses, elapsed, sample


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--core", choices=["real", "fake"], default="real")
    ap.add_argument("--words", default="帮助,待访,你好,逾期")
    args = ap.parse_args()

    db_name = None
    url = args.database_url
    if args.core == "real" and url is None:
        url, db_name = make_db(args.users)
    elif args.core == "real" and url is not None:
        seed(url, args.users)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    ctx = mp.get_context("fork")
    servers = [ctx.Process(target=serve, args=(sock, url, args.core), daemon=True)
               for _ in range(args.processes)]
    for p in servers:
        p.start()
    endpoint = f"http://127.0.0.1:{port}/wechat"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        words = args.words.split(",")
        asyncio.run(fire(endpoint, requests(args.warmup, args.users, words), args.concurrency))
        reqs = requests(args.messages, args.users, words)
        lat, statuses, elapsed, sample = asyncio.run(fire(endpoint, reqs, args.concurrency))
    finally:
        for p in servers:
            p.terminate()
        for p in servers:
            p.join(5)
        if db_name:
            drop_database(db_name)
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    reply = ""
    if sample:
        reply = open_passive_reply(sample).get("Content", "")[:40].replace("\n", " ")
    print(f"core={args.core} processes={args.processes} concurrency={args.concurrency} "
          f"messages={len(lat)} statuses={statuses}")
    print(f"throughput {len(lat) / elapsed:,.0f} msg/s  p50 {p(0.50):.1f} ms  "
          f"p95 {p(0.95):.1f} ms  p99 {p(0.99):.1f} ms  max {lat[-1] * 1000:.1f} ms  "
          f"mean {statistics.mean(lat) * 1000:.1f} ms")
    print(f"sample passive reply (decrypted): {reply!r}")


if __name__ == "__main__":
    main()
