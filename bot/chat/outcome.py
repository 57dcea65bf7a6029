"""What a chat turn comes to, and the keys it is written under: the dedupe key of the
message, the outbox keys of its replies, the replies joined for a platform that takes one
message in its webhook's answer."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from conversations.messages import Incoming, Outgoing

KEY_MAX = 160  # outbox.idempotency_key


def seen_key(incoming: Incoming) -> dict[str, str]:
    """The dedupe key: platform, the sender's account and the platform's message id (a
    MsgId is unique only per account)."""
    return {"platform": incoming.address.platform,
            "account": incoming.address.external_id[:128],
            "message_key": incoming.msg_id[:128]}


def reply_key(incoming: Incoming, i: int) -> str:
    """The outbox key of the i-th reply to a message: per account too, or two people's
    equal message ids would share (and lose) one reply."""
    addr = incoming.address
    key = f"reply:{addr.platform}:{addr.external_id}:{incoming.msg_id}:{i}"
    if len(key) <= KEY_MAX:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"reply:{addr.platform}:{digest}:{i}"


@dataclass(frozen=True)
class Handled:
    inline: Outgoing | None
    duplicate: bool
    replies: tuple[Outgoing, ...] = ()


# Platforms whose webhook answer carries one message of up to this many characters.
JOINED_LIMITS = {"telegram": 4096}
# extras a joined text may carry without meaning anything for the message it joins
# ("listed": its text already names its choices); any other says something about it
PLAIN_META = frozenset({"listed"})


def join_leading_text(replies: list[Outgoing], limit: int) -> list[Outgoing]:
    """The replies with each plain text (no buttons, file, template or platform extras)
    joined to the message after it, while the two fit in one message."""
    out: list[Outgoing] = []
    for reply in replies:
        prev = out[-1] if out else None
        if (prev is not None and not prev.choices and prev.attachment is None
                and prev.template is None and set(prev.meta) <= PLAIN_META
                and not prev.fields
                and reply.attachment is None
                and len(prev.text) + 2 + len(reply.text) <= limit):
            out[-1] = replace(reply, text=f"{prev.text}\n\n{reply.text}")
        else:
            out.append(reply)
    return out
