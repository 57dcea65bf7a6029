"""The plans of the hot statements: `python -m bench.explain --url postgresql+psycopg://…`.

Runs the real code paths on a built, ticked province (bench.province --keep, or the
harness) and, just before each statement they send, has PostgreSQL EXPLAIN ANALYZE that
very statement with its very parameters inside a savepoint that is then rolled back, so
every plan is the one the statement gets in the state it really runs in. Paths: one
checklist answer of a visitor mid-visit (the webhook's transaction), the visitor's list
of due visits (待访), the dispatcher's claim of a batch, and with `--tick` a whole tick
(doubles its work). Prints each statement's first line, its execution time and its plan;
`--json` writes them too.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

EXECUTION = re.compile(r"Execution Time: ([\d.]+) ms")


@contextmanager
def explaining(engine: Engine, into: list[dict[str, Any]], label: str) -> Iterator[None]:
    """EXPLAIN ANALYZE every SELECT/INSERT/UPDATE/DELETE the engine runs meanwhile."""

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        head = statement.lstrip().split(None, 1)[0].upper()
        if executemany or head not in {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"}:
            return
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cur:
            cur.execute("SAVEPOINT vb_explain")
            try:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                plan = "\n".join(r[0] for r in cur.fetchall())
            finally:
                cur.execute("ROLLBACK TO SAVEPOINT vb_explain")
        m = EXECUTION.search(plan)
        into.append({"path": label, "statement": " ".join(statement.split()),
                     "ms": float(m.group(1)) if m else None, "plan": plan})

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", before)


def answer_turn(url: str) -> Callable[[], None]:
    """A visitor mid-checklist answers the question in front of them."""
    from bench import openloop
    from bot.chat.service import Core
    from bot.settings import Settings
    from conversations.messages import Address, Incoming
    from store.db import make_engine, session_factory

    engine = make_engine(url)
    core = Core(session_factory(engine), Settings(database_url=url))
    person, chat = openloop.visitor_chats(url, 1)[0]
    uid = time.time_ns()
    core.handle(Incoming(Address("telegram", str(chat)), f"explain:{uid}", text="1"))
    walk = openloop.walks(url, [person])[person]
    # past the mode and date: a plain question, the common answer
    for i, words in enumerate(walk[:3]):
        core.handle(Incoming(Address("telegram", str(chat)), f"explain:{uid}:{i}", text=words))

    def run() -> None:
        core.handle(Incoming(Address("telegram", str(chat)), f"explain:{uid}:x",
                             text=walk[3]), inline=True)

    run.engine = engine  # type: ignore[attr-defined]
    run.chat = chat  # type: ignore[attr-defined]
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="a built, ticked province on PostgreSQL")
    ap.add_argument("--tick", action="store_true", help="also a whole tick (slow)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from bot.chat.service import Core
    from bot.settings import Settings
    from conversations.messages import Address, Incoming
    from scheduler.tick import tick
    from store.db import session_factory
    from store.outbox_delivery import claim

    plans: list[dict[str, Any]] = []
    run = answer_turn(args.url)
    engine: Engine = run.engine  # type: ignore[attr-defined]
    with explaining(engine, plans, "answer"):
        run()
    core = Core(session_factory(engine), Settings(database_url=args.url))
    with explaining(engine, plans, "visit list (待访)"):
        core.handle(Incoming(Address("telegram", str(run.chat)),  # type: ignore[attr-defined]
                             f"explain:list:{time.time_ns()}", text="/visits"))
    sessions = session_factory(engine)
    with explaining(engine, plans, "dispatcher claim"), sessions() as s:
        # the claim commits (a lease of a second: the rows are free again at once)
        claim(s, worker_id="explain", now=datetime.now(UTC), lease_seconds=1, limit=200,
              platforms=("telegram", "wechat", "wecom", "console"))
    if args.tick:
        with explaining(engine, plans, "tick"):
            tick(sessions, datetime.now(UTC))
    for p in plans:
        print(f"== [{p['path']}] {p['ms']} ms: {p['statement'][:150]}")
        print("\n".join("   " + line for line in p["plan"].splitlines()))
    if args.json:
        args.json.write_text(json.dumps(plans, indent=1, ensure_ascii=False))
    engine.dispose()


if __name__ == "__main__":
    main()
