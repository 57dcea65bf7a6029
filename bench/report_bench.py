"""Benchmark: the monthly county report (XLSX and PDF) over a synthetic county.

    .venv/bin/python bench/report_bench.py --subjects 50000 [--months 12] [--database-url URL]

Builds (once per file) a county of N subjects with a year of visits and some cases by
bulk inserts, then times the monthly summary exports. Prints one line per export.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from store.db import make_engine, session_factory
from store.key_check import KeyCheckError, check_id_key
from store.migrate import upgrade
from store.models import Assignment, Case, Jurisdiction, Person, Subject, Visit
from store.reports.monthly import export_monthly
from store.reports.period import Month

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "秀英桂兰玉珍凤英建国德明淑芬志强春花金凤"
CATEGORIES = ["独居", "空巢", "留守", "分散供养特困", "失能", "重残"]
MODES = ["in_person"] * 6 + ["phone"] * 3 + ["video"]


def build_county(session: Session, subjects: int, end: Month, months: int, seed: int = 7
                 ) -> None:
    """Insert a county with `subjects` subjects and `months` months of visits."""
    rnd = random.Random(seed)
    towns, villages_per = 10, max(1, min(30, subjects // 250))
    jid = 1
    session.execute(insert(Jurisdiction), [{"id": jid, "name": "样例县", "level": "county"}])
    rows, villages = [], []
    for t in range(towns):
        tid = jid = jid + 1
        rows.append({"id": tid, "name": f"第{t + 1}镇", "level": "township", "parent_id": 1})
        for v in range(villages_per):
            jid += 1
            rows.append({"id": jid, "name": f"{t + 1}镇{v + 1}村", "level": "village",
                         "parent_id": tid})
            villages.append(jid)
    session.execute(insert(Jurisdiction), rows)
    n_visitors = max(1, subjects // 25)
    people, subj, assign = [], [], []
    for i in range(1, n_visitors + 1):
        people.append({"id": i, "name": f"探访员{i}", "gender": "女", "phone": f"139{i:08d}",
                       "jurisdiction_id": villages[i % len(villages)]})
    first = n_visitors + 1
    for k in range(subjects):
        pid = first + k
        name = rnd.choice(SURNAMES) + rnd.choice(GIVEN) + rnd.choice(GIVEN)
        people.append({"id": pid, "name": name, "gender": rnd.choice("男女"),
                       "id_number": f"3703{k:014d}",
                       "jurisdiction_id": villages[k % len(villages)]})
        subj.append({"person_id": pid, "policy": "guangxi-2023",
                     "categories": rnd.sample(CATEGORIES, 2), "status": "active",
                     "address": f"{k % 300 + 1}号", "tier": "ordinary"})
        assign.append({"subject_id": pid, "visitor_id": 1 + k % n_visitors,
                       "starts_on": date(2020, 1, 1)})
    for chunk in range(0, len(people), 5000):
        session.execute(insert(Person), people[chunk:chunk + 5000])
    for chunk in range(0, len(subj), 5000):
        session.execute(insert(Subject), subj[chunk:chunk + 5000])
        session.execute(insert(Assignment), assign[chunk:chunk + 5000])
    now = datetime.now(UTC)
    for m in [end.shift(-i) for i in range(months)]:
        visits = []
        for k in range(subjects):
            pid = first + k
            r = rnd.random()
            due = m.first + timedelta(days=14)
            status = "filed" if r < 0.9 else ("missed" if r < 0.95 else "planned")
            visited = due + timedelta(days=rnd.randint(-10, 20)) if status == "filed" else None
            if visited and visited > m.last:
                visited = m.last
            visits.append({"subject_id": pid, "visitor_id": 1 + k % n_visitors,
                           "policy": "guangxi-2023", "kind": "regular", "due_on": due,
                           "deadline": m.last - timedelta(days=5), "status": status,
                           "visited_on": visited, "mode": rnd.choice(MODES) if visited else None,
                           "filed_at": now if visited else None, "window_opens": m.first})
        for chunk in range(0, len(visits), 10000):
            session.execute(insert(Visit), visits[chunk:chunk + 10000])
    cases = []
    for k in rnd.sample(range(subjects), max(1, subjects // 50)):
        opened = now - timedelta(days=rnd.randint(0, 360))
        resolved = opened + timedelta(days=rnd.randint(1, 30)) if rnd.random() < 0.7 else None
        if resolved and resolved > now:
            resolved = None
        cases.append({"subject_id": first + k, "kind": "health",
                      "severity": rnd.choice(["watch", "watch", "high", "emergency"]),
                      "status": "resolved" if resolved else "open", "opened_at": opened,
                      "resolved_at": resolved})
    session.execute(insert(Case), cases)
    session.commit()


def _schema_key() -> str:
    """The migrations' fingerprint: a reused file from another schema history (another
    branch's migration of the same number) is never picked up again."""
    import hashlib

    import store.migrate

    versions = Path(store.migrate.__file__).parent / "migrations" / "versions"
    h = hashlib.sha256()
    for f in sorted(versions.glob("*.py")):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:10]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--subjects", type=int, default=2000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--database-url", default=None,
                    help="default: a SQLite file in the temp folder, reused across runs")
    ap.add_argument("--month", default=None, help="report month YYYY-MM (default: last month)")
    ap.add_argument("--formats", default="xlsx,pdf", help="comma-separated: xlsx, pdf")
    ap.add_argument("--out", default=None, help="folder for the files (default: temp)")
    args = ap.parse_args()

    today = datetime.now(UTC).date()
    end = Month.parse(args.month) if args.month else Month.of(today).shift(-1)
    cached = Path(tempfile.gettempdir()) / f"visitbot-bench-{args.subjects}-{_schema_key()}.db"
    url = args.database_url or f"sqlite:///{cached}"
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    try:
        check_id_key(sessions, demo=True)
    except KeyCheckError:
        if args.database_url:
            raise
        # The reused file was sealed under another ID key (another run's): build afresh.
        engine.dispose()
        cached.unlink()
        upgrade(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        check_id_key(sessions, demo=True)
    with sessions() as s:
        have = s.scalar(select(func.count()).select_from(Subject)) or 0
    if have == 0:
        t0 = time.perf_counter()
        with sessions() as s:
            build_county(s, args.subjects, end, args.months)
        print(f"built {args.subjects} subjects × {args.months} months in "
              f"{time.perf_counter() - t0:.1f}s", file=sys.stderr)
    elif have != args.subjects:
        print(f"{url} already holds {have} subjects; using them", file=sys.stderr)
    out = Path(args.out or tempfile.mkdtemp(prefix="visitbot-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    for fmt in args.formats.split(","):
        path = out / f"monthly-{end.key}.{fmt}"
        t0 = time.perf_counter()
        with sessions() as s:
            export_monthly(s, [1], end, fmt, path, as_of=end.next_first)
        dt = time.perf_counter() - t0
        print(f"monthly county report {fmt}: {have or args.subjects} subjects, "
              f"{dt:.2f}s, {path.stat().st_size / 1e6:.1f} MB → {path}")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
