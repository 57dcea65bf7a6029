"""PostgreSQL: a batch of chat turns written in one statement.

Each row is one turn: its conversation's state UPDATE guarded by the version the turn
read and its answer's upsert, or a visit's checklist begun (inserted unless the visit has
one already, and the visit marked in progress), or neither (a turn that only replies);
its reply's outbox row and its dedupe row. The inserts select from the UPDATE's (or the
start's) RETURNING, so a turn whose conversation changed under it, or whose visit another
turn began first, writes nothing at all; which turns were written, and
which of those found their message already seen, comes back for the caller to decide
on. The rows travel as one JSON parameter, so the statement's text never changes and
the server keeps it prepared.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from bot.chat.context import DeferredStart, DeferredStep

_OUTBOX_COLUMNS = ("idempotency_key", "person_id", "platform", "external_id", "kind",
                   "payload", "status", "attempts", "not_before", "created_at", "sent_at",
                   "priority")
# the dedupe row keeps the reply a redelivery gets again: the outbox row's payload
_SEEN_COLUMNS = ("platform", "account", "message_key", "received_at")
_ANSWER_COLUMNS = ("visit_id", "question_id", "value", "display", "severity", "kind",
                   "answered_at")
_TYPES = {"person_id": "int", "attempts": "int", "priority": "int", "visit_id": "int",
          "not_before": "timestamptz", "created_at": "timestamptz", "sent_at": "timestamptz",
          "received_at": "timestamptz", "answered_at": "timestamptz"}
_JSON = frozenset({"payload", "value"})


def _field(group: str, column: str) -> str:
    """One column of a row of the JSON parameter, as its column's type."""
    if column in _JSON:
        return f"r->'{group}'->'{column}'"
    cast = _TYPES.get(column)
    value = f"r->'{group}'->>'{column}'"
    return f"({value})::{cast}" if cast else value


def _columns(group: str, columns: tuple[str, ...]) -> str:
    return ", ".join(_field(group, c) for c in columns)


_WRITE = text(f"""
WITH batch AS (
    SELECT (r->>'i')::int AS i, r FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS r
), saved AS (
    UPDATE conversations AS c
    SET state = batch.r->'state', status = batch.r->>'status', version = c.version + 1,
        updated_at = (batch.r->>'now')::timestamptz
    FROM batch
    WHERE c.id = (batch.r->>'conversation_id')::int
      AND c.version = (batch.r->>'version')::int
    RETURNING batch.i
), started AS (
    INSERT INTO conversations (person_id, visit_id, checklist, state, status, context,
                               version, updated_at)
    SELECT (r->'start'->>'person_id')::int, (r->'start'->>'visit_id')::int,
           r->'start'->>'checklist', r->'start'->'state', r->'start'->>'status',
           r->'start'->'context', 1, (r->>'now')::timestamptz
    FROM batch WHERE r->'start' IS NOT NULL
    ON CONFLICT (visit_id) DO NOTHING
    RETURNING visit_id
), begun AS (
    UPDATE visits AS v
    SET status = 'in_progress', visitor_id = (batch.r->'start'->>'person_id')::int
    FROM batch JOIN started ON started.visit_id = (batch.r->'start'->>'visit_id')::int
    WHERE v.id = started.visit_id
    RETURNING batch.i
), done AS (
    -- the turns whose step was saved or whose start was written, and those with
    -- neither (a list, the help …)
    SELECT i FROM saved
    UNION ALL
    SELECT i FROM begun
    UNION ALL
    SELECT i FROM batch
    WHERE batch.r->>'conversation_id' IS NULL AND batch.r->'start' IS NULL
), answered AS (
    INSERT INTO answers ({", ".join(_ANSWER_COLUMNS)})
    SELECT {_columns("answer", _ANSWER_COLUMNS)}
    FROM batch AS b(i, r) JOIN saved USING (i)
    ON CONFLICT (visit_id, question_id) DO UPDATE SET
        {", ".join(f"{c} = excluded.{c}" for c in _ANSWER_COLUMNS[2:])}
), queued AS (
    INSERT INTO outbox ({", ".join(_OUTBOX_COLUMNS)})
    SELECT {_columns("reply", _OUTBOX_COLUMNS)}
    FROM batch AS b(i, r) JOIN done USING (i)
    ON CONFLICT (idempotency_key) DO NOTHING
), seen AS (
    INSERT INTO inbound_seen ({", ".join(_SEEN_COLUMNS)}, reply)
    SELECT {_columns("seen", _SEEN_COLUMNS)}, r->'reply'->'payload'
    FROM batch AS b(i, r) JOIN done USING (i)
    ON CONFLICT (platform, account, message_key) DO NOTHING
    RETURNING platform, account, message_key
)
SELECT done.i, seen.message_key IS NOT NULL AS first_seen
FROM done
JOIN batch USING (i)
LEFT JOIN seen ON seen.platform = batch.r->'seen'->>'platform'
              AND seen.account = batch.r->'seen'->>'account'
              AND seen.message_key = batch.r->'seen'->>'message_key'
""")


@dataclass(frozen=True)
class Planned:
    """One batched turn's writes: its step (None for a turn that only replies), its
    reply's outbox row, its dedupe row (which keeps the reply's payload)."""

    step: DeferredStep | DeferredStart | None
    now: datetime
    reply: dict[str, Any]
    seen: dict[str, Any]


@dataclass(frozen=True)
class Written:
    # the turns written: those whose conversation was still as they read it, and those
    # without a step
    saved: frozenset[int]
    seen_before: frozenset[int]  # of those, the ones whose message was already handled


def _step(step: DeferredStep | DeferredStart | None) -> dict[str, Any]:
    if isinstance(step, DeferredStep):
        return {"conversation_id": step.conversation_id, "version": step.version,
                "state": step.state, "status": step.status, "answer": step.answer}
    if isinstance(step, DeferredStart):
        return {"start": asdict(step)}
    return {}


def fits(reply: dict[str, Any], seen: dict[str, Any]) -> bool:
    """Whether the statement writes every column these rows carry (a reply with an
    `on_sent` follow-up, say, does not fit, and is written on its own)."""
    return set(reply) <= set(_OUTBOX_COLUMNS) and set(seen) <= set(_SEEN_COLUMNS)


def write_batch(session: Session, planned: list[Planned]) -> Written:
    rows = [{"i": i, "now": p.now, "reply": p.reply, "seen": p.seen} | _step(p.step)
            for i, p in enumerate(planned)]
    # orjson writes dates and times as ISO 8601, as the JSONB columns' own serializer does
    param = orjson.dumps(rows, option=orjson.OPT_NON_STR_KEYS).decode()
    done = session.execute(_WRITE, {"rows": param}).all()
    return Written(saved=frozenset(r[0] for r in done),
                   seen_before=frozenset(r[0] for r in done if not r[1]))
