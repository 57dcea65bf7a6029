"""What people type or say, tidied before it is read as an answer.

WeChat's speech recognition ends a sentence with "。" and writes numbers as it hears
them ("二零二七年二月十日", "四十分钟"); phones type full-width digits. `tidy` takes off
what cannot be part of an answer (outer spaces and closing punctuation);
`arabic_numerals` writes Chinese numerals as digits, for the
readers of numbers and dates only (elsewhere "一般" or "一样" are words, not numbers).
"""

from __future__ import annotations

import re

# closing punctuation a sentence or a recogniser adds: never part of an answer
_TRAILING = "。．.！!？?，,、；;～~…"
_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
          "七": 7, "八": 8, "九": 9}
_UNIT = {"十": 10, "百": 100, "千": 1000}
_RUN = re.compile(r"[零〇一二两三四五六七八九十百千]+")
_POINT = re.compile(r"(?<=\d)[点.](?=\d)")


def tidy(text: str) -> str:
    """Outer spaces and closing punctuation off: "40分钟。" → "40分钟". Full-width forms
    are folded (NFKC) by the readers of numbers and dates, not here: "⒈" is "1." only
    after NFKC, and is not a number anyone types."""
    return text.strip().rstrip(_TRAILING + " \t\r\n\u3000")


def chinese_number(run: str) -> int | None:
    """The value of a run of Chinese numerals: 二零二七 → 2027 (read digit by digit),
    四十 → 40, 一百零五 → 105, 十二 → 12; None when the units are out of order."""
    if not run or any(c not in _DIGIT and c not in _UNIT for c in run):
        return None
    if not any(c in _UNIT for c in run):
        return int("".join(str(_DIGIT[c]) for c in run))
    total, digit, last_unit = 0, None, 10_000
    for c in run:
        if c in _DIGIT:
            digit = _DIGIT[c]
            continue
        unit = _UNIT[c]
        if unit >= last_unit:
            return None
        total += (1 if digit is None else digit) * unit
        digit, last_unit = None, unit
    return total + (digit or 0)


def arabic_numerals(text: str) -> str:
    """Chinese numerals written as digits, and 点 between digits as a decimal point:
    "二零二七年二月十日" → "2027年2月10日", "三十六点五" → "36.5"."""

    def one(m: re.Match[str]) -> str:
        value = chinese_number(m[0])
        return m[0] if value is None else str(value)

    return _POINT.sub(".", _RUN.sub(one, text))
