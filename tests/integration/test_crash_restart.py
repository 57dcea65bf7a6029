"""Kill the chat worker (SIGKILL) at random points while visitors answer checklists,
restart it, and check nothing acknowledged was lost and nothing happened twice.

Short in CI (10 kills); `VISITBOT_RELIABILITY=full` runs 200 kills over more visitors.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench.alert_bench import build
from conversations.checklist import load_checklist
from store.db import make_engine, session_factory
from store.models import Alert, Answer, Conversation, InboundSeen, Visit

ROOT = Path(__file__).resolve().parents[2]
FULL = os.environ.get("VISITBOT_RELIABILITY") == "full"
KILLS, VISITORS = (200, 700) if FULL else (10, 40)


def spawn(url: str, ack: Path, mode: str = "one") -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tests.integration.crash_worker", url,
                             str(ack), mode], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


@pytest.mark.postgres
# one: a message at a time (Core.handle); batched: every visitor at once on the event
# loop, presses answered in batches of one transaction (bot.chat.batch)
@pytest.mark.parametrize("mode", ["one", "batched"])
def test_sigkill_anywhere_loses_nothing_acknowledged(pg_url: str, tmp_path: Path,
                                                     mode: str) -> None:
    engine = make_engine(pg_url)
    sessions = session_factory(engine)
    build(sessions, VISITORS)
    ack = tmp_path / "acks"
    rng = random.Random(20261125)
    kills = 0
    while kills < KILLS:
        p = spawn(pg_url, ack, mode)
        time.sleep(rng.uniform(0.6, 1.6))  # imports take most of a second: then mid-work
        if p.poll() is not None:  # finished everything before the kill
            break
        p.send_signal(signal.SIGKILL)
        p.wait()
        kills += 1
    final = spawn(pg_url, ack, mode)
    assert final.wait(timeout=600) == 0

    acked = [line.split()[2] for line in ack.read_text().splitlines()]
    if mode == "batched":  # presses were answered several to a transaction
        batches = [int(n) for n in Path(f"{ack}.batches").read_text().split()]
        assert max(batches) > 1 and sum(batches) > VISITORS * 5, batches
    with sessions() as s:
        stored = set(s.scalars(select(InboundSeen.message_key).where(
            InboundSeen.platform == "console")))
        # every answer acknowledged to a visitor is in the store
        assert set(acked) <= stored
        visits = s.scalars(select(Visit)).all()
        assert visits and all(v.status == "filed" for v in visits)
        assert not s.scalar(select(func.count()).select_from(Conversation).where(
            Conversation.status.in_(("active", "paused"))))
        required = {q.id for q in load_checklist("linzi-2022").questions
                    if q.required and q.when is None and q.type not in ("photo", "location")}
        for v in visits:
            got = set(s.scalars(select(Answer.question_id).where(Answer.visit_id == v.id)))
            assert required <= got, (v.id, required - got)
        # no alert raised twice for the same answer
        per_answer = Counter(s.execute(select(Alert.visit_id, Alert.question_id)).all())
        assert per_answer and max(per_answer.values()) == 1
    print(f"kills survived: {kills}, acknowledged messages: {len(acked)}, "
          f"stored: {len(stored)}, lost: 0, duplicates: 0")
    engine.dispose()
