"""The keyword fields of a WeChat template message.

Since 2023-05-04 WeChat shows neither `first` nor `remark` of a template message, and
a keyword value is cut at 20 characters (a line break ends it), per 《关于规范公众号模板
消息的再次公告》. What the reader must see — whom, what, when, where, which case — goes
in keyword1… , each one short; channels put these in `data` (see README, WeChat
templates).
"""

from __future__ import annotations

KEYWORD_MAX = 20


def keywords(*values: str | None) -> dict[str, str]:
    """keyword1, keyword2 … in order, each on one line and at most 20 characters."""
    out: dict[str, str] = {}
    for i, value in enumerate(values, 1):
        text = " ".join(str(value or "").split()) or "—"
        out[f"keyword{i}"] = text if len(text) <= KEYWORD_MAX else text[:KEYWORD_MAX - 1] + "…"
    return out
