"""Turning what a tired visitor types (or presses) into a typed answer, or a hint."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from conversations.checklist import Option, Question
from conversations.numbers import normalize, read_decimal, read_position

SPLIT = re.compile(r"[\s,，、;；/]+")
YES = {"是", "对", "有", "需要", "要", "好的", "y", "yes", "1", "是的", "有的", "√"}
NO = {"否", "不", "没有", "无", "不需要", "不要", "n", "no", "2", "不是", "没", "×"}
CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
             "六": 6, "七": 7, "八": 8, "九": 9}
# Common ways of saying a scale point that are not substrings of the option itself.
SCALE_SYNONYMS = {
    "较差": ("差", "不好", "很差", "不太好", "坏"),
    "好": ("良好", "很好", "挺好", "不错"),
    "正常": ("好", "良好", "没问题", "还好"),
    "一般": ("还行", "凑合", "中等", "马马虎虎"),
    "无变化": ("没变化", "没有变化", "不变", "一样", "老样子"),
    "较好": ("好转", "变好", "好些了"),
    "安全": ("没问题", "无隐患"),
    "不安全": ("有隐患", "危险"),
    "转好": ("好转", "好多了", "好些了"),
    "严重": ("加重", "变严重", "更重"),
}
ISO_DAY = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$", re.ASCII)
MONTH_DAY = re.compile(r"^(\d{1,2})[-/.月](\d{1,2})[日号]?$", re.ASCII)
YEAR_MONTH = re.compile(r"^(\d{4})[-/.年](\d{1,2})月?$", re.ASCII)


@dataclass(frozen=True)
class Parsed:
    ok: bool
    value: Any = None
    display: str = ""
    hint: str = ""  # template name of the hint when not ok


def _index(text: str, n: int) -> int | None:
    return read_position(text.strip().rstrip(".、)）"), n)


def match_option(text: str, options: tuple[Option, ...]) -> Option | None:
    t = text.strip()
    i = _index(t, len(options))
    if i is not None:
        return options[i]
    for o in options:
        if t in (o.value, o.label) or t in o.synonyms:
            return o
    for o in options:
        if t in SCALE_SYNONYMS.get(o.value, ()):
            # "好" means 正常 only on a scale that has no 好 of its own: exact wins above
            return o
    # a unique option that contains what was typed, or is contained in it
    hits = [o for o in options if t and (t in o.value or o.value in t)]
    return hits[0] if len(hits) == 1 else None


def parse_single(q: Question, text: str) -> Parsed:
    o = match_option(text, q.options)
    if o is None:
        return Parsed(False, hint="engine_hint_choice")
    return Parsed(True, o.value, o.label)


def parse_multi(q: Question, text: str) -> Parsed:
    whole = match_option(text, q.options)
    tokens = [whole] if whole is not None else [match_option(t, q.options)
                                                for t in SPLIT.split(text.strip()) if t]
    if not tokens or any(t is None for t in tokens):
        return Parsed(False, hint="engine_hint_multi")
    chosen: list[Option] = []
    for o in tokens:
        if o is not None and o not in chosen:
            chosen.append(o)
    if len(chosen) > 1 and any(o.exclusive for o in chosen):
        return Parsed(False, hint="engine_hint_exclusive")
    ordered = [o for o in q.options if o in chosen]
    return Parsed(True, [o.value for o in ordered], "、".join(o.label for o in ordered))


def parse_yesno(text: str) -> Parsed:
    t = text.strip().lower()
    if t in YES:
        return Parsed(True, True, "是")
    if t in NO:
        return Parsed(True, False, "否")
    return Parsed(False, hint="engine_hint_yesno")


def _cn_number(t: str) -> int | None:
    if not t or any(c not in CN_DIGITS and c != "十" for c in t):
        return None
    if t == "十":
        return 10
    if "十" in t:
        tens, _, ones = t.partition("十")
        return (CN_DIGITS.get(tens, 1) if tens else 1) * 10 + (CN_DIGITS.get(ones, 0))
    return CN_DIGITS.get(t) if len(t) == 1 else None


def parse_number(q: Question, text: str) -> Parsed:
    t = text.strip()
    if q.unit and t.endswith(q.unit):
        t = t[:-len(q.unit)].strip()
    t = t.rstrip("人个次度℃元岁")
    value = read_decimal(t)
    if value is None:
        cn = _cn_number(t)
        value = float(cn) if cn is not None else None
    if value is None:
        return Parsed(False, hint="engine_hint_number")
    if q.integer and value != int(value):
        return Parsed(False, hint="engine_hint_integer")
    if (q.min is not None and value < q.min) or (q.max is not None and value > q.max):
        return Parsed(False, hint="engine_hint_range")
    v: int | float = int(value) if q.integer else value
    return Parsed(True, v, f"{v}{q.unit}")


def parse_date(text: str, today: date, future: str = "forbid", max_past_days: int | None = None
               ) -> Parsed:
    t = normalize(text).replace(" ", "")
    rel = {"今天": 0, "今日": 0, "昨天": -1, "昨日": -1, "前天": -2}
    day: date | None = None
    month_only = False
    try:
        if t in rel:
            day = today + timedelta(days=rel[t])
        elif m := ISO_DAY.match(t):
            day = date(int(m[1]), int(m[2]), int(m[3]))
        elif m := MONTH_DAY.match(t):
            day = date(today.year, int(m[1]), int(m[2]))
            if future == "forbid" and day > today:
                day = date(today.year - 1, int(m[1]), int(m[2]))
            elif future == "only" and day < today:
                day = date(today.year + 1, int(m[1]), int(m[2]))
        elif m := YEAR_MONTH.match(t):
            day = date(int(m[1]), int(m[2]), 1)
            month_only = True
    except ValueError:
        return Parsed(False, hint="engine_hint_date")
    if day is None:
        return Parsed(False, hint="engine_hint_date")
    if future == "forbid" and day > today:
        return Parsed(False, hint="engine_hint_date_future")
    if future == "only" and day < today and not (month_only and day.replace(day=1) <= today
                                                  <= (day + timedelta(days=31))):
        return Parsed(False, hint="engine_hint_date_past")
    if max_past_days is not None and (today - day).days > max_past_days:
        return Parsed(False, hint="engine_hint_date_old")
    if month_only:
        return Parsed(True, f"{day.year:04d}-{day.month:02d}", f"{day.year}年{day.month}月")
    return Parsed(True, day.isoformat(), day.isoformat())


def parse_text(q: Question, text: str) -> Parsed:
    t = text.strip()
    if not t:
        return Parsed(False, hint="engine_hint_text")
    if len(t) > q.max_length:
        return Parsed(False, hint="engine_hint_too_long")
    return Parsed(True, t, t)
