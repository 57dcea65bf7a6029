"""PostgreSQL restarted under load: the webhook answers 503 (so the platform delivers
again) instead of accepting and losing, and recovers by itself when the server is back.

It stops the real server, so it runs only in the full reliability run
(`VISITBOT_RELIABILITY=full`) on a machine where `pg_ctlcluster` manages it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections import Counter

import pytest
from sqlalchemy import func, insert, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from bot.channels.telegram import webhook_routes
from bot.chat.service import Core
from bot.settings import Settings
from store.base import utcnow
from store.db import make_engine, session_factory
from store.models import Account, InboundSeen, Person, Role

pytestmark = pytest.mark.skipif(
    os.environ.get("VISITBOT_RELIABILITY") != "full" or not shutil.which("pg_ctlcluster"),
    reason="stops PostgreSQL: full reliability run only")
SECRET = "restart-secret"


def cluster(action: str) -> None:
    version, name = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True,
                                   check=True).stdout.split()[:2]
    subprocess.run(["pg_ctlcluster", version, name, action], check=True)


def update(i: int) -> dict:
    return {"update_id": 90_000 + i, "message": {
        "message_id": i, "date": int(time.time()), "text": "/help",
        "chat": {"id": 5555, "type": "private"},
        "from": {"id": 5555, "is_bot": False, "first_name": "访"}}}


@pytest.mark.postgres
def test_restart_gives_503_then_recovers(pg_url: str) -> None:
    engine = make_engine(pg_url, pool_size=4)
    sessions = session_factory(engine)
    now = utcnow()
    with engine.begin() as c:
        pid = c.execute(insert(Person).values(name="探访员", created_at=now, updated_at=now)
                        .returning(Person.id)).scalar_one()
        c.execute(insert(Role).values(person_id=pid, role="visitor", on_duty=True))
        c.execute(insert(Account).values(person_id=pid, platform="telegram",
                                         external_id="5555", bound_at=now, free_sent=0))
    settings = Settings(database_url=pg_url, telegram_token="1:x",
                        telegram_base_url="http://127.0.0.1:9/bot",
                        telegram_webhook_secret=SECRET)
    client = TestClient(Starlette(routes=webhook_routes(Core(sessions, settings), settings,
                                                        setup=False)))
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    statuses: Counter[int] = Counter()
    pending: list[int] = []  # what Telegram would deliver again
    try:
        for i in range(5):
            assert client.post("/telegram", json=update(i), headers=headers).status_code == 200
        cluster("stop")
        for i in range(5, 15):
            code = client.post("/telegram", json=update(i), headers=headers).status_code
            statuses[code] += 1
            if code != 200:
                pending.append(i)
    finally:
        cluster("start")
    assert statuses[503] == 10  # refused, not accepted and lost
    deadline = time.monotonic() + 60
    while pending and time.monotonic() < deadline:  # Telegram's redelivery
        i = pending[0]
        if client.post("/telegram", json=update(i), headers=headers).status_code == 200:
            pending.pop(0)
        else:
            time.sleep(0.5)
    assert not pending, "did not recover by itself"
    with sessions() as s:
        seen = s.scalar(select(func.count()).select_from(InboundSeen).where(
            InboundSeen.platform == "telegram"))
    assert seen == 15  # every update processed once
    engine.dispose()
