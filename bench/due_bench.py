"""Scheduler tick cost: `python -m bench.due_bench --subjects 50000 --db sqlite|postgres`.

A synthetic roster over the five seed policies (every visitor bound), then ticks: the
first of a month plans every regular visit and writes the reminders; a second tick the
same day (another process, or a restart) must find nothing to do; then a month of daily
ticks. Prints seconds per tick and rows written.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from bench.dbs import drop_database, new_database
from bench.roster_bench import generate
from scheduler.tick import tick
from store.db import make_engine, session_factory
from store.migrate import upgrade
from store.models import Account, Assignment, OutboxMessage, Role, Visit
from store.roster.importer import import_roster

SH = ZoneInfo("Asia/Shanghai")


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, dtime(hour), SH).astimezone(UTC)


POLICIES = ("linzi-2022", "jingdezhen-2020", "anshan-2020", "guangxi-2023", "liuzhou-2021")


def counts(sf) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with sf() as s:
        return (s.scalar(select(func.count()).select_from(Visit)) or 0,
                s.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=10_000)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--days", type=int, default=30)
    args = ap.parse_args()
    csv_path = Path(tempfile.mkdtemp()) / "roster.csv"
    generate(csv_path, args.subjects, policies=POLICIES)
    url, pg_name = new_database(args.db)
    try:
        upgrade(url)
        engine = make_engine(url)
        sf = session_factory(engine)
        report = import_roster(sf, csv_path, policy_default="linzi-2022")
        assert report.committed, report.errors[:5]
        with sf() as s:
            ids = s.scalars(select(Role.person_id).where(Role.role == "visitor").distinct())
            s.add_all(Account(person_id=pid, platform="console", external_id=f"v{pid}")
                      for pid in ids.all())
            # the importer starts assignments today; the bench's calendar is fixed
            s.execute(update(Assignment).values(starts_on=date(2025, 1, 1)))
            s.commit()
        print(f"{args.db}: {args.subjects:,} subjects over {len(POLICIES)} policies")
        start = date(2026, 12, 1)
        for label, day in (("first tick (plans all)", start), ("same day again", start)):
            before = counts(sf)
            t0 = time.perf_counter()
            tick(sf, at(day, 9))
            dt = time.perf_counter() - t0
            after = counts(sf)
            print(f"  {label:24s} {dt:7.2f} s  +{after[0] - before[0]:,} visits, "
                  f"+{after[1] - before[1]:,} outbox rows")
        times = []
        before = counts(sf)
        for i in range(1, args.days + 1):
            t0 = time.perf_counter()
            tick(sf, at(start + timedelta(days=i), 9))
            times.append(time.perf_counter() - t0)
        after = counts(sf)
        times.sort()
        print(f"  {args.days} daily ticks: median {times[len(times) // 2]:.2f} s, "
              f"max {times[-1]:.2f} s; +{after[0] - before[0]:,} visits, "
              f"+{after[1] - before[1]:,} outbox rows")
        engine.dispose()
    finally:
        if pg_name:
            drop_database(pg_name)


if __name__ == "__main__":
    main()
