"""A synthetic province, and the tick over it: `python -m bench.province --subjects 1000000
--db postgres`.

Builds, with bulk inserts (not the roster importer, which validates row by row): one
county per 100,000 subjects, 10 townships each, 20 villages per township; one visitor per
ten subjects with a bound account; the five seed policies mixed; subject facts that make
some of them key (失能, 独居). Then runs the first tick of a month (plans every regular
visit, writes the reminder digests), the same tick again, and prints seconds, rows written
and the process's peak RSS. Run it at two sizes to read the growth (e.g. 100,000 and
1,000,000).
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from bench.roster_bench import _database, _drop
from scheduler.tick import tick
from store.db import make_engine, session_factory
from store.migrate import upgrade
from store.models import (
    Account,
    Assignment,
    Jurisdiction,
    OutboxMessage,
    Person,
    Role,
    Subject,
    Visit,
)

POLICIES = ("linzi-2022", "jingdezhen-2020", "anshan-2020", "guangxi-2023", "liuzhou-2021")
SELF_CARE = ("自理", "自理", "自理", "半失能", "失能")
CHUNK = 20_000
SH = ZoneInfo("Asia/Shanghai")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(url: str, subjects: int) -> None:
    engine = make_engine(url)
    now = datetime.now(UTC)
    visitors = max(1, subjects // 10)
    t0 = time.perf_counter()
    with engine.begin() as c:
        villages: list[int] = []
        for k in range(max(1, subjects // 100_000)):
            county = c.execute(insert(Jurisdiction).values(name=f"县{k}", level="county")
                               .returning(Jurisdiction.id)).scalar_one()
            for t in range(10):
                town = c.execute(insert(Jurisdiction).values(
                    name=f"镇{k}-{t}", level="township", parent_id=county)
                    .returning(Jurisdiction.id)).scalar_one()
                ids = c.execute(insert(Jurisdiction).returning(Jurisdiction.id), [
                    {"name": f"村{k}-{t}-{v}", "level": "village", "parent_id": town}
                    for v in range(20)]).scalars().all()
                villages.extend(ids)
    next_id = 1
    for kind, n in (("visitor", visitors), ("subject", subjects)):
        first = next_id
        for lo in range(0, n, CHUNK):
            hi = min(n, lo + CHUNK)
            with engine.begin() as c:
                c.execute(insert(Person), [
                    {"id": first + i, "name": f"{'访' if kind == 'visitor' else '老'}{i}",
                     "jurisdiction_id": villages[(i * len(villages)) // n],
                     "created_at": now, "updated_at": now} for i in range(lo, hi)])
                c.execute(insert(Role), [
                    {"person_id": first + i, "role": kind,
                     "jurisdiction_id": villages[(i * len(villages)) // n], "on_duty": True}
                    for i in range(lo, hi)])
                if kind == "visitor":
                    c.execute(insert(Account), [
                        {"person_id": first + i, "platform": "telegram",
                         "external_id": str(first + i), "bound_at": now, "free_sent": 0}
                        for i in range(lo, hi)])
                else:
                    c.execute(insert(Subject), [
                        {"person_id": first + i, "policy": POLICIES[i % 5],
                         "categories": ["独居"] if i % 3 == 0 else ["空巢"],
                         "self_care": SELF_CARE[i % 5], "lives_alone": i % 3 == 0,
                         "disabled": i % 7 == 0, "status": "active",
                         "family_notify_consent": False} for i in range(lo, hi)])
                    c.execute(insert(Assignment), [
                        {"subject_id": first + i, "visitor_id": 1 + i // 10,
                         "starts_on": date(2026, 1, 1)} for i in range(lo, hi)])
            print(f"\r  {kind}s {hi:,}/{n:,} ({time.perf_counter() - t0:.0f} s)", end="",
                  flush=True)
        print()
        next_id += n
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("ANALYZE")
    engine.dispose()
    print(f"  built in {time.perf_counter() - t0:.0f} s")


def counts(sf) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with sf() as s:
        return (s.scalar(select(func.count()).select_from(Visit)) or 0,
                s.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=100_000)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    args = ap.parse_args()
    url, pg_name = _database(args.db)
    try:
        upgrade(url)
        print(f"{args.db}: building {args.subjects:,} subjects, {args.subjects // 10:,} "
              "visitors")
        build(url, args.subjects)
        engine = make_engine(url)
        sf = session_factory(engine)
        day = date(2026, 12, 1)
        now = datetime.combine(day, dtime(9), SH).astimezone(UTC)
        for label, when in (("first tick of the month", now),
                            ("same tick again", now + timedelta(minutes=5))):
            before = counts(sf)
            t0 = time.perf_counter()
            tick(sf, when)
            dt = time.perf_counter() - t0
            after = counts(sf)
            print(f"  {label:24s} {dt:8.2f} s  +{after[0] - before[0]:,} visits, "
                  f"+{after[1] - before[1]:,} outbox rows; peak RSS {rss_mb():.0f} MB")
        engine.dispose()
    finally:
        if pg_name:
            _drop(pg_name)


if __name__ == "__main__":
    main()
