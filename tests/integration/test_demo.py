"""`./dev demo` end to end: the whole visit runs on SQLite, and what it prints about the
case speaks the officers' words, not the code's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.cli.demo import run_demo


def test_demo_runs_and_prints_cases_in_chinese(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo(tmp_path / "demo.db") == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if "风险个案" in ln]
    assert lines, out[-2000:]
    for ln in lines:
        assert not re.search(r"\b(open|acked|resolved|watch|high|emergency|gas|health)\b", ln), ln
