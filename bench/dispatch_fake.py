"""Outbox drain against the fake Telegram and WeChat servers, with 1, 2 and 4 dispatcher
processes: `python -m bench.dispatch_fake --messages 6000 --workers 1,2,4`.

The fakes (tests/fakes: the Bot API's JSON, WeChat's customer-service API with access
tokens) run in a process of their own; each dispatcher process uses the real
`TelegramChannel` and `WeChatChannel` over HTTP with the platforms' rate limits lifted.
The outbox holds half Telegram and half WeChat messages to 1,000 recipients, each text
unique, so the fakes can count what arrived twice. Prints messages/s (first claim to last
row marked sent) per process count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from bench.dbs import drop_database, new_database
from conversations.messages import Outgoing
from store.db import make_engine, session_factory
from store.migrate import upgrade
from store.models import OutboxMessage

ROOT = Path(__file__).resolve().parents[1]


def serve_fakes(info: Path) -> None:
    """The fake platforms until SIGTERM; then what they received, as JSON, into `info`."""
    from tests.fakes.telegram_server import FakeTelegram
    from tests.fakes.wechat_server import FakePlatform

    tg, wx = FakeTelegram().start(), FakePlatform().start()
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    info.write_text(json.dumps({"telegram": tg.base_url, "wechat": wx.wechat_api_base}))
    while not stop:
        time.sleep(0.05)
    texts = Counter(c.params.get("text") for c in tg.calls if c.method == "sendMessage")
    texts.update((c.body or {}).get("text", {}).get("content") for c in wx.calls
                 if c.path == "message/custom/send")
    texts.pop(None, None)
    info.with_suffix(".done").write_text(json.dumps({
        "received": sum(texts.values()), "twice": sum(1 for n in texts.values() if n > 1)}))
    tg.stop()
    wx.stop()


def fill(url: str, n: int) -> None:
    engine = make_engine(url)
    now = datetime.now(UTC) - timedelta(seconds=1)
    rows = []
    for i in range(n):
        tg = i % 2 == 0
        rows.append({
            "idempotency_key": f"b:{i}", "platform": "telegram" if tg else "wechat",
            "external_id": str(900_000 + i % 500) if tg else f"o-bench-{i % 500}",
            "kind": "notice", "payload": Outgoing(text=f"您好，这是第 {i} 条通知。").to_payload(),
            "status": "pending", "attempts": 0, "not_before": now, "created_at": now})
    with engine.begin() as c:
        for i in range(0, n, 5000):
            c.execute(insert(OutboxMessage), rows[i:i + 5000])
    engine.dispose()


def worker(url: str, urls: dict[str, str], name: str, go: Path) -> None:
    from bot.channels.telegram_channel import TelegramChannel
    from bot.channels.wechat_channel import WeChatChannel
    from bot.settings import Settings
    from scheduler.dispatch import Dispatcher
    from tests.fakes.wechat_server import APP_ID, APP_SECRET

    settings = Settings(database_url=url, telegram_token="7000001:AAFakeTelegramToken-for_tests",
                        telegram_base_url=urls["telegram"], wechat_app_id=APP_ID,
                        wechat_app_secret=APP_SECRET, wechat_api_base=urls["wechat"])
    engine = make_engine(url)
    sessions = session_factory(engine)
    channels: dict[str, Any] = {"telegram": TelegramChannel(settings),
                                "wechat": WeChatChannel(settings, sessions)}
    for ch in channels.values():  # "rate limits set high": measure the pipeline, not them
        ch.rate_per_second = 1e9
        ch.rate_per_recipient = 1e9
    d = Dispatcher(sessions, channels, worker_id=name, batch=200, concurrency=64)
    while not go.exists():
        time.sleep(0.005)

    async def loop() -> None:
        idle = 0
        while idle < 3:
            stats = await d.run_once()
            idle = idle + 1 if stats.claimed == 0 else 0

    asyncio.run(loop())
    engine.dispose()


def one_run(db: str, messages: int, workers: int) -> dict[str, Any]:
    url, pg_name = new_database(db)
    tmp = Path(tempfile.mkdtemp(prefix="vb-dispatch-"))
    info, go = tmp / "fakes.json", tmp / "go"
    fakes = subprocess.Popen([sys.executable, "-m", "bench.dispatch_fake", "--serve",
                              str(info)], cwd=ROOT)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        upgrade(url)
        fill(url, messages)
        while not info.exists():
            time.sleep(0.05)
        procs = [subprocess.Popen([sys.executable, "-m", "bench.dispatch_fake", "--worker",
                                   url, info.read_text(), f"w{i}", str(go)], cwd=ROOT)
                 for i in range(workers)]
        time.sleep(1.5)  # imports and connections before the clock starts
        engine = make_engine(url)
        go.touch()
        t0 = time.perf_counter()
        last = t0
        sent = 0
        while sent < messages and all(p.poll() is None for p in procs):
            time.sleep(0.05)
            with engine.connect() as c:
                now_sent = c.scalar(select(func.count()).select_from(OutboxMessage)
                                    .where(OutboxMessage.status == "sent")) or 0
            if now_sent != sent:
                sent, last = now_sent, time.perf_counter()
        engine.dispose()
        for p in procs:
            p.wait(60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        fakes.send_signal(signal.SIGTERM)
        fakes.wait(30)
        if pg_name:
            drop_database(pg_name)
    got = json.loads(info.with_suffix(".done").read_text())
    wall = last - t0
    return {"workers": workers, "messages": messages, "sent": sent, "seconds": wall,
            "msg_per_s": sent / wall if wall else 0.0, **got}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=6000)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.serve:
        serve_fakes(args.serve)
        return
    if args.worker:
        url, urls, name, go = args.worker
        worker(url, json.loads(urls), name, Path(go))
        return
    results = []
    for w in (int(x) for x in args.workers.split(",")):
        r = one_run(args.db, args.messages, w)
        results.append(r)
        print(f"{args.db}: {w} dispatcher(s): {r['sent']:,}/{r['messages']:,} sent in "
              f"{r['seconds']:.2f} s = {r['msg_per_s']:,.0f} msg/s; the fakes received "
              f"{r['received']:,}, twice {r['twice']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
