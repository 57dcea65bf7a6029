"""The chat core driven as people drive it (console addresses), for the integration
tests: `Chat` sends a message and returns what the bot wrote back; `chat_with_visit` is
the usual world (tests.world) with one planned linzi visit for its subject."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.chat.service import Core
from bot.settings import Settings
from conversations.messages import Address, Incoming, Outgoing
from store.models import OutboxMessage, Visit
from tests.world import T0, World, build_world


@dataclass
class Chat:
    sessions: sessionmaker[Session]
    core: Core
    now: list = field(default_factory=lambda: [T0])
    n: int = 0

    def say(self, who: int | str, text: str | None = None, choice: str | None = None
            ) -> list[Outgoing]:
        """Send as account p{who} (or a raw external id); what the bot wrote back to it."""
        self.n += 1
        ext = f"p{who}" if isinstance(who, int) else who
        with self.sessions() as s:
            before = s.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc())
                              .limit(1)) or 0
        self.core.handle(Incoming(Address("console", ext), f"m{self.n}", text=text,
                                  choice=choice))
        return self.outbox_to(ext, after=before)

    def outbox_to(self, ext: str, after: int = 0) -> list[Outgoing]:
        with self.sessions() as s:
            rows = s.scalars(select(OutboxMessage).where(
                OutboxMessage.external_id == ext, OutboxMessage.id > after)
                .order_by(OutboxMessage.id)).all()
            return [Outgoing.from_payload(r.payload) for r in rows]


def plan_visit(sessions: sessionmaker[Session], w: World, policy: str = "linzi-2022") -> None:
    """The world's subject owes its visitor one visit (linzi's unless `policy` says),
    due on T0's day."""
    with sessions() as s:
        s.add(Visit(subject_id=w.subject, visitor_id=w.visitor, policy=policy,
                    kind="regular", window_opens=date(2026, 11, 1), due_on=date(2026, 11, 20),
                    deadline=date(2026, 11, 20), status="planned"))
        s.commit()


def chat_with_visit(sessions: sessionmaker[Session], policy: str = "linzi-2022"
                    ) -> tuple[Chat, World]:
    w = build_world(sessions, policy)
    plan_visit(sessions, w, policy)
    c = Chat(sessions, None)  # type: ignore[arg-type]
    c.core = Core(sessions, Settings(database_url="sqlite://"), clock=lambda: c.now[0])
    return c, w


def button(values: list[str], raw: str) -> str | None:
    """The stamped data of the checklist button `raw` ("c:confirm", "a:<qid>:<n>")."""
    return next((v for v in values if v.startswith(raw + ":")), None)


def walk_checklist(c: Chat, visitor: int, risky: str = "gas_safety",
                   say: dict[str, str] | None = None) -> list[Outgoing]:
    """Answer every question with the first choice, the risky one with the worst, and
    the questions named in `say` by typing that text."""
    out = c.say(visitor, "待访")
    out = c.say(visitor, "1")
    for _ in range(80):
        last = out[-1]
        if "已提交" in last.text or "存档" in last.text:
            return out
        values = [ch.value for ch in last.choices]
        if say and last.callback_prefix in say:
            out = c.say(visitor, say[last.callback_prefix])
        elif confirm := button(values, "c:confirm"):
            out = c.say(visitor, choice=confirm)
        elif last.callback_prefix == risky or button(values, f"a:{risky}:1"):
            out = c.say(visitor, choice=[v for v in values if v.startswith("a:")][-1])
        elif any(v.startswith("a:") for v in values):
            first = next(v for v in values if v.startswith("a:"))
            out = c.say(visitor, choice=first)
            done = button([ch.value for ch in out[-1].choices], f"a:{last.callback_prefix}:done")
            if done and first.split(":")[2] == "1":
                out = c.say(visitor, choice=done)
        elif skip := button(values, "c:skip"):
            out = c.say(visitor, choice=skip)
        else:
            out = c.say(visitor, "无")
    raise AssertionError(f"checklist did not finish: {out[-1].text}")
