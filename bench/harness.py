"""The whole benchmark in one command: a synthetic province on PostgreSQL and SQLite,
every workload, one table, one JSON file.

    python -m bench.harness                       # 1,000,000 subjects (about an hour)
    python -m bench.harness --subjects 10000 --small   # the test suite's run (a minute)

For each database: build the province (subjects, a visitor per ten, the five policies,
`--history-months` of filed visits), tick over it in a fresh process (seconds, rows,
peak RSS), and the same at a tenth of the size for the growth ratio. On PostgreSQL also:
wrk against `visitbot run` with 1 and 2 worker processes beside the do-nothing ceiling
and pgbench -N (bench.openloop), the closed-loop Telegram and WeChat (encrypted) webhook
runs, the outbox drain against the fake platforms with 1, 2 and 4 dispatchers, and the
monthly county report. The table goes to stdout, everything to
bench/results/harness-<time>.json (or --json).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench import openloop, province
from bench.dbs import PG_BASE, drop_database, new_database
from store.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def pg_answers() -> bool:
    try:
        with create_engine(f"{PG_BASE}/postgres", connect_args={"connect_timeout": 2}
                           ).connect() as c:
            c.execute(text("select 1"))
        return True
    except Exception:
        return False


def _module(name: str, *args: str, timeout: int = 3600) -> str:
    done = subprocess.run([sys.executable, "-m", f"bench.{name}", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise RuntimeError(f"bench.{name} failed: {done.stderr[-1500:]}")
    return done.stdout


def _num(pattern: str, out: str) -> float | None:
    m = re.search(pattern, out)
    return float(m.group(1).replace(",", "")) if m else None


def province_run(db: str, subjects: int, months: int, say: Any,
                 keep: bool = False) -> tuple[dict[str, Any], str | None, str | None]:
    url, name = new_database(db)
    upgrade(url)
    say(f"[{db}] building {subjects:,} subjects with {months} months of history …")
    built = province.build(url, subjects, months, progress=False)
    say(f"[{db}]   built in {built['build_s']:.0f} s; ticking …")
    ticks = province.tick_in_child(url)
    say(f"[{db}]   first tick {ticks['first']['seconds']:.1f} s, repeat "
        f"{ticks['repeat']['seconds']:.1f} s, peak RSS {ticks['peak_rss_mb']:.0f} MB")
    out = {"subjects": subjects, **built, "tick": ticks}
    if keep:
        return out, url, name
    if name:
        drop_database(name)
    elif url.startswith("sqlite:///"):  # its own temporary folder (GBs at a million)
        shutil.rmtree(Path(url.removeprefix("sqlite:///")).parent, ignore_errors=True)
    return out, None, None


def run(args: argparse.Namespace) -> dict[str, Any]:
    say = (lambda m: print(m, flush=True)) if not args.quiet else (lambda m: None)
    dbs = [d for d in args.db.split(",") if d]
    pg = pg_answers()
    result: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": _cpus(), "python": platform.python_version()},
        "subjects": args.subjects, "history_months": args.history_months, "db": {}}
    for db in dbs:
        if db == "postgres" and not pg:
            result["db"][db] = {"skipped": "PostgreSQL does not answer"}
            say("[postgres] skipped: the server does not answer")
            continue
        r: dict[str, Any] = {}
        small, _, _ = province_run(db, max(1, args.subjects // 10), args.history_months, say)
        big, url, name = province_run(db, args.subjects, args.history_months, say,
                                      keep=db == "postgres")
        r["province_small"], r["province"] = small, big
        r["growth"] = big["tick"]["first"]["seconds"] / max(
            small["tick"]["first"]["seconds"], 1e-9)
        say(f"[{db}]   tick growth {args.subjects // 10:,} → {args.subjects:,}: "
            f"×{r['growth']:.1f}")
        if db == "postgres" and url is not None:
            try:
                say("[postgres] EXPLAIN ANALYZE of the hot statements …")
                r["explain"] = explain(url, args)
                say("[postgres] open loop: wrk against visitbot run, the ceiling, pgbench …")
                r["open_loop"] = openloop.run(
                    url, visitors=args.visitors, workers=args.workers,
                    seconds=args.seconds, connections=args.connections, progress=not args.quiet)
                result["closed_loop"] = closed_loop(url, args, say)
            finally:
                if name:
                    drop_database(name)
        result["db"][db] = r
    if pg and "postgres" in dbs:
        result["dispatch"] = dispatch(args, say)
    result["report"] = report(args, say)
    result["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    return result


def explain(url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each hot statement's execution time; the whole plans go to a text file beside the
    JSON (bench.explain)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "explain.tmp.json"
    text_out = _module("explain", "--url", url, "--json", str(path))
    plans: list[dict[str, Any]] = json.loads(path.read_text())
    path.unlink()
    args.plans_text = text_out
    return [{"path": p["path"], "ms": p["ms"], "statement": p["statement"][:200]}
            for p in plans]


def closed_loop(url: str, args: argparse.Namespace, say: Any) -> dict[str, Any]:
    """Visitors walking checklists on the province, each waiting for the next question
    (bench.closedloop: this side plays the users and the Bot API); then the WeChat
    endpoint in safe mode (AES, signatures) on its own database."""
    say(f"[postgres] closed loop: {args.closed_visitors} visitors walking checklists "
        "through the webhook and the dispatcher …")
    path = RESULTS / "closed.tmp.json"
    _module("closedloop", "--url", url, "--visitors", str(args.closed_visitors),
            "--workers", ",".join(map(str, args.workers)), "--seconds",
            str(args.seconds), "--json", str(path))
    tg: list[dict[str, Any]] = json.loads(path.read_text())
    path.unlink()
    for r in tg:
        if "skipped" not in r:
            say(f"[postgres]   {r['workers']} process(es): {r['answers_per_s']:,.0f} "
                f"answers/s, p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, "
                f"{r['filed']} visits filed")
    say("[postgres] closed loop: WeChat safe mode (AES) webhook …")
    out = _module("wechat_webhook_bench", "--messages", str(args.closed_updates),
                  "--processes", "2")
    wx = {"msgs_per_s": _num(r"([\d,.]+) msg/s", out), "p50_ms": _num(r"p50 ([\d.]+) ms", out),
          "p99_ms": _num(r"p99 ([\d.]+) ms", out)}
    say(f"[postgres]   WeChat {wx['msgs_per_s']}/s p99 {wx['p99_ms']} ms")
    return {"telegram": tg, "wechat_safe_mode": wx}


def dispatch(args: argparse.Namespace, say: Any) -> list[dict[str, Any]]:
    say("[postgres] dispatch against the fake platforms: 1, 2, 4 processes …")
    path = RESULTS / "dispatch.tmp.json"
    RESULTS.mkdir(exist_ok=True)
    _module("dispatch_fake", "--messages", str(args.dispatch_messages), "--workers",
            args.dispatchers, "--json", str(path))
    rows: list[dict[str, Any]] = json.loads(path.read_text())
    path.unlink()
    for r in rows:
        say(f"[postgres]   {r['workers']} dispatcher(s): {r['msg_per_s']:,.0f} msg/s, "
            f"received twice {r['twice']}")
    return rows


def report(args: argparse.Namespace, say: Any) -> dict[str, Any]:
    say(f"[sqlite] monthly county report over {args.report_subjects:,} subjects …")
    fmt = ["--formats", "xlsx"] if args.small else []
    out = _module("report_bench", "--subjects", str(args.report_subjects), *fmt)
    r = {"subjects": args.report_subjects,
         "xlsx_s": _num(r"report xlsx: [^,]+, ([\d.]+)s", out),
         "pdf_s": _num(r"report pdf: [^,]+, ([\d.]+)s", out)}
    say(f"[sqlite]   XLSX {r['xlsx_s']} s, PDF {r['pdf_s']} s")
    return r


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


def table(r: dict[str, Any]) -> str:
    rows: list[tuple[str, str]] = []
    for db, d in r["db"].items():
        if "skipped" in d:
            rows.append((f"{db}", d["skipped"]))
            continue
        for key in ("province_small", "province"):
            p = d[key]
            t = p["tick"]
            rows.append((f"{db}: build {p['subjects']:,} subjects + history",
                         f"{p['build_s']:.0f} s (history {p['history_s']:.0f} s)"))
            rows.append((f"{db}: tick over {p['subjects']:,}, first of the month",
                         f"{t['first']['seconds']:.1f} s, +{t['first']['visits']:,} visits, "
                         f"+{t['first']['outbox']:,} reminders"))
            rows.append((f"{db}: same tick again", f"{t['repeat']['seconds']:.1f} s, "
                         f"+{t['repeat']['visits']:,} visits"))
            rows.append((f"{db}: tick peak RSS ({p['subjects']:,})",
                         f"{t['peak_rss_mb']:.0f} MB"))
        rows.append((f"{db}: tick growth ×10 subjects", f"×{d['growth']:.1f}"))
        for p in d.get("explain", []):
            rows.append((f"{db}: EXPLAIN [{p['path']}] {p['statement'][:40]}…",
                         f"{p['ms']} ms"))
        ol = d.get("open_loop")
        if ol and "skipped" in ol:
            rows.append((f"{db}: open loop", ol["skipped"]))
        elif ol:
            for run_ in ol["runs"]:
                w = run_["workers"]
                rows.append((f"{db}: open loop, wrk, {w} bot process(es)",
                             f"{run_['processed_per_s']:,.0f} updates/s, p50 "
                             f"{run_.get('p50_ms', 0):.0f} ms, "
                             f"p99 {run_.get('p99_ms', 0):.0f} ms"))
                rows.append((f"{db}: do-nothing ceiling, {w} process(es)",
                             f"{run_['ceiling']['rps']:,.0f} req/s → ratio {run_['ratio']:.2f}"))
                rows.append((f"{db}: bot peak RSS, {w} process(es)",
                             f"{run_['peak_rss_mb']:.0f} MB"))
                rows.append((f"{db}: CPU per update, {w} process(es)",
                             f"bot {run_.get('bot_cpu_ms_per_update', 0):.2f} ms, ceiling "
                             f"{run_['ceiling'].get('cpu_ms_per_update', 0):.2f} ms"))
            pgb = ol.get("pgbench", {})
            rows.append(("pgbench -N (8 clients)", f"{pgb.get('tps') or 0:,.0f} TPS"))
    cl = r.get("closed_loop")
    if cl:
        tg, wx = cl["telegram"], cl["wechat_safe_mode"]
        for t in tg:
            if "skipped" in t:
                rows.append(("closed loop, Telegram", t["skipped"]))
                continue
            rows.append((f"closed loop, Telegram, {t['workers']} bot process(es), "
                         f"{t['visitors']} visitors",
                         f"{t['answers_per_s']:,.0f} answers/s, p50 {t['p50_ms']:.0f} ms, "
                         f"p99 {t['p99_ms']:.0f} ms, {t['filed']} visits filed, "
                         f"{t['bot_cpu_ms_per_answer']:.1f} ms CPU/answer"))
        rows.append(("closed loop, WeChat safe mode", f"{wx['msgs_per_s'] or 0:,.0f}/s, "
                     f"p50 {wx['p50_ms']} ms, p99 {wx['p99_ms']} ms"))
    for d in r.get("dispatch", []):
        rows.append((f"dispatch vs fake platforms, {d['workers']} process(es)",
                     f"{d['msg_per_s']:,.0f} msg/s, sent twice {d['twice']}"))
    rep = r.get("report")
    if rep:
        rows.append((f"monthly county report, {rep['subjects']:,} subjects",
                     f"XLSX {rep['xlsx_s']} s" + (f", PDF {rep['pdf_s']} s"
                                                  if rep.get("pdf_s") else "")))
    width = max(len(a) for a, _ in rows)
    head = [f"| {'what':<{width}} | result |", f"|{'-' * (width + 2)}|---|"]
    return "\n".join(head + [f"| {a:<{width}} | {b} |" for a, b in rows])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Figures go to stdout as a table and to --json; see BENCHMARKS.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--subjects", type=int, default=1_000_000,
                    help="province size; the growth ratio also ticks a tenth of it")
    ap.add_argument("--history-months", type=int, default=12,
                    help="months of filed visits built before the tick")
    ap.add_argument("--db", default="postgres,sqlite",
                    help="databases to run, comma-separated")
    # sixteen visitors per connection: one visitor's answers are never in flight together,
    # and their walks (about 27 answers each) outlast 30 s of the fastest run, so wrk
    # never replays an update
    ap.add_argument("--visitors", type=int, default=1024,
                    help="open loop: visitors mid-checklist that wrk answers for")
    ap.add_argument("--workers", default="1,2,4",
                    help="open loop: bot process counts to try, comma-separated")
    ap.add_argument("--seconds", type=int, default=30, help="open loop: wrk duration")
    ap.add_argument("--connections", type=int, default=64,
                    help="open loop: wrk connections")
    ap.add_argument("--closed-updates", type=int, default=3000,
                    help="closed loop: WeChat (encrypted) messages to send")
    ap.add_argument("--closed-visitors", type=int, default=32,
                    help="closed loop: simulated visitors answering at once")
    ap.add_argument("--dispatch-messages", type=int, default=6000,
                    help="dispatch: outbox rows to drain")
    ap.add_argument("--dispatchers", default="1,2,4",
                    help="dispatch: dispatcher process counts, comma-separated")
    ap.add_argument("--report-subjects", type=int, default=50_000,
                    help="subjects in the monthly county report")
    ap.add_argument("--small", action="store_true",
                    help="the test suite's sizes for everything but --subjects")
    ap.add_argument("--json", type=Path,
                    help="JSON output path; unset: bench/results/harness-<time>.json")
    ap.add_argument("--quiet", action="store_true", help="print only the table, no progress lines")
    args = ap.parse_args()
    if args.small:
        args.history_months = min(args.history_months, 2)
        args.visitors, args.workers, args.seconds = 100, "1", 2
        args.closed_updates, args.dispatch_messages, args.dispatchers = 100, 200, "1"
        args.closed_visitors = 4
        args.report_subjects = 300
    args.workers = [int(w) for w in str(args.workers).split(",")]
    t0 = time.perf_counter()
    result = run(args)
    result["seconds"] = time.perf_counter() - t0
    out = args.json or RESULTS / f"harness-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    if getattr(args, "plans_text", None):
        out.with_suffix(".plans.txt").write_text(args.plans_text)
    print(table(result))
    print(f"written {out} in {result['seconds']:.0f} s")


if __name__ == "__main__":
    main()
