"""The seeds' own roster words are understood, and a broken CSV gets a clear error:
对象类型 spellings, liuzhou 附件1's codes and header, IDs as Excel and phones mangle them."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from store.roster.read import RosterFileError, open_sheet
from store.roster.validate import RosterRow, validate_sheet
from tests.integration.test_roster_support import sample_rows, write_csv

TODAY = date(2026, 3, 1)


def _one(tmp_path: Path, **change: str) -> tuple[list[object], list[str]]:
    headers, rows = sample_rows()
    rows = rows[:1]
    for key, value in change.items():
        if key not in headers:
            old = "对象类型" if "对象类型" in key else key
            headers = [key if h == old else h for h in headers]
            rows[0][key] = rows[0].pop(old)
        rows[0][key] = value
    checked = validate_sheet(open_sheet(write_csv(tmp_path / "r.csv", headers, rows)),
                             "roster", policy_default="linzi-2022", today=TODAY)
    return checked.records, [str(e) for e in checked.errors]


@pytest.mark.parametrize(("word", "cats"), [
    ("城乡留守老年人", ["留守"]),  # linzi's own term
    ("城乡留守老人", ["留守"]),
    ("农村留守老年人", ["留守"]),  # anshan's
    ("独居高龄老人", ["独居", "高龄"]),
    ("分散特困、重残老人", ["分散供养特困", "重残"]),
    ("1", ["分散供养特困"]), ("2", ["低保"]), ("3", ["独居", "高龄"]),
    ("4", ["孤儿及事实无人抚养儿童"]), ("１、３", ["分散供养特困", "独居", "高龄"]),
])
def test_category_words(tmp_path: Path, word: str, cats: list[str]) -> None:
    records, errors = _one(tmp_path, 对象类型=word)
    assert errors == []
    assert isinstance(records[0], RosterRow) and records[0].categories == cats


def test_liuzhou_header(tmp_path: Path) -> None:
    records, errors = _one(tmp_path, **{"访视对象类型（1至4）": "3"})
    assert errors == [] and records[0].categories == ["独居", "高龄"]  # type: ignore[union-attr]


@pytest.mark.parametrize("raw", ["９９０１０１１９３６０５１２０１２３", "990101193605120123\u200b",
                                 "\ufeff990101193605120123", "9901011936051201２３"])
def test_id_in_other_forms(tmp_path: Path, raw: str) -> None:
    records, errors = _one(tmp_path, 身份证号码=raw)
    assert errors == []
    assert records[0].id_number == "990101193605120123"  # type: ignore[union-attr]


@pytest.mark.parametrize("raw", ["3.60222E+17", "9.90101E+17", "3.6E17"])
def test_id_as_scientific_number_in_csv(tmp_path: Path, raw: str) -> None:
    _records, errors = _one(tmp_path, 身份证号码=raw)
    assert len(errors) == 1 and "存成了数字" in errors[0] and "文本" in errors[0]


def test_huge_cell_is_a_clear_error(tmp_path: Path) -> None:
    headers, rows = sample_rows()
    rows[1]["备注"] = "很长" * 1_000_000  # 2 MB
    path = write_csv(tmp_path / "big.csv", headers, rows)
    with pytest.raises(RosterFileError, match="第3行无法读取：单元格过长"):
        validate_sheet(open_sheet(path), "roster", policy_default="linzi-2022", today=TODAY)
    assert csv.field_size_limit() < 2_000_000  # the limit the message names is the real one
