"""The wired application for a command that needs it, with start refusals as CLI errors."""

from __future__ import annotations

from typing import Any

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
