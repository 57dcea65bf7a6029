"""What a checklist button says it answers, in its callback data.

Every button the engine shows names the conversation it belongs to (`ref`, the visit),
the question or command it answers and the ask it was shown at (`seq`, bumped each time
the conversation moves on). A press is honoured only when all three are what is being
asked now, so a button left in the chat from another visit, another question or an
earlier round of the same question can never store an answer where it does not belong.

    a:<question>:<option n | done>:<ref>.<seq>     an answer
    c:<command>:<ref>.<seq>                        skip, confirm, cancel, resume …

Telegram carries at most 64 bytes of callback data: `ref` and `seq` are base 36, and a
question id too long to fit is replaced by a short digest of it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

MAX_BYTES = 64  # Telegram's limit on callback_data, the tightest of the platforms
DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_TOKEN = re.compile(r"^([0-9a-z]{1,13})\.([0-9a-z]{1,13})$")


@dataclass(frozen=True)
class Button:
    kind: str  # "a" (an answer) or "c" (a command)
    what: str  # the question as written in the data (see `question_ref`) or the command
    arg: str  # the option's number, "done", or "" for a command
    ref: str  # the conversation
    seq: int  # the ask it was shown at


def base36(n: int) -> str:
    if n < 0:
        raise ValueError("negative")
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = DIGITS[r] + out
        if n == 0:
            return out


def question_ref(qid: str) -> str:
    """The question as a button names it: its id, or a digest when the id is long."""
    if len(qid) <= 40:
        return qid
    return "~" + hashlib.blake2s(qid.encode(), digest_size=6).hexdigest()


def answer(qid: str, arg: str, ref: str, seq: int) -> str:
    return _checked(f"a:{question_ref(qid)}:{arg}:{ref}.{base36(seq)}")


def command(name: str, ref: str, seq: int) -> str:
    return _checked(f"c:{name}:{ref}.{base36(seq)}")


def _checked(data: str) -> str:
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"button data over {MAX_BYTES} bytes: {data!r}")
    return data


def parse(data: str) -> Button | None:
    """The button `data` names, or None for anything that is not an engine button
    (older formats included: they name no conversation, so they are refused)."""
    parts = data.split(":")
    if len(parts) == 4 and parts[0] == "a":
        kind, what, arg, token = parts
    elif len(parts) == 3 and parts[0] == "c":
        kind, what, token = parts
        arg = ""
    else:
        return None
    m = _TOKEN.match(token)
    if not what or m is None:
        return None
    return Button(kind, what, arg, m[1], int(m[2], 36))
