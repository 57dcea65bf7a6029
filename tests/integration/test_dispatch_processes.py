"""Real dispatcher processes: shared work on PostgreSQL, and a SIGKILL mid-batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from scheduler.dispatch import drain
from store.db import make_engine, session_factory
from store.models import OutboxMessage
from tests.integration.test_dispatch_support import RecordingChannel, acks, fill_outbox

ROOT = Path(__file__).resolve().parents[2]


def _spawn(url: str, ack: Path, worker: str, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.test_dispatch_support", url, str(ack),
         worker, *extra],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _count(sessions, status: str) -> int:  # type: ignore[no-untyped-def]
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status == status)) or 0


@pytest.mark.postgres
def test_two_dispatcher_processes_send_each_message_once(pg_url: str, tmp_path: Path) -> None:
    engine = make_engine(pg_url)
    sessions = session_factory(engine)
    keys = fill_outbox(sessions, 1500, recipients=300)
    ack, go = tmp_path / "acks.txt", tmp_path / "go"
    procs = [_spawn(pg_url, ack, w, "--go", str(go), "--batch", "40", "--delay", "0.002")
             for w in ("a", "b")]
    time.sleep(0.5)
    go.touch()
    for p in procs:
        assert p.wait(timeout=120) == 0
    lines = acks(ack)
    per_key = Counter(k for k, _ in lines)
    assert set(per_key) == set(keys)
    assert max(per_key.values()) == 1  # nothing twice
    per_worker = Counter(w for _, w in lines)
    assert per_worker["a"] > 0 and per_worker["b"] > 0  # SKIP LOCKED shared the work
    assert _count(sessions, "sent") == len(keys)
    engine.dispose()


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_sigkill_mid_batch_then_restart(store: str, request: pytest.FixtureRequest,
                                        tmp_path: Path) -> None:
    if store == "postgres":
        url = request.getfixturevalue("pg_url")
    else:
        from store.migrate import upgrade

        url = f"sqlite:///{tmp_path / 'k.db'}"
        upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    keys = fill_outbox(sessions, 120, recipients=120)
    ack = tmp_path / "acks.txt"
    # 30 sends are acked; the next ones hang inside the channel, mid-batch (batch 50)
    proc = _spawn(url, ack, "victim", "--block-after", "30", "--batch", "50", "--lease", "30")
    deadline = time.monotonic() + 60
    while _count(sessions, "sent") < 30:
        assert time.monotonic() < deadline, "the victim never got going"
        assert proc.poll() is None
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _count(sessions, "sending") == 20  # claimed, in flight, unacked
    assert len(acks(ack)) == 30
    # the restarted dispatcher takes the dead one's rows once their lease has run out
    channel = RecordingChannel(ack_file=ack, worker="restart")
    later = datetime.now(UTC) + timedelta(seconds=31)
    assert drain(sessions, {"telegram": channel}, later) == 90
    per_key = Counter(k for k, _ in acks(ack))
    assert set(per_key) == set(keys)  # nothing lost
    assert max(per_key.values()) == 1  # nothing acked twice
    assert _count(sessions, "sent") == 120
    engine.dispose()
