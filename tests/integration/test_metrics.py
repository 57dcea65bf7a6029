"""GET /metrics: outbox depth and oldest age per kind and platform, failures, deliveries
and their delay, alerts by severity — counts only, no personal data."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

from bot.chat.service import Core
from bot.settings import Settings
from bot.web.app import build_app
from conversations.messages import Outgoing, SendResult
from scheduler.dispatch import Dispatcher
from store.base import utcnow
from store.outbox import enqueue
from tests.integration.test_dispatch_support import RecordingChannel


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def _scrape(sessions: sessionmaker[Session]) -> dict[tuple[str, tuple[tuple[str, str], ...]],
                                                     float]:
    app = build_app(Core(sessions, Settings(database_url="sqlite://")),
                    Settings(database_url="sqlite://"))

    async def get() -> str:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as c:
            r = await c.get("/metrics")
            assert r.status_code == 200
            return r.text

    return _samples(asyncio.run(get()))


def test_metrics_show_the_queue_failures_and_deliveries(
        sessions: sessionmaker[Session]) -> None:
    now = utcnow()
    with sessions() as s:
        for i in range(3):
            enqueue(s, key=f"r{i}", platform="telegram", external_id="13912345678",
                    kind="reminder", payload=Outgoing(f"提醒 {i}").to_payload(),
                    not_before=now - timedelta(minutes=5))
        enqueue(s, key="a", platform="telegram", external_id="2", kind="alert",
                payload=Outgoing("预警").to_payload(), priority=0,
                not_before=now - timedelta(minutes=1))
        s.commit()
    before = _scrape(sessions)
    assert before[("visitbot_outbox_depth", (("kind", "reminder"), ("platform", "telegram")))] == 3
    assert before[("visitbot_outbox_oldest_age_seconds",
                   (("kind", "alert"), ("platform", "telegram")))] >= 0
    failures = before.get(("visitbot_send_failures_total",
                           (("final", "false"), ("kind", "alert"), ("platform", "telegram"))),
                          0.0)
    ch = RecordingChannel(script=lambda key, n: SendResult(ok=False, error="HTTP 502")
                          if key == "a" and n == 1 else None)
    asyncio.run(Dispatcher(sessions, {"telegram": ch}, worker_id="m").run_once(now))
    after = _scrape(sessions)
    assert after[("visitbot_send_failures_total",
                  (("final", "false"), ("kind", "alert"), ("platform", "telegram")))] \
        == failures + 1
    # the alert waits for its retry; the reminders behind it on the platform wait too
    assert after[("visitbot_outbox_depth", (("kind", "alert"), ("platform", "telegram")))] == 1
    assert after[("visitbot_outbox_depth", (("kind", "reminder"), ("platform", "telegram")))] \
        == 3
    assert ("visitbot_time_to_delivery_seconds_count", (("kind", "alert"), ("priority", "0"))) \
        not in after or after[("visitbot_time_to_delivery_seconds_count",
                               (("kind", "alert"), ("priority", "0")))] >= 0
    text = "\n".join(f"{k} {v}" for k, v in after.items())
    assert "13912345678" not in text and "提醒" not in text


def test_metrics_only_for_this_host_or_the_token(sessions: sessionmaker[Session]) -> None:
    """Without VISITBOT_METRICS_TOKEN only a scraper on this host is served; with it, the
    bearer token is required from anywhere, and a wrong one is refused."""
    async def get(app, client: tuple[str, int], headers: dict[str, str]) -> httpx.Response:  # type: ignore[no-untyped-def]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=client),
                                     base_url="http://t") as c:
            return await c.get("/metrics", headers=headers)

    open_ = build_app(Core(sessions, Settings(database_url="sqlite://")),
                      Settings(database_url="sqlite://"))
    here, there = ("127.0.0.1", 5000), ("203.0.113.9", 5000)
    assert asyncio.run(get(open_, here, {})).status_code == 200
    far = asyncio.run(get(open_, there, {}))
    assert far.status_code == 403 and "VISITBOT_METRICS_TOKEN" in far.text
    locked = Settings(database_url="sqlite://", metrics_token="s3cret-token")
    app = build_app(Core(sessions, locked), locked)
    for client in (here, there):
        assert asyncio.run(get(app, client, {})).status_code == 401
        assert asyncio.run(get(app, client, {"Authorization": "Bearer wrong"})).status_code == 401
        ok = asyncio.run(get(app, client, {"Authorization": "Bearer s3cret-token"}))
        assert ok.status_code == 200 and "visitbot_outbox_depth" in ok.text
