"""Outbox delivery throughput: `python -m bench.dispatch_bench --messages 20000 --db postgres
--workers 2`.

Fills the outbox (1,000 recipients), then runs N dispatcher processes against a channel
that acknowledges after a simulated API round trip (`--latency`, default 20 ms) with the
platform limits lifted, and prints messages/s and how many were sent twice (must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from bench.dbs import drop_database, new_database
from conversations.messages import Address, Outgoing, SendResult
from store.db import make_engine, session_factory
from store.migrate import upgrade
from store.models import OutboxMessage

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class AckChannel:
    ack_file: Path
    latency: float
    name: str = "telegram"
    rate_per_second: float = 1e9
    rate_per_recipient: float = 1e9

    async def send(self, address: Address, message: Outgoing) -> SendResult:
        await asyncio.sleep(self.latency)
        fd = os.open(self.ack_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{message.meta.get('outbox_key')}\n".encode())
        finally:
            os.close(fd)
        return SendResult(ok=True)


def fill(url: str, n: int) -> None:
    sf = session_factory(make_engine(url))
    now = datetime.now(UTC) - timedelta(seconds=1)
    payload = Outgoing(text="您好，这是一条通知。").to_payload()
    rows = [{"idempotency_key": f"b:{i}", "platform": "telegram",
             "external_id": f"chat{i % 1000}", "kind": "notice", "payload": payload,
             "status": "pending", "attempts": 0, "not_before": now, "created_at": now}
            for i in range(n)]
    with sf() as s:
        for i in range(0, n, 5000):
            s.execute(insert(OutboxMessage), rows[i:i + 5000])
        s.commit()


def worker(url: str, ack: str, name: str, latency: float, go: str) -> None:
    from scheduler.dispatch import Dispatcher

    while not Path(go).exists():
        time.sleep(0.005)
    engine = make_engine(url)
    d = Dispatcher(session_factory(engine), {"telegram": AckChannel(Path(ack), latency)},
                   worker_id=name, batch=200, concurrency=64)

    async def loop() -> None:
        idle = 0
        while idle < 3:
            stats = await d.run_once()
            idle = idle + 1 if stats.claimed == 0 else 0

    asyncio.run(loop())
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--worker", nargs=4, metavar=("URL", "ACK", "NAME", "GO"))
    args = ap.parse_args()
    if args.worker:
        url, ack, name, go = args.worker
        worker(url, ack, name, args.latency, go)
        return
    url, pg_name = new_database(args.db)
    tmp = Path(tempfile.mkdtemp())
    ack, go = tmp / "acks", tmp / "go"
    try:
        upgrade(url)
        fill(url, args.messages)
        procs = [subprocess.Popen([sys.executable, "-m", "bench.dispatch_bench", "--latency",
                                   str(args.latency), "--worker", url, str(ack), f"w{i}",
                                   str(go)], cwd=ROOT) for i in range(args.workers)]
        time.sleep(1.0)  # let the workers import and connect before the clock starts
        t0 = time.perf_counter()
        go.touch()
        for p in procs:
            p.wait()
        wall = time.perf_counter() - t0
        keys = ack.read_text().split() if ack.exists() else []
        twice = sum(1 for c in Counter(keys).values() if c > 1)
        with session_factory(make_engine(url))() as s:
            sent = s.scalar(select(func.count()).select_from(OutboxMessage)
                            .where(OutboxMessage.status == "sent"))
        # the workers stop after three idle rounds: that tail is in the wall time
        print(f"{args.db}: {args.messages:,} messages, {args.workers} dispatcher process(es), "
              f"{args.latency * 1000:.0f} ms per send")
        print(f"  {len(keys):,} sent in {wall:.2f} s = {len(keys) / wall:,.0f} msg/s; "
              f"marked sent {sent:,}; sent twice {twice}")
    finally:
        if pg_name:
            drop_database(pg_name)


if __name__ == "__main__":
    main()
