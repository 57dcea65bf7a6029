"""Every pooled connection busy for the pool's whole timeout: the message is refused as
"database unavailable" (the webhook answers 503 and the platform delivers it again),
never accepted and lost."""

from __future__ import annotations

import pytest

from bot.chat.service import Core
from bot.settings import Settings
from conversations.messages import Address, Incoming
from store.db import DatabaseUnavailable, make_engine, session_factory


@pytest.mark.postgres
def test_a_pool_timeout_is_database_unavailable(pg_url: str) -> None:
    engine = make_engine(pg_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        core = Core(session_factory(engine), Settings(database_url=pg_url))
        held = engine.connect()  # the pool's only connection, busy
        try:
            with pytest.raises(DatabaseUnavailable):
                core.handle(Incoming(Address("console", "x"), "m1", text="帮助"))
        finally:
            held.close()
        handled = core.handle(Incoming(Address("console", "x"), "m1", text="帮助"))
        assert not handled.duplicate, "the refused message was not taken as seen"
    finally:
        engine.dispose()
