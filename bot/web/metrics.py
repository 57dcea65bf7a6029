"""GET /metrics: what an operator graphs and pages on, in Prometheus text format.

Outbox figures are read from the database at each scrape, so every process reports the
same queue: waiting messages and the age of the oldest per kind and platform, messages
given up on, open cases by severity. Counters of this process (scheduler/metrics.py):
failed attempts, deliveries and time to delivery, alerts by severity, tick duration.
No names, phones or ids: counts and ages only.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import scheduler.metrics  # noqa: F401  (registers this process's counters)
from store.base import utcnow
from store.models import Case, OutboxMessage


def outbox_figures(session: Session, now: datetime) -> dict[str, list[tuple[Any, ...]]]:
    o = OutboxMessage
    waiting = session.execute(
        select(o.kind, o.platform, func.count(), func.min(o.created_at))
        .where(o.status.in_(("pending", "sending"))).group_by(o.kind, o.platform)).all()
    failed = session.execute(
        select(o.kind, o.platform, func.count()).where(o.status == "failed")
        .group_by(o.kind, o.platform)).all()
    cases = session.execute(
        select(Case.severity, func.count()).where(Case.status != "resolved")
        .group_by(Case.severity)).all()
    return {
        "waiting": [(k, p, n, max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
                    for k, p, n, oldest in waiting],
        "failed": [tuple(r) for r in failed],
        "cases": [tuple(r) for r in cases],
    }


class OutboxCollector(Collector):
    def __init__(self, figures: dict[str, list[tuple[Any, ...]]]) -> None:
        self.figures = figures

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("visitbot_outbox_depth", "Messages waiting to be sent",
                                  labels=["kind", "platform"])
        age = GaugeMetricFamily("visitbot_outbox_oldest_age_seconds",
                                "Age of the oldest waiting message", labels=["kind", "platform"])
        for kind, platform, n, oldest in self.figures["waiting"]:
            depth.add_metric([kind, platform], n)
            age.add_metric([kind, platform], oldest)
        failed = GaugeMetricFamily("visitbot_outbox_failed", "Messages given up on",
                                   labels=["kind", "platform"])
        for kind, platform, n in self.figures["failed"]:
            failed.add_metric([kind, platform], n)
        cases = GaugeMetricFamily("visitbot_open_cases", "Open risk cases",
                                  labels=["severity"])
        for severity, n in self.figures["cases"]:
            cases.add_metric([severity], n)
        yield from (depth, age, failed, cases)


def render_metrics(sessions: sessionmaker[Session], now: datetime | None = None) -> bytes:
    with sessions() as s:
        figures = outbox_figures(s, now or utcnow())
    scrape = CollectorRegistry()
    scrape.register(OutboxCollector(figures))
    return generate_latest(REGISTRY) + generate_latest(scrape)


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def allowed(request: Request, token: str | None) -> Response | None:
    """None when the scrape may go on, else the refusal. With VISITBOT_METRICS_TOKEN set,
    a bearer token is required; without one, only this host may scrape: case counts by
    severity and queue depths are nobody else's business."""
    if token:
        given = request.headers.get("authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return None
        return Response("metrics need Authorization: Bearer <VISITBOT_METRICS_TOKEN>\n",
                        status_code=401, headers={"WWW-Authenticate": "Bearer"})
    host = request.client.host if request.client else ""
    if host in LOOPBACK:
        return None
    return Response("metrics are served to this host only; set VISITBOT_METRICS_TOKEN to "
                    "let a scraper elsewhere in\n", status_code=403)


def metrics_routes(sessions: sessionmaker[Session], token: str | None = None
                   ) -> list[BaseRoute]:
    async def metrics(request: Request) -> Response:
        refused = allowed(request, token)
        if refused is not None:
            return refused
        body = await asyncio.to_thread(render_metrics, sessions)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics, methods=["GET"])]
