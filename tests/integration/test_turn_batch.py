"""Presses answered together (bot.chat.batch) leave exactly what each alone would.

Two identical worlds on two PostgreSQL databases, one core batching presses and one
running each on its own, are walked by the same visitors making the same random choices
(seeded), in waves of concurrent messages: every press of the checklist's buttons, a
typed number, typed words (上一题, 帮助, 跳过, 待访, /visits, 逾期), an old button pressed again, a
risky answer (alert and case), the review
and the filing, and some messages delivered twice at once. The rows the two leave behind
(answers, checklist states and versions, visits, replies, dedupe rows, cases) must be
the same, whatever the policy. A second test races two different presses of one visitor
and a redelivery against a batch and checks what must hold whatever wins.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.chat.service import Core, Handled
from bot.settings import Settings
from conversations.messages import Address, Incoming, Outgoing
from store.db import make_engine, session_factory
from store.models import (
    Account,
    Alert,
    Answer,
    Assignment,
    Case,
    Conversation,
    InboundSeen,
    OutboxMessage,
    Person,
    Role,
    Visit,
)
from tests.conftest import PG_BASE, _drop_pg_db, _new_pg_db, check_outbox_masked
from tests.integration.chat_support import plan_visit
from tests.integration.test_turn_statements import POLICIES, typed_numbers
from tests.world import T0, World, _subject, build_world

pytestmark = pytest.mark.postgres
VISITORS = 10  # the world's two and eight more
WORDS = ["上一题", "帮助", "跳过", "待访", "/visits", "逾期"]  # typed mid-checklist


@pytest.fixture
def two_dbs() -> Iterator[tuple[str, str]]:
    names = [_new_pg_db(), _new_pg_db()]
    try:
        yield f"{PG_BASE}/{names[0]}", f"{PG_BASE}/{names[1]}"
        for name in names:
            check_outbox_masked(f"{PG_BASE}/{name}")
    finally:
        for name in names:
            _drop_pg_db(name)


def crowd(sessions: sessionmaker[Session], policy: str) -> list[str]:
    """The world, with more visitors each assigned a subject that owes a visit; every
    visitor bound on Telegram. Their chat ids."""
    w: World = build_world(sessions, policy, bind_console=False)
    plan_visit(sessions, w, policy)
    pairs = [(w.visitor, w.subject)]
    with sessions() as s:
        for k in range(VISITORS - 1):
            visitor = Person(name=f"探访员{k}", phone=f"1380000{k:04d}",
                             jurisdiction_id=w.village)
            subject = Person(name=f"老人{k}", phone=f"1370000{k:04d}",
                             jurisdiction_id=w.village, birth_date=date(1940, 1, 1 + k))
            s.add_all([visitor, subject])
            s.flush()
            s.add_all([Role(person_id=visitor.id, role="visitor", jurisdiction_id=w.village,
                            on_duty=True),
                       Role(person_id=subject.id, role="subject", jurisdiction_id=w.village)])
            _subject(s, subject.id, policy)
            s.flush()
            s.add(Assignment(subject_id=subject.id, visitor_id=visitor.id,
                             starts_on=date(2026, 1, 1)))
            s.add(Visit(subject_id=subject.id, visitor_id=visitor.id, policy=policy,
                        kind="regular", window_opens=date(2026, 11, 1),
                        due_on=date(2026, 11, 20), deadline=date(2026, 11, 20),
                        status="planned"))
            pairs.append((visitor.id, subject.id))
        for visitor_id, _ in pairs:
            s.add(Account(person_id=visitor_id, platform="telegram",
                          external_id=str(1000 + visitor_id), bound_at=T0, free_sent=0))
        s.commit()
    return [str(1000 + v) for v, _ in pairs]


class Walk:
    """One visitor's walk: what the bot last showed them, and their own dice."""

    def __init__(self, chat: str, seed: int, numbers: dict[str, str]) -> None:
        self.chat = chat
        self.dice = random.Random(seed)
        self.numbers = numbers
        self.n = 0
        self.shown: Outgoing | None = None
        self.older: list[str] = []  # buttons of questions already answered
        self.done = False

    def next(self) -> Incoming:
        """The visitor's next message for what is shown; a fixed sequence of dice."""
        self.n += 1
        key = f"{self.chat}-{self.n}"
        shown = self.shown
        if shown is None:
            return Incoming(Address("telegram", self.chat), key, text="1")
        values = [c.value for c in shown.choices]
        roll = self.dice.random()
        if self.older and roll < 0.08:  # an old question's button, pressed again
            return self.press(key, self.dice.choice(self.older))
        if roll < 0.11:  # typed words of the checklist's own, or of the menu
            return Incoming(Address("telegram", self.chat), key,
                            text=self.dice.choice(WORDS))
        if shown.callback_prefix in self.numbers:
            return Incoming(Address("telegram", self.chat), key,
                            text=self.numbers[shown.callback_prefix])
        confirm = next((v for v in values if v.startswith("c:confirm:")), None)
        if confirm is not None:
            return self.press(key, confirm)
        answers = [v for v in values if v.startswith("a:")]
        if answers:
            return self.press(key, self.dice.choice(answers))
        if values:
            return self.press(key, self.dice.choice(values))
        return Incoming(Address("telegram", self.chat), key, text="无")

    def press(self, key: str, value: str) -> Incoming:
        return Incoming(Address("telegram", self.chat), key, choice=value,
                        meta={"message_id": self.n})

    def saw(self, handled: Handled) -> None:
        out = handled.inline
        if out is None:
            return
        if self.shown is not None and self.shown.choices:
            self.older = [c.value for c in self.shown.choices][:4]
        self.shown = out
        if "已提交存档" in out.text:  # engine_filed; an emergency also says 已提交
            self.done = True


async def walk(core: Core, chats: list[str], policy: str, seed: int,
               midway: list[dict[str, Any]] | None = None) -> int:
    """Every visitor walks until filed (or 100 waves); some messages are delivered twice.
    The number of messages sent; what was stored after a few waves goes to `midway`
    (the visits' mode and date before filing sets them again, say)."""
    numbers = typed_numbers(policy)
    walks = [Walk(chat, seed * 1000 + i, numbers) for i, chat in enumerate(chats)]
    twice = random.Random(seed)
    sent = 0
    for n in range(100):
        if midway is not None and n in (4, 9):
            midway.append(left_behind(core.settings.database_url))
        live = [w for w in walks if not w.done]
        if not live:
            break
        wave: list[tuple[Walk, Incoming]] = []
        for w in live:
            msg = w.next()
            wave.append((w, msg))
            if twice.random() < 0.1:
                wave.append((w, msg))  # the platform's redelivery, at the same moment
        results = await asyncio.gather(*(core.handle_async(m, inline=True) for _, m in wave))
        sent += len(wave)
        firsts: dict[str, Handled] = {}
        for (_, m), h in zip(wave, results, strict=True):
            if not h.duplicate:
                assert m.msg_id not in firsts, f"{m.msg_id} handled twice"
                firsts[m.msg_id] = h
        for (_, m), h in zip(wave, results, strict=True):
            # a redelivery gets the first delivery's reply, never silence
            assert h.inline is not None, (m, h)
            if h.duplicate:
                assert h.inline.text == firsts[m.msg_id].inline.text  # type: ignore[union-attr]
        for w, m in wave:
            if m.msg_id in firsts:
                w.saw(firsts.pop(m.msg_id))
    await core.aclose()
    return sent


def left_behind(url: str) -> dict[str, Any]:
    """What the walk stored, in a form that compares across the two databases (cases,
    alerts and checklists by what they are: their ids follow the concurrent turns'
    order)."""
    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            return {
                "answers": sorted(s.execute(select(
                    Answer.visit_id, Answer.question_id, Answer.value, Answer.display,
                    Answer.severity, Answer.kind)).all(), key=repr),
                "conversations": sorted(s.execute(select(
                    Conversation.visit_id, Conversation.state,
                    Conversation.status, Conversation.version)).all(), key=repr),
                "visits": sorted(s.execute(select(
                    Visit.id, Visit.status, Visit.mode, Visit.visited_on, Visit.seq)).all()),
                "replies": sorted(s.execute(select(
                    OutboxMessage.idempotency_key, OutboxMessage.external_id,
                    OutboxMessage.payload, OutboxMessage.status)
                    .where(OutboxMessage.kind == "reply")).all(), key=repr),
                "seen": sorted(s.execute(select(
                    InboundSeen.platform, InboundSeen.account, InboundSeen.message_key,
                    InboundSeen.reply)).all(), key=repr),
                "cases": sorted(s.execute(select(Case.subject_id, Case.kind, Case.status))
                                .all()),
                "alerts": len(s.scalars(select(Alert.id)).all()),
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize("policy", POLICIES)
def test_a_batched_walk_leaves_what_each_turn_alone_leaves(two_dbs: tuple[str, str],
                                                            policy: str) -> None:
    seed = POLICIES.index(policy) + 7
    outcome = []
    batches: list[int] = []
    for url, batch in zip(two_dbs, (32, 0), strict=True):
        sessions = session_factory(make_engine(url))
        chats = crowd(sessions, policy)
        core = Core(sessions, Settings(database_url=url, chat_burst=0, turn_batch=batch),
                    clock=lambda: T0, async_url=url)
        if batch:
            run = core._run_batch

            async def counted(incomings: list[Incoming], run: Any = run) -> Any:
                results = await run(incomings)
                batches.append(sum(r is not None for r in results))
                return results

            core._run_batch = counted  # type: ignore[method-assign]
        midway: list[dict[str, Any]] = []
        sent = asyncio.run(walk(core, chats, policy, seed, midway))
        outcome.append([*midway, left_behind(url)])
    alone = outcome[1][-1]
    assert sent > VISITORS * 8
    # the batch did answer presses, several in one transaction
    assert sum(batches) > VISITORS * 4 and max(batches) > 1, batches
    # the walk went everywhere: answers, a filed visit, the review
    assert alone["answers"] and any(v[1] == "filed" for v in alone["visits"])
    for when, (b, a) in enumerate(zip(*outcome, strict=True)):
        for what in a:
            assert b[what] == a[what], (when, what)


def test_races_against_a_batch_keep_every_message_once(pg_url: str) -> None:
    """A visit started twice at once, two different presses of one visitor at once, and
    a press delivered twice, among a batch of other visitors' presses: each message is
    committed once (one dedupe row, one reply row), the checklist's version counts
    exactly the steps saved, and its answers are the ones its state holds."""
    sessions = session_factory(make_engine(pg_url))
    chats = crowd(sessions, "linzi-2022")
    core = Core(sessions, Settings(database_url=pg_url, chat_burst=0, turn_batch=32),
                clock=lambda: T0, async_url=pg_url)

    commands: set[str] = set()

    async def scene() -> list[Handled]:
        walks = [Walk(chat, i, {}) for i, chat in enumerate(chats)]
        results: list[Handled] = []
        for _ in range(6):
            wave: list[Incoming] = []
            for w in walks:
                m = w.next()
                wave.append(m)
                if w.shown is None:
                    # the visit started twice at once (two messages): one checklist
                    w.n += 1
                    wave.append(Incoming(Address("telegram", w.chat), f"{w.chat}-{w.n}",
                                         text="1"))
                if w.shown is not None and w.shown.choices:
                    # the same visitor taps another button of the same message at once,
                    # and types something (in the batch, or alone)
                    w.n += 1
                    wave.append(w.press(f"{w.chat}-{w.n}", w.shown.choices[-1].value))
                    w.n += 1
                    wave.append(Incoming(Address("telegram", w.chat), f"{w.chat}-{w.n}",
                                         text="无"))
                wave.append(m)  # and the first is delivered twice
            got = await asyncio.gather(*(core.handle_async(m, inline=True) for m in wave))
            results.extend(got)
            # a global slash command (/visits) mid-checklist replies without a step
            commands.update(m.msg_id for m in wave if (m.text or "").startswith("/"))
            for w in walks:
                if w.shown is None:
                    continue
                # of two buttons of one question pressed at once, one answered it: the
                # other came too late (both read before either was saved)
                moved = [h for m, h in zip(wave, got, strict=True)
                         if m.address.external_id == w.chat and m.choice is not None
                         and not h.duplicate and h.inline is not None
                         and h.inline.meta.get("answered")
                         and h.inline.callback_prefix != w.shown.callback_prefix]
                assert len(moved) <= 1, [h.inline for h in moved]
            for w in walks:
                own = [h for m, h in zip(wave, got, strict=True)
                       if m.address.external_id == w.chat and not h.duplicate]
                w.saw(own[0])
        await core.aclose()
        return results

    results = asyncio.run(scene())
    assert all(h.inline is not None for h in results)
    with sessions() as s:
        # every visit begun once, by its visitor
        begun = s.execute(select(Visit.id, Visit.status, Visit.visitor_id)
                          .where(Visit.status != "planned")).all()
        assert len(begun) == VISITORS and all(v[1] == "in_progress" for v in begun)
        assert len(s.scalars(select(Conversation.id)).all()) == VISITORS
        seen = s.scalars(select(InboundSeen.message_key)).all()
        assert len(seen) == len(set(seen))
        replies = s.scalars(select(OutboxMessage.idempotency_key)
                            .where(OutboxMessage.kind == "reply")).all()
        assert len(replies) == len(set(replies))
        handled = sum(not h.duplicate for h in results)
        assert len(seen) == handled
        chat_of = dict(s.execute(select(Account.person_id, Account.external_id)).all())
        steps = {chat: 0 for chat in chats}
        for key in seen:
            if key not in commands:
                steps[key.rsplit("-", 1)[0]] += 1
        # every handled message after the start was one saved step of the checklist: a
        # step lost to a concurrent one (both read one version) shows here
        offsets = set()
        for conv in s.scalars(select(Conversation)).all():
            stored = dict(s.execute(select(Answer.question_id, Answer.value)
                                    .where(Answer.visit_id == conv.visit_id)).all())
            assert stored == conv.state.get("answers"), conv.visit_id
            offsets.add(conv.version - steps[chat_of[conv.person_id]])
        assert len(offsets) == 1, [(c.visit_id, c.version, steps[chat_of[c.person_id]])
                                   for c in s.scalars(select(Conversation)).all()]


def test_a_press_seen_before_changes_nothing_and_gets_the_first_reply(pg_url: str) -> None:
    """A valid press whose message another process already handled (its dedupe row
    committed, the state not yet read by this one): the batch must not store it again."""
    sessions = session_factory(make_engine(pg_url))
    chats = crowd(sessions, "linzi-2022")
    core = Core(sessions, Settings(database_url=pg_url, chat_burst=0, turn_batch=32),
                clock=lambda: T0, async_url=pg_url)

    async def scene() -> tuple[Handled, Incoming]:
        w = Walk(chats[0], 1, {})
        w.saw(await core.handle_async(w.next(), inline=True))
        press = w.next()
        assert press.choice is not None
        with sessions() as s:
            s.add(InboundSeen(platform="telegram", account=w.chat, message_key=press.msg_id,
                              received_at=T0, reply=Outgoing("先到的回复").to_payload()))
            s.commit()
        handled = await core.handle_async(press, inline=True)
        await core.aclose()
        return handled, press

    with sessions() as s:
        before = s.execute(select(Conversation.version)).all()
    handled, press = asyncio.run(scene())
    assert handled.duplicate and handled.inline is not None
    assert handled.inline.text == "先到的回复"
    with sessions() as s:
        conv = s.scalars(select(Conversation)).one()
        assert conv.version == 1 and not before
        assert not s.scalars(select(Answer.id)).all()
        assert not s.scalars(select(OutboxMessage.id).where(
            OutboxMessage.idempotency_key.contains(press.msg_id))).all()
