"""A missing, malformed or wrong ID key refuses to start, instead of starting and then
dropping every message from a person whose sealed ID it cannot open (issue #19)."""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.cli.main import main
from bot.settings import load_settings
from bot.wiring import StartRefused, build
from store import sealing
from store.db import make_engine, session_factory
from store.models import KeyCheck, Person

ID = "11010519491231002X"


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Each test may change the key; the run's own key is back afterwards."""
    yield monkeypatch
    monkeypatch.undo()
    sealing._cipher.cache_clear()


def _use(key_env: pytest.MonkeyPatch, key: str | None) -> None:
    if key is None:
        key_env.delenv("VISITBOT_ID_KEY", raising=False)
    else:
        key_env.setenv("VISITBOT_ID_KEY", key)
    sealing._cipher.cache_clear()


def _new_key() -> str:
    return base64.b64encode(os.urandom(64)).decode()


def _start(db_url: str, **kw: bool) -> None:
    app = build(load_settings(database_url=db_url), **kw)
    app.engine.dispose()


def test_right_key_starts_wrong_or_malformed_key_refused(db_url: str,
                                                         key_env: pytest.MonkeyPatch) -> None:
    _start(db_url)  # the first start writes the check value
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        assert s.scalar(select(KeyCheck.sealed)).startswith(sealing.PREFIX)
    engine.dispose()
    _start(db_url)  # the same key again
    for key, says in ((_new_key(), "not the key this database was sealed with"),
                      ("not base64!", "not base64"),
                      (base64.b64encode(b"short").decode(), "must be 64 bytes")):
        _use(key_env, key)
        with pytest.raises(StartRefused, match=says):
            _start(db_url)
        result = CliRunner().invoke(main, ["--database-url", db_url, "run"])
        assert result.exit_code != 0 and says in result.output


def test_a_store_sealed_before_the_check_refuses_another_key(
        db_url: str, key_env: pytest.MonkeyPatch) -> None:
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        s.add(Person(name="甲", id_number=ID, birth_date=date(1949, 12, 31)))
        s.commit()
    engine.dispose()
    _use(key_env, _new_key())
    with pytest.raises(StartRefused, match="not the key"):
        _start(db_url)


def test_no_configured_key_refused_outside_the_demo(db_url: str, tmp_path: Path,
                                                    key_env: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    _use(key_env, None)
    key_env.delenv("VISITBOT_ID_KEY_FILE", raising=False)
    key_env.setenv("HOME", str(tmp_path))
    with pytest.raises(StartRefused, match="VISITBOT_ID_KEY is not set"):
        _start(db_url)
    with caplog.at_level(logging.WARNING, logger="store.sealing"):
        _start(db_url, demo=True)  # the demo makes a key in the home folder, and says so
    assert (tmp_path / ".config" / "visitbot" / "id.key").exists()
    assert "no VISITBOT_ID_KEY configured" in caplog.text
