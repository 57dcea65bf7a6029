"""A chat worker for the crash test (no tests here): visitors answering checklists.

`python -m tests.integration.crash_worker URL ACK_FILE [one|batched]` plays every visitor
with an open visit until all are filed. A message's id is derived from what the store
already holds, so after a crash the same message is sent again (and deduplicated if it was
committed). After the core returns, "ack <visitor> <msg_id>" is appended to ACK_FILE: the
answer was acknowledged to the user. The parent SIGKILLs it at random.

`one`: one message at a time through `Core.handle`. `batched`: every visitor at once on
one event loop through `Core.handle_async` with the reply in the response, as `visitbot
run` serves a webhook, so presses are answered in batches (bot.chat.batch).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

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
            ack(ack_file, vid, msg_id)


def ack(ack_file: str, vid: int | str, msg_id: str) -> None:
    note(ack_file, f"ack {vid} {msg_id}")


def note(ack_file: str, line: str) -> None:
    fd = os.open(ack_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


async def walk_one(core: Core, sessions, vid: int, ext: str, ack_file: str) -> None:  # type: ignore[no-untyped-def]
    while True:
        with sessions() as s:
            if not s.scalar(select(func.count()).select_from(Visit).where(
                    Visit.visitor_id == vid, Visit.status.in_(("planned", "in_progress")))):
                return
            n = s.scalar(select(func.count()).select_from(InboundSeen).where(
                InboundSeen.platform == "console",
                InboundSeen.message_key.like(f"c{vid}-%"))) or 0
            text, choice = next_message(s, ext)
        msg_id = f"c{vid}-{n + 1}"
        await core.handle_async(Incoming(Address("console", ext), msg_id, text=text,
                                         choice=choice), inline=True)
        ack(ack_file, vid, msg_id)


async def batched(url: str, ack_file: str) -> int:
    sessions = session_factory(make_engine(url))
    core = Core(sessions, Settings(database_url=url), async_url=url)
    run = core._run_batch

    async def counted(incomings: list[Incoming]) -> Any:
        results = await run(incomings)
        # how many presses each batch answered, for the test to see batches happened
        note(ack_file + ".batches", str(sum(r is not None for r in results)))
        return results

    core._run_batch = counted  # type: ignore[method-assign]
    with sessions() as s:
        open_ = s.execute(select(Visit.visitor_id, Account.external_id).join(
            Account, Account.person_id == Visit.visitor_id).where(
            Visit.status.in_(("planned", "in_progress"))).distinct()).all()
    await asyncio.gather(*(walk_one(core, sessions, vid, ext, ack_file) for vid, ext in open_))
    await core.aclose()
    return 0


if __name__ == "__main__":
    url, ack_file, mode = (*sys.argv[1:3], sys.argv[3] if len(sys.argv) > 3 else "one")
    raise SystemExit(asyncio.run(batched(url, ack_file)) if mode == "batched"
                     else main(url, ack_file))
