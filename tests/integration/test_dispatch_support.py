"""A recording fake channel and a dispatcher process for the dispatch tests.

Run as a script it is a dispatcher process: `python -m tests.integration.test_dispatch_support
URL ACK_FILE WORKER [--block-after N] [--lease S] [--go FILE]`. Acks are appended to a
file (O_APPEND, one line each), which survives a SIGKILL of the writer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conversations.messages import Address, Outgoing, SendResult
from store.db import make_engine, session_factory
from store.outbox import enqueue

Script = Callable[[str, int], SendResult | None]


@dataclass
class RecordingChannel:
    """Acks every send (or what `script(key, n)` says for the n-th try of a key)."""

    name: str = "telegram"
    rate_per_second: float = 10_000.0
    rate_per_recipient: float = 10_000.0
    ack_file: Path | None = None
    worker: str = "w"
    script: Script | None = None
    delay: float = 0.0
    block_after: int | None = None  # sends after this many hang (to be killed mid-batch)
    sent: list[tuple[Address, Outgoing]] = field(default_factory=list)
    tries: dict[str, int] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    calls: int = 0

    async def send(self, address: Address, message: Outgoing) -> SendResult:
        key = message.meta.get("outbox_key", message.text)
        self.calls += 1
        if self.block_after is not None and self.calls > self.block_after:
            await asyncio.sleep(3600)
        n = self.tries[key] = self.tries.get(key, 0) + 1
        self.times.append(time.monotonic())
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.script is not None:
            result = self.script(key, n)
            if result is not None:
                return result
        self.sent.append((address, message))
        if self.ack_file is not None:
            fd = os.open(self.ack_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, f"{key} {self.worker}\n".encode())
            finally:
                os.close(fd)
        return SendResult(ok=True, provider_id=f"{self.worker}-{len(self.sent)}")


def acks(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    return [tuple(line.split(" ", 1)) for line in path.read_text().splitlines()]  # type: ignore[misc]


def fill_outbox(sessions, n: int, *, platform: str = "telegram", recipients: int = 50,
                now: datetime | None = None, prefix: str = "m") -> list[str]:  # type: ignore[no-untyped-def]
    now = now or datetime.now(UTC)
    keys = [f"{prefix}:{i}" for i in range(n)]
    with sessions() as s:
        for i, key in enumerate(keys):
            enqueue(s, key=key, platform=platform, external_id=f"chat{i % recipients}",
                    kind="notice", payload=Outgoing(text=f"消息 {i}").to_payload(),
                    not_before=now - timedelta(seconds=1))
        s.commit()
    return keys


def main(argv: list[str] | None = None) -> int:
    from scheduler.dispatch import Dispatcher

    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("ack_file")
    p.add_argument("worker")
    p.add_argument("--block-after", type=int, default=None)
    p.add_argument("--lease", type=float, default=60.0)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--go", default=None)
    p.add_argument("--delay", type=float, default=0.0)
    args = p.parse_args(argv)
    if args.go:  # start together with the other process
        while not Path(args.go).exists():
            time.sleep(0.01)
    engine = make_engine(args.url)
    sessions = session_factory(engine)
    channel = RecordingChannel(ack_file=Path(args.ack_file), worker=args.worker,
                               block_after=args.block_after, delay=args.delay)
    dispatcher = Dispatcher(sessions, {"telegram": channel}, worker_id=args.worker,
                            batch=args.batch, lease_seconds=args.lease)

    async def loop() -> None:
        idle = 0
        while idle < 3:
            stats = await dispatcher.run_once()
            idle = idle + 1 if stats.claimed == 0 else 0
            if stats.claimed == 0:
                await asyncio.sleep(0.05)

    asyncio.run(loop())
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
