"""Masking of ID numbers, phones and names for logs, chat text and shared exports.

guangxi-2023 asks that privacy be protected: an ID number or phone must never reach a
log line or a group chat in full. `mask_text` finds them inside free text (in full-width
digits too, grouped with spaces, dots or dashes, glued to a label like "ID", and
landlines with their area code), and
`MaskingFilter` applies it to every log record, so a careless `log.info(row)` is safe.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# Full-width digits and separators fold to ASCII one character for one, so a match found
# in the folded copy has the same span in the original text.
_FOLD = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)}, "\uff38": "X",
                       "\uff58": "x", "\uff0d": "-", "\uff0e": ".", "\u3000": " ",
                       "\uff0b": "+", "\uff08": "(", "\uff09": ")"})
# 17 digits + digit/X, not glued to other letters or digits (order numbers, hashes).
# Up to two more digits are allowed: a 残疾人证号 is the ID number plus category/grade.
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx](?:\d{1,2})?)(?![0-9A-Za-z])")
# An ID number by its shape (region, a 18xx-20xx birth date, sequence, check character),
# even glued to letters (ID110101…) or written in groups (110101 19900307 1234).
_ID_SHAPED = re.compile(
    r"(?<![0-9])([1-9]\d{5})[-. ]?((?:18|19|20)\d{2}(?:0[1-9]|1[0-2])"
    r"(?:0[1-9]|[12]\d|3[01]))[-. ]?(\d{3}[\dXx](?:\d{1,2})?)(?![0-9])")
# Mainland mobiles, optionally +86/86-prefixed, in 3-4-4 groups split by - . or space.
_MOBILE_IN_TEXT = re.compile(
    r"(?<![0-9])((?:\+?86[- ]?)?1[3-9]\d)([-. ]?)(\d{4})([-. ]?)(\d{4})(?![0-9])")
# Landlines: an area code 0xx or 0xxx (maybe in brackets) and a 7- or 8-digit number.
_LANDLINE_IN_TEXT = re.compile(
    r"(?<![0-9])(\(?0\d{2,3}\)?)([- ]?)(\d{3,4})([- ]?)(\d{4})(?![0-9])")


def mask_id(s: str | None) -> str:
    """`110101199003071234` → `1101**********1234`: region and check digits stay readable."""
    if not s:
        return ""
    s = s.strip()
    if len(s) <= 8:
        return "*" * len(s)
    return s[:4] + "*" * (len(s) - 8) + s[-4:]


def mask_phone(s: str | None) -> str:
    """`13812345678` → `138****5678`; landlines keep the area code and the last 4 digits."""
    if not s:
        return ""
    s = s.strip()
    digits = re.sub(r"\D", "", s)
    if len(digits) == 11 and digits.startswith("1"):
        return f"{digits[:3]}****{digits[-4:]}"
    if len(s) <= 4:
        return "*" * len(s)
    keep_head = min(4, max(0, len(s) - 8))
    return s[:keep_head] + "*" * (len(s) - keep_head - 4) + s[-4:]


def mask_name(s: str | None) -> str:
    """`张三丰` → `张*丰`, `张三` → `张*`: enough for a visitor to recognise, not to search."""
    if not s:
        return ""
    s = s.strip()
    if len(s) <= 1:
        return s
    if len(s) == 2:
        return s[0] + "*"
    return s[0] + "*" * (len(s) - 2) + s[-1]


def mask_text(text: str) -> str:
    """Mask every ID number, mobile and landline phone found in free text."""
    if not text:
        return text
    folded = text.translate(_FOLD)
    # IDs first: an ID contains 11-digit runs that would otherwise look like phones.
    found: list[tuple[int, int, str]] = []
    for pattern, masked in ((_ID_IN_TEXT, _mask_id_match), (_ID_SHAPED, _mask_id_match),
                            (_MOBILE_IN_TEXT, _mask_phone_match),
                            (_LANDLINE_IN_TEXT, _mask_phone_match)):
        for m in pattern.finditer(folded):
            if not any(m.start() < end and start < m.end() for start, end, _ in found):
                found.append((m.start(), m.end(), masked(m)))
    if not found:
        return text
    out, at = [], 0
    for start, end, masked in sorted(found):
        out += [text[at:start], masked]
        at = end
    out.append(text[at:])
    return "".join(out)


def _mask_id_match(m: re.Match[str]) -> str:
    return mask_id("".join(m.groups()))


def _mask_phone_match(m: re.Match[str]) -> str:
    head, sep1, middle, sep2, tail = m.groups()
    return f"{head}{sep1}{'*' * len(middle)}{sep2}{tail}"


class MaskingFilter(logging.Filter):
    """Masks ID numbers and phones in every record: message, args and traceback text.

    The message is rendered here (msg % args) and the args dropped, because a phone
    passed as an int argument is only recognisable once formatted.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = f"{record.msg} {record.args!r}"
        record.msg = mask_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            # Formatter reuses exc_text when set, so the traceback is masked too.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def mask_value(value: Any) -> Any:
    """Mask a single value of unknown type (strings only; other types pass through)."""
    return mask_text(value) if isinstance(value, str) else value
