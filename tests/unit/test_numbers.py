"""Numbers people type or files hold: one reader. Every Unicode character whose isdigit()
is true ('²'.isdigit() is true, int('²') raises) is fed to every reader: NFKC turns some
into ASCII digits ('２', '²', '①' read as 2, 2, 1), the rest get a re-prompt or a clear
error — never an exception."""

from __future__ import annotations

import sys
import unicodedata
from datetime import UTC, date, datetime
from typing import Any

import pytest

from conversations import answers, engine
from conversations.checklist import load_checklist
from conversations.engine import DATE, MODE, REVIEW, Context, Inbound
from conversations.numbers import is_digits, read_decimal, read_int
from store import idcard
from store.roster.read import Sheet
from store.roster.validate import parse_date, parse_money, parse_phone, validate_sheet

ALL_DIGITS = [c for c in map(chr, range(sys.maxunicode + 1)) if c.isdigit() and not c.isascii()]
# NFKC folds these to ASCII digits: read as those
FOLDING = [c for c in ALL_DIGITS if (f := unicodedata.normalize("NFKC", c)).isascii()
           and f.isdecimal()]
# every other character whose isdigit() is true: never a number
UNICODE_DIGITS = [c for c in ALL_DIGITS if c not in FOLDING]
FULL_WIDTH = "０１２３４５６７８９"
SEEDS = ["anshan-2020", "guangxi-2023", "jingdezhen-2020", "linzi-2022", "liuzhou-2021"]
NOW = datetime(2026, 11, 25, 9, tzinfo=UTC)
TODAY = date(2026, 11, 25)


def test_there_are_hundreds_of_them() -> None:
    assert len(ALL_DIGITS) > 300 and len(UNICODE_DIGITS) > 200
    assert {"٣", "߃", "᧚", "⑴", "⒈"} <= set(UNICODE_DIGITS) and {"²", "①", "４"} <= set(FOLDING)


@pytest.mark.parametrize("c", FOLDING)
def test_folding_digits_read_as_what_they_look_like(c: str) -> None:
    value = int(unicodedata.normalize("NFKC", c))
    assert read_int(c) == value and read_decimal(c) == float(value) and is_digits(c)


@pytest.mark.parametrize("c", UNICODE_DIGITS)
def test_the_reader_refuses_them(c: str) -> None:
    for text in (c, c * 3, f"1{c}", f"{c}2", f" {c} "):
        assert read_int(text) is None
        assert not is_digits(text)
        # a decimal only where NFKC leaves plain ASCII ('⒈2' is "1.2")
        d = read_decimal(text)
        assert d is None or unicodedata.normalize("NFKC", text).strip() == str(d)


def test_the_reader_accepts_ascii_and_full_width() -> None:
    assert read_int("42") == 42 and read_int(" ４２ ") == 42 and read_int(FULL_WIDTH) == 123456789
    assert read_decimal("36.5") == 36.5 and read_decimal("－３") == -3.0
    assert read_int("9" * 30) is None, "longer than any id or count: not a number"
    for bad in ("", "1e5", "nan", "inf", "1_000", "0x10", "+", ".", "1.2.3", None):
        assert read_decimal(bad) is None, bad


def _ctx() -> Context:
    return Context(subject_name="孙立本", facts={"self_care": "失能", "lives_alone": True},
                   today=TODAY, seasons=frozenset({"heating"}))


def _states(name: str) -> dict[str, tuple[Any, dict[str, Any]]]:
    """The engine's state at the mode, the date, each kind of question and the review."""
    cl = load_checklist(name)
    ctx = _ctx()
    st = engine.start(cl, ctx, NOW).state
    out: dict[str, tuple[Any, dict[str, Any]]] = {}
    for _ in range(200):
        cur = st["cur"]
        kind = cur if cur in (MODE, DATE, REVIEW) else cl.question(cur).type
        out.setdefault(kind, (cl, st))
        if cur == REVIEW:
            break
        q = None if cur in (MODE, DATE) else cl.question(cur)
        text = "1" if q is None or q.type in ("single", "multi", "yesno") else (
            "今天" if q.type == "date" else "跳过" if not q.required else
            str(int(q.min or 1)) if q.type == "number" else "无")
        if q is not None and q.type == "multi":
            st = engine.step(st, Inbound(text="1"), cl, ctx, NOW).state
            text = "完成"
        st = engine.step(st, Inbound(text=text), cl, ctx, NOW).state
    return out


@pytest.mark.parametrize("name", SEEDS)
def test_the_engine_reprompts_at_every_step(name: str) -> None:
    ctx = _ctx()
    for kind, (cl, st) in _states(name).items():
        for c in ALL_DIGITS:
            for inbound in (Inbound(text=c), Inbound(text=f"修改{c}"),
                            Inbound(choice=f"a:{st['cur']}:{c}")):
                res = engine.step(st, inbound, cl, ctx, NOW)
                assert res.replies, (kind, c)
                if c in UNICODE_DIGITS and kind != "text":  # free text takes anything
                    assert res.state["cur"] == st["cur"], (kind, c)


def test_property_test_example_superscript_two_at_the_mode() -> None:
    """The example hypothesis found: '²' typed at the visit-mode question raised
    ValueError. NFKC reads it as 2 (the second mode); a digit of another script re-asks."""
    cl = load_checklist("linzi-2022")
    st = engine.start(cl, _ctx(), NOW).state
    assert st["cur"] == MODE
    res = engine.step(st, Inbound(text="²"), cl, _ctx(), NOW)
    assert res.state["answers"][MODE] == cl.modes[1].code and res.state["cur"] == DATE
    res = engine.step(st, Inbound(text="٢"), cl, _ctx(), NOW)
    assert res.state["cur"] == MODE and MODE not in res.state["answers"] and res.replies


@pytest.mark.parametrize("c", UNICODE_DIGITS)
def test_answer_parsers_give_hints(c: str) -> None:
    cl = load_checklist("guangxi-2023")
    for q in cl.questions:
        if q.type in ("single", "multi"):
            assert not answers.parse_single(q, c).ok
            assert not answers.parse_multi(q, c).ok
        elif q.type == "number":
            assert not answers.parse_number(q, c).ok
            assert not answers.parse_number(q, f"{c}人").ok
    for text in (c, f"2026年{c}月1日", f"{c}月{c}日", f"{c}{c}{c}{c}-01-01"):
        assert not answers.parse_date(text, TODAY).ok


def test_id_numbers_with_unicode_digits_are_clear_errors() -> None:
    good = idcard.make("110101", date(1950, 3, 7), 123)
    assert idcard.parse(good.translate(str.maketrans("0123456789", FULL_WIDTH))).number == good
    for c in UNICODE_DIGITS:
        for bad in (c * 18, good[:5] + c + good[6:], good[:17] + c):
            with pytest.raises(idcard.InvalidIdNumber):
                idcard.parse(bad)


@pytest.mark.parametrize("c", UNICODE_DIGITS)
def test_roster_cells_give_clear_errors(c: str) -> None:
    # refused with a reason, or read from what NFKC makes of it ('⑴' is "(1)"): never a
    # value holding another script's digits
    phone, why = parse_phone(f"138{c * 8}")
    assert (phone is None and why) or (phone is not None and phone.isascii())
    when, _, why = parse_date(f"{c * 4}-03")
    assert when is None and why
    amount, why = parse_money(c * 3)
    assert (amount is None and why) or unicodedata.normalize("NFKC", c * 3).isascii()


def test_roster_counts_and_full_width_cells() -> None:
    good = idcard.make("990101", date(1940, 1, 1), 1)
    rows = [(i + 2, ["张三", good, "县", "镇", "村", "李四", "13800000000", c])
            for i, c in enumerate(UNICODE_DIGITS)]
    rows.append((len(rows) + 2, ["王五", good.translate(str.maketrans("0123456789", FULL_WIDTH)),
                                 "县", "镇", "村", "李四", "１３８００００００００", "２"]))
    sheet = Sheet(1, ["姓名", "身份证号码", "所属县(区)", "所属乡镇(街道)", "所属村(居)",
                      "访视责任人", "访视责任人电话", "子女个数"], iter(rows), "csv")
    checked = validate_sheet(sheet, "roster", policy_default="linzi-2022", today=TODAY)
    bad_rows = {e.row for e in checked.errors if e.column == "子女个数"}
    assert bad_rows == {r for r, _ in rows[:-1]}
    assert not [e for e in checked.errors if e.row == rows[-1][0]]
    assert parse_phone("１３８ ００００ ００００") == ("13800000000", None)
