"""One reader for numbers people type or files hold.

`str.isdigit()` is true for '²', '③' and hundreds of other characters that `int()`
refuses (and `int()`/`float()` accept Arabic-Indic and other scripts' digits that no
visitor means). Text is NFKC-normalised first, so full-width digits (１２) count, and then
only ASCII digits do; anything else is "not a number", for the caller to re-prompt.
"""

from __future__ import annotations

import re
import unicodedata

_INT = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)")
# ids, counts and list positions people type: longer runs are not a number anyone means,
# and unbounded ones overflow the database's integer columns
MAX_INT_DIGITS = 9


def normalize(text: str) -> str:
    """NFKC (full-width digits and letters become ASCII), outer spaces trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


def read_int(text: str | None, *, max_digits: int = MAX_INT_DIGITS) -> int | None:
    """A non-negative integer written in ASCII digits (after NFKC), else None."""
    if text is None:
        return None
    t = normalize(text)
    if not _INT.fullmatch(t) or len(t.lstrip("0")) > max_digits:
        return None
    return int(t)


def read_decimal(text: str | None) -> float | None:
    """A plain decimal number (optional sign and fraction, ASCII digits after NFKC);
    no exponents, no 'nan' or 'inf', no underscores."""
    if text is None:
        return None
    t = normalize(text)
    if not _DECIMAL.fullmatch(t):
        return None
    return float(t)


def is_digits(text: str | None) -> bool:
    """Only ASCII digits after NFKC (e.g. an ID number's body), of any length."""
    return text is not None and _INT.fullmatch(normalize(text)) is not None


def read_position(text: str | None, count: int) -> int | None:
    """The 0-based index of item N of a numbered list of `count`, when `text` is N."""
    n = read_int(text)
    return n - 1 if n is not None and 1 <= n <= count else None
