"""The console channel: a terminal (or a scripted transcript) speaks as a person.

It goes through the outbox and the dispatcher like every other channel, so the
demo and the tests exercise the same path as WeChat and Telegram.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO

from conversations.messages import Address, Outgoing, SendResult


@dataclass
class ConsoleChannel:
    name: str = "console"
    rate_per_second: float = 1000.0
    rate_per_recipient: float = 1000.0
    stream: TextIO | None = None
    sent: list[tuple[Address, Outgoing]] = field(default_factory=list)
    echo: bool = True

    async def send(self, address: Address, message: Outgoing) -> SendResult:
        self.sent.append((address, message))
        if self.echo:
            out = self.stream or sys.stdout
            out.write(format_message(address, message) + "\n")
            out.flush()
        return SendResult(ok=True, provider_id=str(len(self.sent)))


def format_message(address: Address, message: Outgoing) -> str:
    lines = [f"── 发给 {address.external_id} ──", message.text]
    if message.choices and not any(c.label in message.text for c in message.choices):
        lines.append("  ".join(f"[{c.label}]" for c in message.choices))
    return "\n".join(lines)
