"""Where a channel's reading of a platform's queue stands, kept across restarts.

Telegram's getUpdates forgets an update only when it is asked for the updates after it;
a poller that restarts without its offset is sent again everything it had handled but
not yet confirmed. The offset lives here, written after each batch.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from store.models import ChannelCursor
from store.upsert import upsert


def read_cursor(sessions: sessionmaker[Session], name: str) -> int | None:
    with sessions() as s:
        return s.scalar(select(ChannelCursor.position).where(ChannelCursor.name == name))


def write_cursor(sessions: sessionmaker[Session], name: str, position: int,
                 now: datetime) -> None:
    with sessions() as s:
        upsert(s, ChannelCursor.__table__,
               {"name": name, "position": position, "updated_at": now}, ["name"])
        s.commit()
