"""The one place that builds and wires everything from settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.chat.service import Core
from bot.settings import Settings
from conversations.messages import Channel
from store.db import check_connection, is_sqlite, make_engine, session_factory


@dataclass
class App:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    core: Core


class StartRefused(RuntimeError):
    """The process must not start; the message says what to fix."""


def build(settings: Settings, *, demo: bool = False, **core_kwargs: Any) -> App:
    """Everything from settings. Refuses to start (StartRefused) on a missing, malformed
    or wrong ID key (`demo` alone may go on without one configured)."""
    from store.key_check import KeyCheckError, check_id_key

    engine = make_engine(settings.database_url)
    check_connection(engine)
    sessions = session_factory(engine)
    try:
        check_id_key(sessions, demo=demo)
    except KeyCheckError as exc:
        engine.dispose()
        raise StartRefused(str(exc)) from None
    if not is_sqlite(engine):
        core_kwargs.setdefault("async_url", settings.database_url)
    return App(settings, engine, sessions, Core(sessions, settings, **core_kwargs))


def channels_for(settings: Settings, names: list[str], sessions: sessionmaker[Session]
                 ) -> dict[str, Channel]:
    """Instantiate the named platform channels (each module is imported only if used)."""
    out: dict[str, Channel] = {}
    for name in names:
        if name == "console":
            from bot.channels.console import ConsoleChannel

            out[name] = ConsoleChannel()
        elif name == "telegram":
            from bot.channels import telegram

            out[name] = telegram.TelegramChannel(settings)
        elif name == "wechat":
            from bot.channels import wechat

            out[name] = wechat.WeChatChannel(settings, sessions)
        elif name == "wecom":
            from bot.channels import wecom

            out[name] = wecom.WeComChannel(settings, sessions)
        else:
            raise ValueError(f"unknown channel {name!r}")
    return out


def setup_logging(level: int = logging.INFO) -> None:
    from store.masking import MaskingFilter

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # a line per platform API call (with the bot token in its URL) is noise, not a record:
    # outcomes are logged by the dispatcher and the channels themselves
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))
