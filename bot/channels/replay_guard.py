"""The callback replay guard: each signed (timestamp, nonce) is served once, everywhere.

A genuine callback's query string sits in every proxy's access log; within the
timestamp window anyone holding it could send it again. The pairs already served live
in the store (`callback_nonces`, unique per platform, timestamp and nonce), so the guard
holds across worker processes, hosts and restarts: the insert that claims a pair is
atomic, and the loser of two identical requests is refused. Rows older than twice the
window (clocks of several hosts may differ by a window) are pruned now and then.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from store.db import DatabaseUnavailable
from store.models import CallbackNonce
from store.upsert import insert_ignore

log = logging.getLogger(__name__)
PRUNE_EVERY_SECONDS = 60.0


class ReplayGuard(Protocol):
    def claim(self, timestamp: str, nonce: str) -> bool:
        """True the first time a pair is claimed; False for a replay."""

    def release(self, timestamp: str, nonce: str) -> None:
        """Forget a claimed pair whose request failed (5xx), so the platform's retry is served."""


class StoreReplayGuard:
    def __init__(self, sessions: sessionmaker[Session], platform: str, window: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.sessions = sessions
        self.platform = platform
        self.window = window
        self.clock = clock
        self._pruned_at = 0.0
        self._lock = threading.Lock()

    def claim(self, timestamp: str, nonce: str) -> bool:
        now = self.clock()
        with self.sessions() as s:
            fresh = insert_ignore(s, CallbackNonce.__table__, {
                "platform": self.platform, "timestamp": timestamp[:16], "nonce": nonce[:64],
                "seen_at": datetime.fromtimestamp(now, UTC)},
                ["platform", "timestamp", "nonce"])
            if self._prune_due(now):
                s.execute(delete(CallbackNonce).where(
                    CallbackNonce.seen_at < datetime.fromtimestamp(now, UTC)
                    - timedelta(seconds=2 * self.window)))
            s.commit()
        return bool(fresh)

    def release(self, timestamp: str, nonce: str) -> None:
        with self.sessions() as s:
            s.execute(delete(CallbackNonce).where(
                CallbackNonce.platform == self.platform,
                CallbackNonce.timestamp == timestamp[:16], CallbackNonce.nonce == nonce[:64]))
            s.commit()

    def _prune_due(self, now: float) -> bool:
        with self._lock:
            if now - self._pruned_at < PRUNE_EVERY_SECONDS:
                return False
            self._pruned_at = now
            return True


class MemoryReplayGuard:
    """One process's memory: for an endpoint without a store (tests, a single process)."""

    def __init__(self, window: float, clock: Callable[[], float] = time.time,
                 max_items: int = 100_000) -> None:
        self.window = window
        self.clock = clock
        self.max_items = max_items
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def claim(self, timestamp: str, nonce: str) -> bool:
        now = self.clock()
        with self._lock:
            if (timestamp, nonce) in self._seen:
                return False
            self._seen[(timestamp, nonce)] = now
            # insertion order is time order: drop the expired (or the oldest) from the front
            while self._seen:
                key, at = next(iter(self._seen.items()))
                if at >= now - 2 * self.window and len(self._seen) <= self.max_items:
                    break
                del self._seen[key]
            return True

    def release(self, timestamp: str, nonce: str) -> None:
        with self._lock:
            self._seen.pop((timestamp, nonce), None)


def guard_for(core: Any, platform: str, window: float,
              clock: Callable[[], float] = time.time) -> ReplayGuard:
    """The store's guard when the core has a store (always, in `visitbot run`)."""
    sessions = getattr(core, "sessions", None)
    if isinstance(sessions, sessionmaker):
        return StoreReplayGuard(sessions, platform, window, clock)
    return MemoryReplayGuard(window, clock)


async def claim(guard: ReplayGuard, timestamp: str, nonce: str) -> bool:
    """`guard.claim` off the event loop; a store that does not answer is DatabaseUnavailable
    (503: the platform sends the callback again later)."""
    try:
        return await asyncio.to_thread(guard.claim, timestamp, nonce)
    except DBAPIError as exc:
        raise DatabaseUnavailable(str(exc.orig).splitlines()[0] if exc.orig else str(exc)
                                  ) from None


async def release(guard: ReplayGuard, timestamp: str, nonce: str) -> None:
    try:
        await asyncio.to_thread(guard.release, timestamp, nonce)
    except DBAPIError as exc:
        # the platform's retry of this request will be refused as a replay
        log.error("could not release callback nonce after a failure: %s", exc.orig)
