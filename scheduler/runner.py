"""APScheduler wiring for `visitbot run`: the tick on a timer, in this process.

Only an in-memory job store: the database, not APScheduler, is what coordinates
several processes (unique keys and an advisory lock make concurrent ticks harmless).
The dispatcher runs beside it as its own asyncio task (`Dispatcher.run_forever`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.orm import Session, sessionmaker

from scheduler.tick import DEFAULT_TZ, tick

log = logging.getLogger(__name__)

TICK_MINUTES = 15


async def _tick_job(sessions: sessionmaker[Session], tz: ZoneInfo) -> None:
    try:
        await asyncio.to_thread(tick, sessions, datetime.now(UTC), tz=tz)
    except Exception:  # the next tick tries again; every step is idempotent
        log.exception("scheduler tick failed")


async def _minute_job(sessions: sessionmaker[Session],
                      job: Callable[[sessionmaker[Session], datetime], object]) -> None:
    try:
        await asyncio.to_thread(job, sessions, datetime.now(UTC))
    except Exception:  # idempotent: the next minute tries again
        log.exception("scheduler job %s failed", getattr(job, "__name__", job))


def start_scheduler(sessions: sessionmaker[Session], settings: Any = None, *,
                    tick_minutes: float | None = None,
                    every_minute: Sequence[Callable[[sessionmaker[Session], datetime], object]]
                    = ()) -> AsyncIOScheduler:
    """Start ticking now and every `tick_minutes` (settings.tick_minutes, default 15);
    `every_minute`: jobs that must not wait for a tick (alerts climbing the tree).

    Must be called inside a running event loop; stop with `.shutdown(wait=False)`.
    """
    minutes = tick_minutes or getattr(settings, "tick_minutes", None) or TICK_MINUTES
    scheduler = AsyncIOScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": AsyncIOExecutor()},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 600},
        timezone=UTC,
    )
    scheduler.add_job(_tick_job, IntervalTrigger(minutes=minutes, timezone=UTC),
                      # the county's date (VISITBOT_TIMEZONE) is the day the tick plans
                      args=[sessions, getattr(settings, "tz", DEFAULT_TZ)],
                      id="tick", name="visitbot tick",
                      next_run_time=datetime.now(UTC))
    for job in every_minute:
        scheduler.add_job(_minute_job, IntervalTrigger(minutes=1, timezone=UTC),
                          args=[sessions, job], id=f"minute:{getattr(job, '__name__', job)}",
                          name=f"visitbot {getattr(job, '__name__', job)}")
    scheduler.start()
    log.info("scheduler started: tick every %s minutes", minutes)
    return scheduler
