"""A chat worker for the crash test (no tests here): visitors answering checklists.

`python -m tests.integration.crash_worker URL ACK_FILE` plays every visitor with an open
visit, one message at a time, until all are filed. A message's id is derived from what the
store already holds, so after a crash the same message is sent again (and deduplicated if
it was committed). After `Core.handle` returns, "ack <visitor> <msg_id>" is appended to
ACK_FILE: the answer was acknowledged to the user. The parent SIGKILLs it at random.
"""

from __future__ import annotations

import os
import sys

from sqlalchemy import func, select

from bot.chat.service import Core
from bot.settings import Settings
from conversations.messages import Address, Incoming, Outgoing
from store.db import make_engine, session_factory
from store.models import Account, InboundSeen, OutboxMessage, Visit


def next_message(s, ext: str) -> tuple[str | None, str | None]:  # type: ignore[no-untyped-def]
    row = s.scalars(select(OutboxMessage).where(OutboxMessage.external_id == ext)
                    .order_by(OutboxMessage.id.desc()).limit(1)).first()
    if row is None:
        return "待访", None
    out = Outgoing.from_payload(row.payload)
    values = [c.value for c in out.choices]
    for v in values:
        if v.startswith("c:confirm:"):
            return None, v
    if any(v.startswith("start:") for v in values):
        return "1", None
    if any(c.label.startswith("✓") for c in out.choices):
        return None, next(v for v in values if v.split(":")[2:3] == ["done"])
    answers = [v for v in values if v.startswith("a:")]
    if answers:
        return None, answers[0]
    for v in values:
        if v.startswith("c:skip:"):
            return None, v
    return ("无" if "记录" not in out.text else "待访"), None


def main(url: str, ack_file: str) -> int:
    sessions = session_factory(make_engine(url))
    core = Core(sessions, Settings(database_url=url))
    while True:
        with sessions() as s:
            open_ = s.execute(select(Visit.visitor_id, Account.external_id).join(
                Account, Account.person_id == Visit.visitor_id).where(
                Visit.status.in_(("planned", "in_progress"))).distinct()).all()
        if not open_:
            return 0
        for vid, ext in open_:
            with sessions() as s:
                n = s.scalar(select(func.count()).select_from(InboundSeen).where(
                    InboundSeen.platform == "console",
                    InboundSeen.message_key.like(f"c{vid}-%"))) or 0
                text, choice = next_message(s, ext)
            msg_id = f"c{vid}-{n + 1}"
            core.handle(Incoming(Address("console", ext), msg_id, text=text, choice=choice))
            fd = os.open(ack_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, f"ack {vid} {msg_id}\n".encode())
            finally:
                os.close(fd)


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:3]))
