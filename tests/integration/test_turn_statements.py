"""What one answer costs the database, counted over a whole checklist on both stores.

On PostgreSQL every statement is a round trip, and the bot's CPU per answer is mostly
its statements': a column read lazily (the sender's deferred columns), an ORM flush of
an unchanged row or a query added to the answer path shows here as one more statement
on some step, whichever question it is and whatever the answer.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from store.db import is_sqlite
from tests.integration.chat_support import chat_with_visit, walk_checklist

# the sender; the state with the answer (one statement on PostgreSQL); the reply with
# the message's dedupe row (likewise). SQLite writes each on its own and begins the
# transaction with a statement of its own.
ANSWER_STATEMENTS = {"postgresql": 3, "sqlite": 6}


def test_every_answer_is_a_handful_of_statements(engine: Engine, db_url: str,
                                                  sessions: sessionmaker[Session]) -> None:
    c, w = chat_with_visit(sessions)
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
        walk_checklist(c, w.visitor)
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(sessions, "before_flush", on_flush)
    store = "sqlite" if is_sqlite(db_url) else "postgresql"
    numbers = sorted(turns)
    # the list, the start and the mode (which also writes the visit), the date likewise;
    # the last turn files the visit
    answers = {n: turns[n] for n in numbers[4:-1]}
    assert len(answers) >= 20
    flushed = {n: [x for x in s if x.startswith("flush")] for n, s in answers.items()}
    assert not any(flushed.values()), flushed
    over = {n: [x[:100] for x in s] for n, s in answers.items()
            if len(s) > ANSWER_STATEMENTS[store]}
    assert not over, over
    # nor is the sender's sealed phone or ID number opened to answer a question
    sealed = {n: [x[:100] for x in s if "people.phone" in x or "people.id_number" in x]
              for n, s in answers.items()}
    assert not any(sealed.values()), sealed
