"""Configuration: environment first, then a TOML file that must be private; secrets
never shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.settings import ConfigError, Settings


def test_private_toml_is_read_and_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    cfg = tmp_path / "visitbot.toml"
    cfg.write_text('database_url = "sqlite:///from-file.db"\n'
                   'telegram_token = "123:SECRET-TOKEN"\nwecom_agent_id = 1000002\n')
    cfg.chmod(0o600)
    monkeypatch.setenv("VISITBOT_CONFIG", str(cfg))
    s = Settings()
    assert s.database_url == "sqlite:///from-file.db" and s.wecom_agent_id == 1000002
    assert s.telegram_token is not None
    assert s.telegram_token.get_secret_value() == "123:SECRET-TOKEN"
    # a secret never appears in the settings' text (logs, tracebacks)
    assert "SECRET-TOKEN" not in repr(s) and "SECRET-TOKEN" not in str(s)
    monkeypatch.setenv("VISITBOT_DATABASE_URL", "sqlite:///from-env.db")
    assert Settings().database_url == "sqlite:///from-env.db"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_readable_config_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           mode: int) -> None:
    cfg = tmp_path / "visitbot.toml"
    cfg.write_text('telegram_token = "123:SECRET-TOKEN"\n')
    cfg.chmod(mode)
    monkeypatch.setenv("VISITBOT_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match="chmod 600") as err:
        Settings()
    assert "SECRET-TOKEN" not in str(err.value)


def test_a_missing_config_file_is_named(monkeypatch: pytest.MonkeyPatch,
                                        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("VISITBOT_CONFIG", "/nonexistent/visitbot.toml")
    with caplog.at_level(logging.DEBUG), pytest.raises(ConfigError, match="does not exist"):
        Settings()
