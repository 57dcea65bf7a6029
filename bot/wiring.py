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


def check_definitions() -> None:
    """Load every checklist and policy (packaged and overriding) once: a broken file
    refuses the start, naming the file and the question, instead of failing visitors'
    messages later."""
    from conversations.checklist import ChecklistError, available_checklists, load_checklist
    from scheduler.policy import PolicyError
    from scheduler.policy_load import available_policies, load_policy

    problems: list[str] = []
    for name in available_checklists():
        try:
            load_checklist(name)
        except ChecklistError as exc:
            problems.append(f"checklist {exc}")
    for name in available_policies():
        try:
            load_policy(name)
        except PolicyError as exc:
            problems.append(f"policy {exc}")
    if problems:
        raise StartRefused("cannot start, fix these first:\n  " + "\n  ".join(problems))


def build(settings: Settings, *, demo: bool = False, **core_kwargs: Any) -> App:
    """Everything from settings. Refuses to start (StartRefused) on a missing, malformed
    or wrong ID key (`demo` alone may go on without one configured) and on a checklist or
    policy file that does not load."""
    from store.key_check import KeyCheckError, check_id_key

    engine = make_engine(settings.database_url)
    check_connection(engine)
    sessions = session_factory(engine)
    try:
        check_id_key(sessions, demo=demo)
        check_definitions()
    except (KeyCheckError, StartRefused) as exc:
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
