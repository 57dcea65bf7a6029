"""What one answer costs the database, counted over a whole checklist on both stores.

On PostgreSQL every statement is a round trip, and the bot's CPU per answer is mostly
its statements': a column read lazily (the sender's deferred columns), an ORM flush of
an unchanged row or a query added to the answer path shows here as one more statement
on some step, whichever question it is and whatever the answer.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from conversations.checklist import load_checklist
from store.db import is_sqlite
from tests.integration.chat_support import chat_with_visit, walk_checklist

# the sender; the state with the answer (one statement on PostgreSQL); the reply with
# the message's dedupe row (likewise). SQLite writes each on its own and begins the
# transaction with a statement of its own.
ANSWER_STATEMENTS = {"postgresql": 3, "sqlite": 6}
POLICIES = ("jingdezhen-2020", "liuzhou-2021", "linzi-2022", "anshan-2020", "guangxi-2023")


def typed_numbers(policy: str) -> dict[str, str]:
    """A number in range for each of the checklist's number questions (typed: they have
    no buttons)."""
    out = {}
    for q in load_checklist(policy).questions:
        if q.type == "number":
            lo, hi = q.min if q.min is not None else 0, q.max if q.max is not None else 100
            out[q.id] = str(int(max(lo, min(hi, 20))))
    return out


@pytest.mark.parametrize("policy", POLICIES)
def test_every_answer_is_a_handful_of_statements(engine: Engine, db_url: str,
                                                  sessions: sessionmaker[Session],
                                                  policy: str) -> None:
    c, w = chat_with_visit(sessions, policy)
    turns: dict[int, list[str]] = defaultdict(list)
    handle = c.core.handle
    inside = [False]

    def counted(*a: object, **k: object) -> object:
        inside[0] = True
        try:
            return handle(*a, **k)  # type: ignore[arg-type]
        finally:
            inside[0] = False

    def on_execute(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if inside[0]:
            turns[c.n].append(" ".join(statement.split()))

    def on_flush(session: Session, *_: object) -> None:
        # the unit of work is a dozen calls deep even when it finds nothing to write: an
        # answer's writes are statements of their own, so the ORM has nothing to flush
        if inside[0]:
            turns[c.n].append("flush " + ", ".join(sorted(
                type(o).__name__ for o in (*session.new, *session.dirty, *session.deleted))))

    c.core.handle = counted  # type: ignore[method-assign]
    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(sessions, "before_flush", on_flush)
    try:
        walk_checklist(c, w.visitor, say=typed_numbers(policy))
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(sessions, "before_flush", on_flush)
    store = "sqlite" if is_sqlite(db_url) else "postgresql"
    numbers = sorted(turns)
    # the list, the start and the mode (which also writes the visit), the date likewise;
    # the last turn files the visit (every policy's checklist opens with mode and date)
    # an answer that flags a risk also files the alert and its case: more to write, and
    # counted by the alert tests; every other answer is held to the count here
    answers = {n: turns[n] for n in numbers[4:-1]
               if not any("alerts" in x or (x.startswith("flush") and "Alert" in x)
                          for x in turns[n])}
    assert len(answers) >= 10
    flushed = {n: [x for x in s if x.startswith("flush")] for n, s in answers.items()}
    assert not any(flushed.values()), flushed
    over = {n: [x[:100] for x in s] for n, s in answers.items()
            if len(s) > ANSWER_STATEMENTS[store]}
    assert not over, over
    # nor is the sender's sealed phone or ID number opened to answer a question
    sealed = {n: [x[:100] for x in s if "people.phone" in x or "people.id_number" in x]
              for n, s in answers.items()}
    assert not any(sealed.values()), sealed
