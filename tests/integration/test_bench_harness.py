"""The benchmark harness keeps working: each bench runs at a tiny size and prints sane
figures. No timing is asserted; speed is read from the figures, not tested."""

from __future__ import annotations

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
