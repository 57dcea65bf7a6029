"""Fixtures shared by the integration tests (the database ones live in tests/conftest.py)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.integration.chat_support import Chat, chat_with_visit
from tests.world import World


@pytest.fixture
def chat(sessions: sessionmaker[Session]) -> tuple[Chat, World]:
    """The usual world with one planned linzi visit, driven through the chat core. A
    module that needs another shape of `chat` defines its own."""
    return chat_with_visit(sessions)
