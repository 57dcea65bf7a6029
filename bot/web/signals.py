"""Remote monitoring (远程监测): signed device signals open cases and ask for a visit now.

A monitoring platform POSTs JSON to /signals with headers
  X-Visitbot-Source: its name (its HMAC key is settings.signal_keys[name])
  X-Visitbot-Timestamp: unix seconds (±5 minutes)
  X-Visitbot-Signature: hex HMAC-SHA256 of "<timestamp>.<raw body>"
Body: {"device_id": "...", "event": "alarm|no_usage|pressed", "detail": "..."}
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from bot.alerts import cases
from bot.channels.wechat_webhook import read_limited
from bot.chat.context import local_date
from bot.settings import Settings
from bot.web.raw_asgi import Unread
from conversations.messages import Choice, Outgoing
from conversations.text import render
from store.base import utcnow
from store.models import (
    Assignment,
    Device,
    InboundSeen,
    Person,
    Subject,
    Visit,
    assignment_current,
)
from store.outbox import enqueue_to_person
from store.upsert import insert_ignore

log = logging.getLogger(__name__)
MAX_BODY = 16 * 1024
SKEW = 300
# device kind → (case kind, severity, label)
SEVERITY = {
    "smoke": ("fire", "emergency", "烟感报警"),
    "call_button": ("emergency_call", "emergency", "紧急呼叫"),
    "water_meter": ("no_activity", "high", "用水异常（长时间无用水）"),
    "power_meter": ("no_activity", "high", "用电异常（长时间无用电）"),
}


@dataclass(frozen=True)
class SignalRisk:
    question_id: str | None
    label: str
    display: str
    severity: str
    kind: str


class SignalRejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def precheck(settings: Settings, source: str, timestamp: str,
             now: float | None = None) -> tuple[SecretStr, int]:
    """What can be checked before the body is read: a known source, a fresh timestamp."""
    key = settings.signal_keys.get(source)
    if key is None:
        raise SignalRejected(401, "unknown source")
    try:
        ts = int(timestamp)
    except ValueError:
        raise SignalRejected(401, "bad timestamp") from None
    if abs((now or time.time()) - ts) > SKEW:
        raise SignalRejected(401, "stale timestamp")
    return key, ts


def normal_signature(signature: str) -> str:
    """The one spelling of a hex signature: the replay key must not differ by letter case
    (eleven case variants of one signal were eleven alerts)."""
    return signature.strip().lower()


def verify(settings: Settings, source: str, timestamp: str, signature: str, body: bytes,
           now: float | None = None) -> None:
    key, ts = precheck(settings, source, timestamp, now)
    expected = hmac.new(key.get_secret_value().encode(), f"{ts}.".encode() + body,
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), normal_signature(signature).encode()):
        raise SignalRejected(401, "bad signature")


def handle_signal(sessions: sessionmaker[Session], settings: Settings, source: str,
                  signature: str, payload: dict[str, object], now: datetime) -> int:
    """Open or add to the case and ask the visitor to go now; returns the case id."""
    device_id = str(payload.get("device_id") or "")
    with sessions() as s:
        if not insert_ignore(s, InboundSeen.__table__, {
                "platform": "signal", "account": source[:128],
                "message_key": f"{source}:{normal_signature(signature)}"[:128],
                "received_at": now}, ["platform", "account", "message_key"]):
            raise SignalRejected(409, "replayed signal")
        device = s.scalars(select(Device).where(Device.source == source,
                                                Device.device_id == device_id)).first()
        if device is None:
            raise SignalRejected(404, "unknown device")
        kind, severity, label = SEVERITY.get(device.kind, ("device", "high", "设备报警"))
        detail = str(payload.get("detail") or payload.get("event") or "")[:200]
        risk = SignalRisk(None, label, detail or label, severity, kind)
        case = cases.flag(s, settings, visit=None, risk=risk, now=now,
                          subject_id=device.subject_id, source="signal")
        _ask_for_visit(s, device.subject_id, label, now, local_date(now, settings))
        s.commit()
        return case.id


def _ask_for_visit(s: Session, subject_id: int, label: str, now: datetime, today: date
                   ) -> None:
    """An extra visit for the device's subject, due `today` (the county's date)."""
    subject = s.get(Subject, subject_id)
    visitor_id = s.scalar(select(Assignment.visitor_id).where(
        Assignment.subject_id == subject_id,
        assignment_current(today)).limit(1))
    if subject is None or visitor_id is None:
        return
    insert_ignore(s, Visit.__table__, {
        "subject_id": subject_id, "visitor_id": visitor_id, "policy": subject.policy,
        "kind": "signal", "reason": label, "due_on": today, "window_opens": today,
        "deadline": today, "required_mode": "in_person", "status": "planned", "created_at": now,
    }, ["subject_id", "kind", "due_on"])
    visit_id = s.scalar(select(Visit.id).where(Visit.subject_id == subject_id,
                                               Visit.kind == "signal", Visit.due_on == today))
    person = s.get(Person, subject_id)
    text = render("bot_signal_visit", name=person.name if person else "", label=label)
    enqueue_to_person(s, person_id=visitor_id, kind="alert", key=f"signal-visit:{visit_id}",
                      payload=Outgoing(text, choices=(Choice(f"start:{visit_id}", "开始记录"),),
                                       template="signal_visit").to_payload())


def signal_routes(sessions: sessionmaker[Session], settings: Settings) -> list[BaseRoute]:
    async def receive(request: Request) -> JSONResponse:
        source = request.headers.get("x-visitbot-source", "")
        signature = request.headers.get("x-visitbot-signature", "")
        timestamp = request.headers.get("x-visitbot-timestamp", "")
        try:
            precheck(settings, source, timestamp)  # before the body is read
            body = await read_limited(request, MAX_BODY)
            verify(settings, source, timestamp, signature, body)
            payload = json.loads(body)
            if not isinstance(payload, dict):
                raise SignalRejected(400, "body must be a JSON object")
            case_id = await asyncio.to_thread(handle_signal, sessions, settings, source,
                                              signature, payload, utcnow())
        except Unread as exc:
            log.warning("signal refused (%s) from source %r", exc.reason, source[:32])
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        except SignalRejected as exc:
            log.warning("signal refused (%s) from source %r", exc.reason, source[:32])
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            log.warning("signal refused (malformed JSON) from source %r", source[:32])
            return JSONResponse({"error": "malformed JSON"}, status_code=400)
        return JSONResponse({"case_id": case_id})

    return [Route("/signals", receive, methods=["POST"])]
