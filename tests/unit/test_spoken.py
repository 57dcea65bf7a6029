"""Recognised speech and typed text are tidied before they are read: a recogniser's "。",
full-width digits and Chinese numerals do not turn a good answer into a refusal."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conversations import answers
from conversations.checklist import load_checklist
from conversations.spoken import arabic_numerals, chinese_number, tidy

TODAY = date(2026, 11, 25)
SEEDS = ["anshan-2020", "guangxi-2023", "jingdezhen-2020", "linzi-2022", "liuzhou-2021"]
ENDINGS = ["。", ".", "！", "!", "？", "，", "、", "；", "…", " ", "。 ", "～"]
FULL_WIDTH = str.maketrans("0123456789-", "０１２３４５６７８９－")


@pytest.mark.parametrize(("run", "value"), [
    ("十", 10), ("十二", 12), ("二十", 20), ("四十五", 45), ("一百", 100), ("一百零五", 105),
    ("两百三十", 230), ("二零二七", 2027), ("二〇二六", 2026), ("零", 0), ("三", 3),
    ("一千九百八十", 1980), ("十百", None), ("十十", None)])
def test_chinese_numbers(run: str, value: int | None) -> None:
    assert chinese_number(run) == value


def test_arabic_numerals_leave_words_alone_where_they_are_not_used() -> None:
    assert arabic_numerals("二零二七年二月十日") == "2027年2月10日"
    assert arabic_numerals("三十六点五度") == "36.5度"
    assert tidy("40分钟。") == "40分钟" and tidy("２０２７－０２－１０。") == "２０２７－０２－１０"
    assert tidy("?") == "" and tidy("  较差！") == "较差"


def _answers_of(name: str) -> list[tuple[object, str]]:
    """(question, an answer a visitor would type) for every number, date and choice
    question of a checklist."""
    out: list[tuple[object, str]] = []
    for q in load_checklist(name).questions:
        if q.type == "number":
            low = int(q.min if q.min is not None else 0)
            out.append((q, str(low + 1 if q.max is None or q.max > low + 1 else low)))
        elif q.type == "date":
            out.append((q, "2027-02-10" if q.future == "only" else "2026-11-20"))
        elif q.type in ("single", "multi"):
            out += [(q, o.value) for o in q.options]
        elif q.type == "yesno":
            out += [(q, "是"), (q, "否")]
    return out


def _read(q, text: str) -> answers.Parsed:  # type: ignore[no-untyped-def]
    if q.type == "number":
        return answers.parse_number(q, text)
    if q.type == "date":
        return answers.parse_date(text, TODAY, q.future)
    if q.type == "single":
        return answers.parse_single(q, text)
    if q.type == "multi":
        return answers.parse_multi(q, text)
    return answers.parse_yesno(text)


@pytest.mark.parametrize("name", SEEDS)
@given(ending=st.sampled_from(ENDINGS), full_width=st.booleans())
def test_every_answer_reads_the_same_said_or_typed(name: str, ending: str,
                                                   full_width: bool) -> None:
    for q, text in _answers_of(name):
        plain = _read(q, text)
        assert plain.ok, (q.id, text)  # type: ignore[attr-defined]
        said = (text.translate(FULL_WIDTH) if full_width else text) + ending
        assert _read(q, tidy(said)) == plain, (q.id, said)  # type: ignore[attr-defined]


def test_the_findings_dates_and_minutes_said_aloud() -> None:
    minutes = load_checklist("linzi-2022").question("service_minutes")
    for said in ("40分钟。", "四十分钟。", "４０分钟", "四十"):
        assert answers.parse_number(minutes, said).value == 40, said
    for said in ("2027年2月10日。", "二零二七年二月十日。", "２０２７年２月１０日"):
        assert answers.parse_date(said, TODAY, "only").value == "2027-02-10", said
    assert answers.parse_date("十一月二十日。", TODAY).value == "2026-11-20"
