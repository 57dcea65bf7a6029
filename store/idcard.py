"""Resident ID numbers (公民身份号码, GB 11643-1999): validation, birth date, gender.

An 18-character number: a 6-digit region code, the birth date YYYYMMDD, a 3-digit
sequence (odd for men, even for women) and an ISO 7064 MOD 11-2 check character
(0-9 or X). The roster uses the ID number as the key of a person, so a typo must be
caught at import time, not discovered later as a duplicate person.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from operator import mul

# Weights 2^(17-i) mod 11 for positions 0..16 (ISO 7064 MOD 11-2).
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"  # index: weighted sum mod 11
_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_DIGITS = re.compile(r"[0-9]+")
# Nobody alive was born before this; a 18xx date is almost always a typo.
EARLIEST_BIRTH = date(1890, 1, 1)


class InvalidIdNumber(ValueError):
    """The ID number is malformed; the message says why, in Chinese, for the user."""


@dataclass(frozen=True, slots=True)
class IdInfo:
    number: str  # normalised: upper-case X, no spaces
    birth_date: date
    gender: str  # 男|女
    region: str  # the 6-digit administrative division code


def normalize(raw: str) -> str:
    """Full-width digits (NFKC) read as digits, the final x upper-cased; spaces and
    invisible format characters inside (from copy-paste: zero-width space, BOM) dropped."""
    text = unicodedata.normalize("NFKC", raw)
    return "".join(c for c in text if not c.isspace()
                   and unicodedata.category(c) != "Cf").upper()


def check_char(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not _DIGITS.fullmatch(first17):
        raise ValueError("need exactly 17 digits")
    total = sum(map(mul, map(int, first17), _WEIGHTS))
    return _CHECK[total % 11]


def parse(raw: str, *, today: date | None = None) -> IdInfo:
    """Validate an ID number and read its facts; raises InvalidIdNumber with the reason."""
    number = normalize(raw)
    if len(number) != 18:
        raise InvalidIdNumber(f"应为18位，实际{len(number)}位")
    if not _SHAPE.fullmatch(number):
        raise InvalidIdNumber("前17位须为数字，末位为数字或X")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber(f"出生日期{number[6:14]}不是有效日期") from None
    if born < EARLIEST_BIRTH or (today is not None and born > today):
        raise InvalidIdNumber(f"出生日期{born.isoformat()}不合理")
    expected = check_char(number[:17])
    if number[17] != expected:
        raise InvalidIdNumber("校验位错误（号码可能有录入错误）")
    gender = "男" if int(number[16]) % 2 == 1 else "女"
    return IdInfo(number=number, birth_date=born, gender=gender, region=number[:6])


def is_valid(raw: str) -> bool:
    try:
        parse(raw)
    except InvalidIdNumber:
        return False
    return True


def birth_date(raw: str) -> date:
    return parse(raw).birth_date


def gender(raw: str) -> str:
    return parse(raw).gender


def make(region: str, born: date, seq: int) -> str:
    """A well-formed ID number (for samples, tests and benchmarks; never a real person's).

    `seq` is the 3-digit sequence; odd for a man, even for a woman.
    """
    if len(region) != 6 or not _DIGITS.fullmatch(region) or not 0 <= seq <= 999:
        raise ValueError("region must be 6 digits and seq 0..999")
    first17 = f"{region}{born:%Y%m%d}{seq:03d}"
    return first17 + check_char(first17)
