"""A tick process for the concurrency test (no tests here).

`python -m tests.integration.tick_worker URL DIR START DAYS LOCK WORKER N` waits for
DIR/go, then ticks day by day; a file barrier keeps the N workers on the same day, as
processes sharing one wall clock are.
"""

from __future__ import annotations

import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from scheduler.tick import tick
from store.db import make_engine, session_factory
from tests.integration.test_due_support import at


def days(start: date, n: int) -> list[datetime]:
    return [at(start + timedelta(days=i), 9) for i in range(n)]


def _wait(paths: list[Path], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        if time.monotonic() > deadline:
            raise SystemExit(2)
        time.sleep(0.005)


def main(url: str, folder: str, start: str, n: str, lock: str, worker: str, workers: str
         ) -> int:
    sessions = session_factory(make_engine(url))
    d = Path(folder)
    _wait([d / "go"])
    for i, now in enumerate(days(date.fromisoformat(start), int(n))):
        tick(sessions, now, lock=lock == "1")
        (d / f"{worker}-{i}").touch()
        _wait([d / f"{w}-{i}" for w in range(int(workers))])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:8]))
