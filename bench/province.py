"""A synthetic province, and the tick over it: `python -m bench.province --subjects 1000000
--db postgres`.

Builds, with bulk inserts (not the roster importer, which validates row by row): one
county per 100,000 subjects, 10 townships each, 20 villages per township, an officer per
township; one visitor per ten subjects with a bound Telegram account; the five seed
policies mixed; subject facts that make some of them key (失能, 独居); and
`--history-months` months of filed visits (one a month per subject, as set-based
INSERT … SELECT, so a million subjects' year is minutes, not hours). Then runs, in a
fresh process so its memory is its own, the first tick of a month (plans every regular
visit, writes the reminder digests) and the same tick again, and prints seconds, rows
written and the tick's peak RSS. Run it at two sizes to read the growth.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Engine

from bench.dbs import drop_database, new_database
from bot.heap import settle
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
TICK_DAY = date(2026, 12, 1)
VISITOR_CHAT0 = 50_000_000  # visitor i's Telegram chat id is VISITOR_CHAT0 + person id


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _jurisdictions(engine: Engine, subjects: int, now: datetime) -> list[int]:
    """Counties, townships and villages; an officer per township. Returns village ids."""
    villages: list[int] = []
    with engine.begin() as c:
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
    return villages


def build(url: str, subjects: int, history_months: int = 12, today: date = TICK_DAY,
          progress: bool = True) -> dict[str, float]:
    """Fill an empty, migrated database; returns seconds per phase."""
    engine = make_engine(url)
    now = datetime.now(UTC)
    visitors = max(1, subjects // 10)
    t0 = time.perf_counter()
    villages = _jurisdictions(engine, subjects, now)

    def say(msg: str) -> None:
        if progress:
            print(f"\r  {msg} ({time.perf_counter() - t0:.0f} s)", end="", flush=True)

    next_id = 1
    for kind, n in (("visitor", visitors), ("subject", subjects)):
        first = next_id
        for lo in range(0, n, CHUNK):
            hi = min(n, lo + CHUNK)
            with engine.begin() as c:
                c.execute(insert(Person), [
                    {"id": first + i, "name": f"{'访' if kind == 'visitor' else '老'}{i}",
                     "jurisdiction_id": villages[(i * len(villages)) // n],
                     "birth_date": date(1940 + i % 30, 1 + i % 12, 1 + i % 28),
                     "created_at": now, "updated_at": now} for i in range(lo, hi)])
                c.execute(insert(Role), [
                    {"person_id": first + i, "role": kind,
                     "jurisdiction_id": villages[(i * len(villages)) // n], "on_duty": True}
                    for i in range(lo, hi)])
                if kind == "visitor":
                    c.execute(insert(Account), [
                        {"person_id": first + i, "platform": "telegram",
                         "external_id": str(VISITOR_CHAT0 + first + i), "bound_at": now,
                         "last_inbound_at": now, "free_sent": 0} for i in range(lo, hi)])
                else:
                    c.execute(insert(Subject), [
                        {"person_id": first + i, "policy": POLICIES[i % 5],
                         "categories": ["独居"] if i % 3 == 0 else ["空巢"],
                         "self_care": SELF_CARE[i % 5], "lives_alone": i % 3 == 0,
                         "disabled": i % 7 == 0, "status": "active",
                         "family_notify_consent": False} for i in range(lo, hi)])
                    c.execute(insert(Assignment), [
                        {"subject_id": first + i, "visitor_id": 1 + i // 10,
                         "starts_on": date(2025, 1, 1)} for i in range(lo, hi)])
            say(f"{kind}s {hi:,}/{n:,}")
        if progress:
            print()
        next_id += n
    times = {"roster_s": time.perf_counter() - t0}
    t1 = time.perf_counter()
    for m in range(history_months, 0, -1):
        _history_month(engine, _months_before(today, m))
        say(f"history {history_months - m + 1}/{history_months} months")
    if progress and history_months:
        print()
    times["history_s"] = time.perf_counter() - t1
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("ANALYZE")
    engine.dispose()
    times["build_s"] = time.perf_counter() - t0
    if progress:
        print(f"  built in {times['build_s']:.0f} s")
    return times


def _months_before(day: date, months: int) -> date:
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(y, m + 1, 1)


def _history_month(engine: Engine, month: date) -> None:
    """One filed visit per subject in this month, by the subject's own visitor: set-based,
    so the database does the work (SQL shared by PostgreSQL and SQLite)."""
    pg = engine.dialect.name == "postgresql"
    day = "(s.person_id % 25)"
    visited = (f"(CAST(:m AS date) + {day} * INTERVAL '1 day')::date" if pg
               else f"date(:m, '+' || {day} || ' days')")
    due = "(CAST(:m AS date) + INTERVAL '27 days')::date" if pg else "date(:m, '+27 days')"
    filed = (f"CAST(:m AS timestamp) + {day} * INTERVAL '1 day' + INTERVAL '10 hours'" if pg
             else f"datetime(:m, '+' || {day} || ' days', '+10 hours')")
    sql = f"""
        INSERT INTO visits (subject_id, visitor_id, policy, kind, window_opens, due_on,
                            deadline, mode, visited_on, status, created_at, filed_at)
        SELECT s.person_id, a.visitor_id, s.policy, 'regular', :m, {due}, {due},
               'in_person', {visited}, 'filed', {filed}, {filed}
        FROM subjects s JOIN assignments a ON a.subject_id = s.person_id
    """
    with engine.begin() as c:
        c.execute(text(sql), {"m": month.isoformat()})


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as c:
        return (c.scalar(select(func.count()).select_from(Visit)) or 0,
                c.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


def run_ticks(url: str, day: date = TICK_DAY, profile: bool = False) -> dict[str, Any]:
    """The first tick of the month and the same tick again, in this process."""
    from bench.sqlprofile import SqlProfile
    from scheduler.tick import tick

    engine = make_engine(url)
    settle()  # as the serving process, where the scheduler ticks, settles its heap
    prof = SqlProfile(engine) if profile else None
    sf = session_factory(engine)
    now = datetime.combine(day, dtime(9), SH).astimezone(UTC)
    out: dict[str, Any] = {}
    for label, when in (("first", now), ("repeat", now + timedelta(minutes=5))):
        before = counts(engine)
        t0 = time.perf_counter()
        tick(sf, when)
        dt = time.perf_counter() - t0
        after = counts(engine)
        out[label] = {"seconds": dt, "visits": after[0] - before[0],
                      "outbox": after[1] - before[1]}
        if prof is not None:
            out[label]["slowest"] = prof.top(6)
            prof.totals.clear()
    out["peak_rss_mb"] = rss_mb()
    engine.dispose()
    return out


def tick_in_child(url: str, profile: bool = False) -> dict[str, Any]:
    """run_ticks in a fresh interpreter, so the peak RSS is the tick's, not the builder's."""
    cmd = [sys.executable, "-m", "bench.province", "--tick-only", url]
    if profile:
        cmd.append("--profile")
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(r: dict[str, Any]) -> str:
    lines = []
    for label in ("first", "repeat"):
        t = r[label]
        lines.append(f"  {label} tick {t['seconds']:8.2f} s  +{t['visits']:,} visits, "
                     f"+{t['outbox']:,} outbox rows")
        for secs, n, stmt in t.get("slowest", []):
            lines.append(f"      {secs:7.2f} s {n:4d}× {stmt[:110]}")
    lines.append(f"  peak RSS of the tick process {r['peak_rss_mb']:.0f} MB")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=100_000)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    ap.add_argument("--history-months", type=int, default=12)
    ap.add_argument("--profile", action="store_true", help="print the slowest statements")
    ap.add_argument("--keep", action="store_true", help="keep the database; print its URL")
    ap.add_argument("--tick-only", metavar="URL", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.tick_only:
        print(json.dumps(run_ticks(args.tick_only, profile=args.profile)))
        return
    url, pg_name = new_database(args.db)
    try:
        upgrade(url)
        print(f"{args.db}: {args.subjects:,} subjects, {args.subjects // 10:,} visitors, "
              f"{args.history_months} months of history")
        build(url, args.subjects, args.history_months)
        print(report(tick_in_child(url, args.profile)))
        if args.keep:
            print(f"kept: {url}")
    finally:
        if pg_name and not args.keep:
            drop_database(pg_name)


if __name__ == "__main__":
    main()
