"""Validation of roster cells and sheets, without a database."""

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from store import idcard
from store.roster.columns import detect_kind, map_headers
from store.roster.read import RosterFileError, open_sheet
from store.roster.validate import parse_date, parse_money, parse_phone, parse_yes_no, validate_sheet
from store.samples import SAMPLE_ROSTER, SAMPLE_STAFF

TODAY = date(2025, 6, 1)


@pytest.mark.parametrize(("raw", "phone"), [
    ("13812345678", "13812345678"), (" 138 1234 5678 ", "13812345678"),
    ("138-1234-5678", "13812345678"), ("+86 13812345678", "13812345678"),
    (13812345678, "13812345678"), (13812345678.0, "13812345678"),
    ("0533-7123456", "0533-7123456"), ("05337123456", "05337123456"),
    ("无", None), (None, None),
])
def test_phone_accepted(raw: object, phone: str | None) -> None:
    assert parse_phone(raw) == (phone, None)


@pytest.mark.parametrize("raw", ["1381234567", "12812345678", "abc", "138123456789", 5337123456])
def test_phone_rejected(raw: object) -> None:
    phone, reason = parse_phone(raw)
    assert phone is None and reason


@pytest.mark.parametrize(("raw", "when", "has_day"), [
    ("1950-03", date(1950, 3, 1), False), ("1950/3/1", date(1950, 3, 1), True),
    ("1950年3月", date(1950, 3, 1), False), ("1950年3月5日", date(1950, 3, 5), True),
    ("1950.03", date(1950, 3, 1), False), ("195003", date(1950, 3, 1), False),
    ("19500305", date(1950, 3, 5), True),
    # openpyxl returns Excel date cells as naive datetimes: Excel has no time zones.
    (datetime(1950, 3, 5), date(1950, 3, 5), True),  # noqa: DTZ001
    (datetime(1950, 3, 1), date(1950, 3, 1), False),  # noqa: DTZ001 (a yyyy-mm cell)
    (date(1950, 3, 5), date(1950, 3, 5), True), (18327, date(1950, 3, 5), True),
    ("1950-03-05 00:00:00", date(1950, 3, 5), True),
])
def test_dates(raw: object, when: date, has_day: bool) -> None:
    assert parse_date(raw) == (when, has_day, None)


@pytest.mark.parametrize("raw", ["1950-13", "三月", "1950-02-30", "50-3"])
def test_bad_dates(raw: str) -> None:
    assert parse_date(raw)[2]


def test_yes_no_and_money() -> None:
    assert parse_yes_no("是") == (True, None)
    assert parse_yes_no("否") == (False, None)
    assert parse_yes_no("√") == (True, None)
    assert parse_yes_no("也许")[1]
    assert parse_money("0.8万元") == (Decimal("0.80"), None)
    assert parse_money("1,200") == (Decimal("1200.00"), None)
    assert parse_money("-1")[1] and parse_money("很多")[1]


def test_header_variants_and_unknown_columns() -> None:
    hm = map_headers(["姓名", "身份证号", "电话", "所属县（区）", "乡镇", "村", "探访人",
                      "探访人电话", "序号", "爱好"], "roster")
    assert hm.index["id_number"] == 1 and hm.index["phone"] == 2
    assert hm.index["county"] == 3 and hm.index["visitor_name"] == 6
    assert hm.unknown == ["爱好"]  # 序号 is expected in hand-made sheets: no warning
    assert not hm.missing


def test_detect_kind() -> None:
    assert detect_kind(["姓名", "联系电话", "角色", "所属县(区)"]) == "staff"
    assert detect_kind(["姓名", "身份证号码", "访视责任人"]) == "roster"


def test_sample_roster_and_staff_are_valid() -> None:
    for path, kind in ((SAMPLE_ROSTER, "roster"), (SAMPLE_STAFF, "staff")):
        sheet = open_sheet(path)
        assert detect_kind(sheet.headers) == kind
        checked = validate_sheet(sheet, kind, policy_default="linzi-2022", today=TODAY)
        assert checked.errors == [] and checked.warnings == []
        assert len(checked.records) == checked.rows_total


def test_sample_tiers_and_children() -> None:
    checked = validate_sheet(open_sheet(SAMPLE_ROSTER), "roster", policy_default="x",
                             today=TODAY)
    tiers = {r.self_care: r.tier for r in checked.records}  # type: ignore[union-attr]
    assert tiers == {"失能": "key", "半失能": "key", "自理": tiers["自理"]}
    assert {r.tier for r in checked.records} == {"key", "ordinary"}  # type: ignore[union-attr]
    two = [r for r in checked.records if len(r.children) == 2]  # type: ignore[union-attr]
    assert two and two[0].children[0].primary and not two[0].children[1].primary


def _sheet(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.csv"
    path.write_text(text, encoding="utf-8")
    return path


HEAD = "姓名,身份证号码,所属县(区),所属乡镇(街道),所属村(居),访视责任人,访视责任人电话"


def test_title_rows_above_header_keep_excel_row_numbers(tmp_path: Path) -> None:
    good = idcard.make("990101", date(1940, 1, 1), 1)
    path = _sheet(tmp_path, f"示范县特殊老年人名单,,,\n填报单位：,,\n{HEAD}\n"
                            f"张三,{good},县,镇,村,李四,13800000000\n"
                            f"王五,123,县,镇,村,李四,13800000000\n")
    sheet = open_sheet(path)
    assert sheet.header_row == 3
    checked = validate_sheet(sheet, "roster", policy_default="x", today=TODAY)
    assert [(e.row, e.column) for e in checked.errors] == [(5, "身份证号码")]


def test_every_bad_cell_is_reported(tmp_path: Path) -> None:
    good = idcard.make("990101", date(1940, 1, 1), 1)
    wrong_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    path = _sheet(tmp_path, HEAD + ",出生年月,是否独居,对象类型,性别\n"
                  f"张三,{wrong_check},县,镇,村,李四,1380000,1941-01,也许,外星人、独居,女\n")
    checked = validate_sheet(open_sheet(path), "roster", policy_default="x", today=TODAY)
    cols = {e.column for e in checked.errors}
    assert cols == {"身份证号码", "访视责任人电话", "是否独居", "对象类型"}
    assert all(e.row == 2 for e in checked.errors)
    assert "外星人" in next(e.reason for e in checked.errors if e.column == "对象类型")


def test_birth_and_gender_must_match_the_id(tmp_path: Path) -> None:
    good = idcard.make("990101", date(1940, 1, 1), 1)  # a man
    path = _sheet(tmp_path, HEAD + ",出生年月,性别\n"
                  f"张三,{good},县,镇,村,李四,13800000000,1941-01,女\n")
    checked = validate_sheet(open_sheet(path), "roster", policy_default="x", today=TODAY)
    assert {e.column for e in checked.errors} == {"出生年月", "性别"}


def test_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "a.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(RosterFileError, match="xlsx"):
        open_sheet(tmp_path / "a.xls")
    (tmp_path / "b.xlsx").write_bytes(b"not a zip")
    with pytest.raises(RosterFileError, match="不是有效"):
        open_sheet(tmp_path / "b.xlsx")
    (tmp_path / "c.csv").write_bytes(b"")
    with pytest.raises(RosterFileError, match="空"):
        open_sheet(tmp_path / "c.csv")
