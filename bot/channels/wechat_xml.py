"""WeChat/WeCom callback XML, read safely and written correctly.

Callbacks come from the internet: the body is size-limited by the caller, decoded
leniently (invalid UTF-8 becomes U+FFFD), stripped of characters XML 1.0 forbids
(which make every parser, wechatpy's included, raise) and parsed with defusedxml, which
refuses DOCTYPEs, entities and external references (billion laughs, XXE).
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

# Characters not allowed in XML 1.0 (C0 controls but tab/LF/CR, surrogates, U+FFFE/F).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)
MAX_FIELDS = 64


class BadXml(ValueError):
    """The body is not a WeChat message we can read (malformed, hostile, wrong shape)."""


def clean_text(raw: bytes | str) -> str:
    """Lenient UTF-8 decoding and removal of characters XML 1.0 does not allow."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return _INVALID_XML.sub("", text)


def parse_xml(raw: bytes | str) -> dict[str, str]:
    """The `<xml>` root's children as {tag: text}; raises BadXml for anything else.

    Nested elements (e.g. SendLocationInfo) are flattened one level: their children are
    added under their own tag names if not already present.
    """
    text = _DECLARATION.sub("", clean_text(raw), count=1)
    try:
        root = SafeET.fromstring(text.encode("utf-8"), forbid_dtd=True,
                                 forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError, ValueError) as exc:
        raise BadXml(f"{type(exc).__name__}: {str(exc)[:120]}") from None
    if root.tag != "xml":
        raise BadXml(f"root element is <{root.tag[:32]}>, not <xml>")
    out: dict[str, str] = {}
    for child in list(root)[:MAX_FIELDS]:
        out.setdefault(child.tag, (child.text or "").strip())
        for grandchild in list(child)[:MAX_FIELDS]:
            out.setdefault(grandchild.tag, (grandchild.text or "").strip())
    return out


def cdata(value: str) -> str:
    """A CDATA section holding `value` exactly (a `]]>` inside is split across two)."""
    return "<![CDATA[" + clean_text(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply_xml(to_user: str, from_user: str, content: str, create_time: int) -> str:
    """A passive text reply, as WeChat and WeCom expect it."""
    return (
        "<xml>"
        f"<ToUserName>{cdata(to_user)}</ToUserName>"
        f"<FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{int(create_time)}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(content)}</Content>"
        "</xml>"
    )


def truncate_utf8(text: str, max_bytes: int, ellipsis: str = "…") -> str:
    """`text` cut to at most `max_bytes` UTF-8 bytes, on a character boundary."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    room = max_bytes - len(ellipsis.encode("utf-8"))
    return data[:max(room, 0)].decode("utf-8", errors="ignore") + ellipsis


MIN_LINE_BYTES = 60  # about 20 Chinese characters: enough to recognise an answer


def fit_utf8(text: str, max_bytes: int, *, keep_tail: int = 4, ellipsis: str = "…") -> str:
    """`text` in at most `max_bytes` UTF-8 bytes without losing its end.

    A plain cut would lose what a long message ends with: the review's "回复确认提交"
    instruction and its numbered options. So the longest lines are shortened first, all
    to one width (a long free-text answer shows its beginning and "…"); if that is not
    enough, lines from the middle give way to one "…" line, keeping the first line and
    the last `keep_tail`; only a text whose tail alone is too long is cut."""
    def size(lines: list[str]) -> int:
        return len("\n".join(lines).encode("utf-8"))

    lines = text.split("\n")
    if size(lines) <= max_bytes:
        return text
    widths = [len(line.encode("utf-8")) for line in lines]
    low, high = MIN_LINE_BYTES, max(widths)  # the widest cap that fits, if any
    while low < high:
        cap = (low + high + 1) // 2
        if size(_capped(lines, widths, cap, ellipsis)) <= max_bytes:
            low = cap
        else:
            high = cap - 1
    lines = _capped(lines, widths, low, ellipsis)
    if size(lines) > max_bytes:
        head, tail = lines[:1], lines[1:][-keep_tail:] if keep_tail else []
        middle = lines[1:len(lines) - len(tail)]
        while middle and size([*head, *middle, ellipsis, *tail]) > max_bytes:
            middle.pop()
        lines = [*head, *middle, ellipsis, *tail]
    return truncate_utf8("\n".join(lines), max_bytes, ellipsis)


def _capped(lines: list[str], widths: list[int], cap: int, ellipsis: str) -> list[str]:
    return [truncate_utf8(line, cap, ellipsis) if w > cap else line
            for line, w in zip(lines, widths, strict=True)]


def with_numbered_choices(text: str, labels: list[str]) -> str:
    """The text with its options as numbered lines (unless the text already shows them)."""
    if not labels or re.search(r"(^|\n)\s*1\s*[.、．)）:：]\s*" + re.escape(labels[0]), text):
        return text
    lines = [f"{i}. {label}" for i, label in enumerate(labels, 1)]
    return text.rstrip() + "\n" + "\n".join(lines)
