"""`./dev bench`: every benchmark once at a small size, so the harness itself stays working.

Each script takes its own size flags for the full runs quoted in BENCHMARKS.md; pass
`--full` here to use those sizes instead (minutes, not seconds). PostgreSQL runs are
included when the server answers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

HERE = Path(__file__).parent
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

SMALL = [
    ("engine_bench.py", ["--visits", "500"]),
    ("due_bench.py", ["--subjects", "2000", "--db", "sqlite"]),
    ("dispatch_bench.py", ["--messages", "2000", "--db", "sqlite"]),
    ("roster_bench.py", ["--rows", "2000", "--db", "sqlite"]),
    ("alert_bench.py", ["--visitors", "10", "--db", "sqlite", "--threads", "2"]),
    ("wechat_webhook_bench.py", ["--messages", "300", "--warmup", "50"]),
    ("telegram_webhook_bench.py", ["--updates", "300", "--db", "sqlite"]),
    ("report_bench.py", ["--subjects", "300", "--months", "2"]),
]
FULL = [
    ("engine_bench.py", ["--visits", "5000"]),
    ("due_bench.py", ["--subjects", "50000", "--db", "sqlite"]),
    ("due_bench.py", ["--subjects", "50000", "--db", "postgres"]),
    ("dispatch_bench.py", ["--messages", "20000", "--db", "postgres", "--workers", "2"]),
    ("roster_bench.py", ["--rows", "100000", "--db", "sqlite"]),
    ("alert_bench.py", ["--visitors", "40", "--db", "postgres"]),
    ("roster_bench.py", ["--rows", "100000", "--db", "postgres"]),
    ("wechat_webhook_bench.py", ["--messages", "3000"]),
    ("telegram_webhook_bench.py", ["--updates", "3000", "--db", "postgres"]),
    ("report_bench.py", ["--subjects", "50000"]),
]


def pg_answers() -> bool:
    try:
        with create_engine(PG, connect_args={"connect_timeout": 2}).connect() as c:
            c.execute(text("select 1"))
        return True
    except Exception:
        return False


def main() -> int:
    plan = FULL if "--full" in sys.argv[1:] else SMALL
    pg = pg_answers()
    failed = 0
    for script, args in plan:
        if not (HERE / script).exists():
            continue
        if "postgres" in args and not pg:
            print(f"== {script} {' '.join(args)}: skipped, PostgreSQL does not answer")
            continue
        print(f"== {script} {' '.join(args)}", flush=True)
        module = f"bench.{script.removesuffix('.py')}"
        rc = subprocess.run([sys.executable, "-m", module, *args], cwd=HERE.parent).returncode
        if rc:
            print(f"   exit {rc}")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
