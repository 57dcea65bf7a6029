"""Configuration from the environment (VISITBOT_*) or a TOML file (VISITBOT_CONFIG).

Secrets come only from the environment or a file readable by its owner alone.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot import heap

DEFAULT_DB = "sqlite:///visitbot.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VISITBOT_", extra="ignore")

    database_url: str = DEFAULT_DB
    timezone: str = "Asia/Shanghai"
    default_policy: str = "linzi-2022"
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None  # e.g. https://bot.example.cn, for webhooks and links
    invite_ttl_hours: int = 72

    # Telegram
    telegram_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"
    telegram_webhook_secret: SecretStr | None = None
    telegram_mode: str = "webhook"  # webhook|polling

    # WeChat Official Account (公众号)
    wechat_app_id: str | None = None
    wechat_app_secret: SecretStr | None = None
    wechat_token: SecretStr | None = None
    wechat_aes_key: SecretStr | None = None
    wechat_api_base: str = "https://api.weixin.qq.com/cgi-bin/"
    wechat_templates: dict[str, str] = Field(default_factory=dict)  # message kind → template id

    # WeCom (企业微信) self-built app
    wecom_corp_id: str | None = None
    wecom_secret: SecretStr | None = None
    wecom_agent_id: int | None = None
    wecom_token: SecretStr | None = None
    wecom_aes_key: SecretStr | None = None
    wecom_api_base: str = "https://qyapi.weixin.qq.com/cgi-bin/"

    # remote monitoring signals: source name → HMAC key
    signal_keys: dict[str, SecretStr] = Field(default_factory=dict)

    # dashboard sessions
    web_secret: SecretStr | None = None
    # GET /metrics: a bearer token a scraper on another host must send; unset, only this
    # host may scrape
    metrics_token: SecretStr | None = None

    # messages one chat may send (bot.chat.ratelimit): a burst, then a steady rate per
    # second; 0 turns the limit off
    chat_burst: int = 60
    chat_per_second: float = 5.0
    # chat turns one process runs against PostgreSQL at once; the rest wait their turn in
    # arrival order (bench.peer: 2-6 all cut the p99 by about half against no limit, 4
    # the best), and one that waits longer than turn_wait_seconds is refused as the
    # database being unavailable (503: the platform delivers it again)
    turns_at_once: int = Field(default=4, ge=1)
    turn_wait_seconds: float = Field(default=30.0, gt=0)
    # checklist button presses that arrive together are answered together, up to this
    # many in one transaction of two statements (bot.chat.batch); 0: each on its own
    turn_batch: int = Field(default=32, ge=0)
    # while one batch is under way, the next waits up to this long to fill (bench.openloop:
    # the mean batch rose from 13 to 18 of 32, answers/s by a tenth); 0: take what waits
    turn_gather_ms: float = Field(default=2.0, ge=0, le=100)
    # the serving process's youngest generation is collected every this many net new
    # objects, after its start-up heap is frozen out of the collector's walks (bot.heap)
    gc_threshold: int = Field(default=heap.DEFAULT_THRESHOLD, ge=700, le=1_000_000)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: an IANA name such as "
                             "Asia/Shanghai or Asia/Urumqi") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The county's time zone: its calendar day is the day every rule is read on
        (a turn's, the tick's, a roster import's, the doctor's)."""
        return ZoneInfo(self.timezone)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = os.environ.get("VISITBOT_CONFIG")
        if path:
            _check_private(Path(path))
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


class ConfigError(RuntimeError):
    pass


def _check_private(path: Path) -> None:
    if not path.exists():
        raise ConfigError(f"VISITBOT_CONFIG points to {path}, which does not exist")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{path} holds secrets and must be readable by its owner only (chmod 600), "
            f"it is {oct(mode)}"
        )


def load_settings(**overrides: Any) -> Settings:
    """The settings, or ConfigError naming each setting that is wrong and why."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        wrong = "; ".join(f"VISITBOT_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                          for e in exc.errors())
        raise ConfigError(f"configuration is wrong: {wrong}") from None
