"""One tick: plan visits, holiday visits, reminders, escalations — each idempotent.

Each step is its own transaction. On PostgreSQL a transaction-level advisory lock
makes concurrent ticks (several `visitbot run` processes) take turns, which avoids
lock-order deadlocks between their big statements; correctness does not depend on it:
the unique keys alone make a repeated step write nothing new.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from scheduler.checks import PolicyProblem, unloadable_policies
from scheduler.due import PlanStats, plan_visits, policies_in_use
from scheduler.escalation import EscalationStats, send_escalations
from scheduler.events import plan_holidays
from scheduler.metrics import TICK_SECONDS
from scheduler.reminders import ReminderStats, send_reminders
from scheduler.watch_digest import DigestStats, send_watch_digests

log = logging.getLogger(__name__)

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
TICK_LOCK = 0x76697369  # "visi": the advisory lock key of the tick


@dataclass
class TickStats:
    today: date | None = None
    plan: PlanStats = field(default_factory=PlanStats)
    holiday_visits: int = 0
    reminders: ReminderStats = field(default_factory=ReminderStats)
    escalations: EscalationStats = field(default_factory=EscalationStats)
    watch_digests: DigestStats = field(default_factory=DigestStats)
    # subjects whose policy cannot be loaded: visible, never silently skipped
    unloadable: list[PolicyProblem] = field(default_factory=list)


def _step(sessions: sessionmaker[Session], lock: bool, fn: Callable[[Session], Any]) -> Any:
    with sessions() as s:
        if lock and s.get_bind().dialect.name == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": TICK_LOCK})
        result = fn(s)
        s.commit()
        return result


def tick(session_factory: sessionmaker[Session], now: datetime, *, lock: bool = True,
         tz: ZoneInfo = DEFAULT_TZ) -> TickStats:
    """Everything the clock makes due at `now` (aware); safe to run again or at once."""
    if now.tzinfo is None:
        raise ValueError("tick needs an aware datetime")
    today = now.astimezone(tz).date()
    stats = TickStats(today=today)
    started = time.monotonic()
    with session_factory() as s:
        policies = policies_in_use(s)
        stats.unloadable = unloadable_policies(s)
    for problem in stats.unloadable:
        log.error("%d subjects follow policy %r, which cannot be loaded; they get no visits "
                  "(visitbot doctor): %s", problem.subjects, problem.name, problem.reason)
    stats.plan = _step(session_factory, lock, lambda s: plan_visits(s, today, now, policies))
    stats.holiday_visits = _step(session_factory, lock,
                                 lambda s: plan_holidays(s, today, now, policies))
    stats.reminders = _step(session_factory, lock,
                            lambda s: send_reminders(s, now, today, policies))
    stats.escalations = _step(session_factory, lock,
                              lambda s: send_escalations(s, now, today, policies))
    stats.watch_digests = _step(session_factory, lock,
                                lambda s: send_watch_digests(s, now, policies))
    log.info("tick %s: %d visits planned, %d holiday visits, %d reminders, %d escalations",
             today, stats.plan.planned, stats.holiday_visits, stats.reminders.messages,
             stats.escalations.messages)
    TICK_SECONDS.observe(time.monotonic() - started)
    return stats
