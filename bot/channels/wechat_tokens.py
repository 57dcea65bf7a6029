"""Access tokens for the WeChat and WeCom APIs, shared by every process.

A token lives in `channel_tokens`. Refreshing it happens inside a transaction that
locks the row (SELECT … FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises
writers anyway), so of several processes only the first fetches a new token and the
others find it there: WeChat invalidates a token soon after a new one is issued, so
processes that refreshed independently would keep knocking each other's tokens out.

The sync fetch runs in a worker thread (`asyncio.to_thread`) while the row is locked.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from store.base import utcnow
from store.models import ChannelToken
from store.upsert import insert_ignore

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# fetch() → (token, seconds it is valid for); raises TokenError
Fetch = Callable[[], tuple[str, int]]


class TokenError(RuntimeError):
    """The platform would not issue a token (bad secret, IP not allowed, network)."""


class TokenStore:
    def __init__(self, sessions: sessionmaker[Session], name: str, fetch: Fetch, *,
                 margin: timedelta = timedelta(minutes=5),
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.sessions = sessions
        self.name = name
        self.fetch = fetch
        self.margin = margin
        self.clock = clock
        self._value: str | None = None
        self._expires = EPOCH
        self._lock = threading.Lock()
        self.fetches = 0  # how many times this process asked the platform

    def cached(self) -> str | None:
        """The token held in memory if it is still good (no I/O)."""
        if self._value and self._expires - self.clock() > self.margin:
            return self._value
        return None

    def get(self) -> str:
        """A valid token: from memory, from the table, or freshly fetched (blocking)."""
        return self.cached() or self._load(bad=None)

    def replace(self, bad: str) -> str:
        """The platform refused `bad` (40001/42001): a new token, unless one is there."""
        return self._load(bad=bad)

    def _load(self, bad: str | None) -> str:
        with self._lock:
            if bad is None and (value := self.cached()):
                return value
            now = self.clock()
            with self.sessions() as s:
                row = s.get(ChannelToken, self.name)
                if row is not None and self._usable(row, now, bad):
                    return self._keep(row)
                # Create the row if missing, then lock it and look again: another
                # process may have refreshed while we waited for the lock.
                insert_ignore(s, ChannelToken.__table__,
                              {"name": self.name, "value": "", "expires_at": EPOCH}, ["name"])
                row = s.scalars(select(ChannelToken).where(ChannelToken.name == self.name)
                                .with_for_update().execution_options(populate_existing=True)
                                ).one()
                if self._usable(row, now, bad):
                    s.commit()
                    return self._keep(row)
                value, ttl = self.fetch()
                self.fetches += 1
                row.value = value
                row.expires_at = now + timedelta(seconds=max(int(ttl), 60))
                s.commit()
                log.info("new %s access token, valid %ss", self.name, ttl)
                return self._keep(row)

    def _usable(self, row: ChannelToken, now: datetime, bad: str | None) -> bool:
        return bool(row.value) and row.value != bad and row.expires_at - now > self.margin

    def _keep(self, row: ChannelToken) -> str:
        self._value, self._expires = row.value, row.expires_at
        return row.value

    def forget(self) -> None:
        self._value, self._expires = None, EPOCH
