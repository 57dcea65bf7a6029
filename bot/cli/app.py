"""The wired application for a command that needs it, with start refusals as CLI errors."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import click

from store.db import DatabaseUnavailable


def build_app(obj: dict[str, Any]) -> Any:
    """Build everything from the settings the CLI loaded; a refused start (wrong ID key,
    broken checklist, database away) is printed as the command's error."""
    from bot.wiring import StartRefused, build

    try:
        return build(obj["settings"])
    except (DatabaseUnavailable, StartRefused) as exc:
        raise click.ClickException(str(exc)) from None


def cli_sessions() -> Any:
    """A session factory on the database the CLI was given, or the command's error."""
    from store.db import check_connection, make_engine, session_factory

    engine = make_engine(click.get_current_context().obj["database_url"])
    try:
        check_connection(engine)
    except DatabaseUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    return session_factory(engine)


def county_tz() -> ZoneInfo:
    """The configured time zone (VISITBOT_TIMEZONE): its calendar day is the one a
    command plans, imports and checks on, as the chat and the scheduler do."""
    from bot.settings import load_settings

    obj = click.get_current_context().obj or {}
    return (obj.get("settings") or load_settings()).tz


def county_today() -> date:
    return datetime.now(UTC).astimezone(county_tz()).date()
