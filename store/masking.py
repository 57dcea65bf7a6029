"""Masking of ID numbers, phones and names for logs, chat text and shared exports.

guangxi-2023 asks that privacy be protected: an ID number or phone must never reach a
log line or a group chat in full. `mask_text` finds them inside free text, and
`MaskingFilter` applies it to every log record, so a careless `log.info(row)` is safe.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# 17 digits + digit/X, not glued to other letters or digits (order numbers, hashes).
# Up to two more digits are allowed: a 残疾人证号 is the ID number plus category/grade.
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx](?:\d{1,2})?)(?![0-9A-Za-z])")
# Mainland mobiles, optionally +86/86-prefixed and written 138-1234-5678 or 138 1234 5678.
_MOBILE_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z])((?:\+?86[- ]?)?1[3-9]\d)([- ]?)(\d{4})\2(\d{4})(?![0-9A-Za-z])"
)


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
    """Mask every ID number and mobile phone found in free text."""
    if not text:
        return text
    # IDs first: an ID contains 11-digit runs that would otherwise look like phones.
    text = _ID_IN_TEXT.sub(lambda m: mask_id(m.group(1)), text)
    return _MOBILE_IN_TEXT.sub(_mask_mobile_match, text)


def _mask_mobile_match(m: re.Match[str]) -> str:
    sep = m.group(2)
    return f"{m.group(1)}{sep}****{sep}{m.group(4)}"


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
