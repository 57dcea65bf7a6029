"""The benchmark harness keeps working: each bench runs at a tiny size and prints sane
figures. No timing is asserted; speed is read from the figures, not tested."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import engine_bench

ROOT = Path(__file__).resolve().parents[2]


def run(module: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", f"bench.{module}", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_engine_bench_walks_every_seed() -> None:
    r = engine_bench.run(25)
    assert r["visits"] == 25 and r["steps"] >= 25 * 15  # every visit went the whole way
    assert r["steps_per_s"] > 0 and r["p99_ms"] >= r["p50_ms"]


def test_due_bench_plans_once() -> None:
    out = run("due_bench", "--subjects", "500", "--db", "sqlite", "--days", "2")
    first = re.search(r"first tick.*\+([\d,]+) visits", out)
    again = re.search(r"same day again.*\+([\d,]+) visits, \+([\d,]+) outbox", out)
    assert first and int(first.group(1).replace(",", "")) == 500
    assert again and again.groups() == ("0", "0")  # a second tick writes nothing


@pytest.mark.postgres
def test_dispatch_bench_sends_each_once(pg_url: str) -> None:
    out = run("dispatch_bench", "--messages", "400", "--db", "postgres", "--workers", "2",
              "--latency", "0.001")
    m = re.search(r"([\d,]+) sent in .*marked sent ([\d,]+); sent twice (\d+)", out)
    assert m and m.group(1) == "400" and m.group(2) == "400" and m.group(3) == "0"


def test_harness_small_province_end_to_end(tmp_path: Path) -> None:
    """`python -m bench.harness --subjects 10000 --small`: every workload runs and the JSON
    and the table say what happened (PostgreSQL parts where the server answers)."""
    out = tmp_path / "h.json"
    done = subprocess.run([sys.executable, "-m", "bench.harness", "--subjects", "10000",
                           "--small", "--quiet", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(out.read_text())
    lite = r["db"]["sqlite"]
    assert lite["province"]["subjects"] == 10_000
    first = lite["province"]["tick"]["first"]
    # every subject's regular visit is planned or already covered, a digest per visitor
    assert 0 < first["visits"] <= 10_000 and first["outbox"] == 1_000
    assert lite["province"]["tick"]["repeat"]["visits"] == 0
    assert lite["province"]["tick"]["repeat"]["outbox"] == 0
    assert "| sqlite: tick over 10,000" in done.stdout
    assert r["report"]["xlsx_s"] is not None
    pg = r["db"].get("postgres", {})
    if "skipped" in pg:
        return
    assert pg["province"]["tick"]["first"] == {**first, "seconds": pg["province"]["tick"][
        "first"]["seconds"]}  # both databases plan the same
    run_ = pg["open_loop"].get("runs", [{}])[0] if "runs" in pg["open_loop"] else None
    if run_ is not None:  # wrk installed
        assert run_["non_2xx"] == 0 and run_["requests"] > 0
        assert run_["answers_stored"] > 0  # the posted answers were accepted and recorded
        assert run_["ceiling"]["rps"] > 0
    assert all(d["twice"] == 0 and d["sent"] == d["messages"] for d in r["dispatch"])
    # visitors walked checklists in a closed loop: answered, and the bot answered each
    tg = r["closed_loop"]["telegram"][0]
    assert tg["answers"] > 0 and tg["stuck"] == 0
    # the hot paths were explained: each statement of an answer, the list, the claim
    paths = {p["path"] for p in pg["explain"]}
    assert {"answer", "visit list (待访)", "dispatcher claim"} <= paths


def test_report_bench_reuses_its_file_only_under_the_same_key(tmp_path: Path) -> None:
    """The report bench keeps its county in a temp file between runs; a run under another
    ID key (another test session's) cannot open its sealed IDs and builds afresh instead
    of failing."""
    import base64
    import os

    def under_new_key() -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "VISITBOT_ID_KEY": base64.b64encode(os.urandom(64)).decode(),
               "TMPDIR": str(tmp_path)}
        return subprocess.run([sys.executable, "-m", "bench.report_bench", "--subjects", "40",
                               "--months", "2", "--formats", "xlsx",
                               "--out", str(tmp_path / "out")],
                              cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)

    for _ in range(2):
        done = under_new_key()
        assert done.returncode == 0, done.stderr[-2000:]
        assert "built 40 subjects" in done.stderr  # the second run rebuilt, not reused
    assert list(tmp_path.glob("visitbot-bench-40-*.db"))
