"""Driving visitbot from a terminal or a transcript, through the real outbox path."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select

from bot.channels.console import ConsoleChannel
from bot.chat.binding import ensure_console_account
from bot.wiring import App
from conversations.messages import Address, Incoming
from scheduler.dispatch import drain
from store.models import Person


def console_address(session, phone: str) -> Address | None:  # type: ignore[no-untyped-def]
    person = session.scalars(select(Person).where(Person.phone == phone)).first()
    if person is None:
        return None
    ensure_console_account(session, person.id, phone, datetime.now(UTC))
    return Address("console", phone)


def say(app: App, address: Address, text: str | None = None, choice: str | None = None
        ) -> None:
    app.core.handle(Incoming(address=address, msg_id=f"c{uuid.uuid4().hex}", text=text,
                             choice=choice))


def deliver(app: App, channel: ConsoleChannel) -> int:
    return drain(app.sessions, {"console": channel})


def run_chat(app: App, phone: str, lines: Iterable[str] | None) -> int:
    with app.sessions() as s:
        address = console_address(s, phone)
        s.commit()
    if address is None:
        print(f"没有电话为 {phone[:3]}****{phone[-4:]} 的人员。", file=sys.stderr)
        return 1
    channel = ConsoleChannel()
    deliver(app, channel)  # anything already waiting for this person
    interactive = lines is None
    source = _stdin_lines() if interactive else iter(lines or [])
    for line in source:
        if line.strip() in ("/quit", "退出"):
            break
        if not interactive:
            print(f">>> {line}")
        say(app, address, text=line)
        deliver(app, channel)
    return 0


def _stdin_lines() -> Iterable[str]:
    print("输入消息与 visitbot 对话，输入“退出”结束。")
    while True:
        try:
            yield input("> ")
        except EOFError:
            return


