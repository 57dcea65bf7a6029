"""`visitbot`: the command line that wires the rooms together."""

from __future__ import annotations

import importlib
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from bot.cli.app import build_app
from bot.settings import ConfigError, load_settings
from store.db import DatabaseUnavailable

# Command groups that live beside the rooms they drive.
EXTENSIONS = ("bot.cli.roster", "bot.cli.schedule", "bot.cli.cases", "bot.cli.report",
              "bot.cli.doctor", "bot.cli.onboarding")


@click.group()
@click.option("--database-url", envvar="VISITBOT_DATABASE_URL", default=None,
              help="SQLAlchemy URL; default: a SQLite file visitbot.db here.")
@click.pass_context
def main(ctx: click.Context, database_url: str | None) -> None:
    """visitbot: regular visits to people who live alone and at risk, run in chat."""
    try:
        settings = load_settings(**({"database_url": database_url} if database_url else {}))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    ctx.obj = {"settings": settings, "database_url": settings.database_url}


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(obj: dict) -> None:
    """Bring the database schema to the newest version."""
    from store.migrate import upgrade

    url = obj["database_url"]
    try:
        upgrade(url)
    except DatabaseUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("数据库已升级到最新版本。")


@main.command()
@click.argument("phone")
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the invite as a QR code PNG (WeChat's, else the Telegram link).")
@click.pass_obj
def invite(obj: dict, phone: str, png: Path | None) -> None:
    """Issue a one-time invite code for the person with PHONE: a WeChat QR code and a
    Telegram link where those platforms are configured."""
    from bot.chat.binding import InviteError, invite_by_phone

    app = build_app(obj)
    now = datetime.now(UTC)
    with app.sessions() as s:
        try:
            code, _person = invite_by_phone(s, phone, now, app.settings.invite_ttl_hours)
        except InviteError as exc:
            raise click.ClickException(str(exc)) from None
        s.commit()
    from bot.cli.onboarding import echo_invite

    echo_invite(app.settings, app.sessions, code, png)


@main.command()
@click.option("--as", "phone", required=True, help="The phone number of the person to speak as.")
@click.option("--script", type=click.File("r", encoding="utf-8"), default=None,
              help="A transcript: one message per line, instead of typing.")
@click.pass_obj
def chat(obj: dict, phone: str, script: click.utils.LazyFile | None) -> None:
    """Talk to visitbot from the terminal as the person with PHONE."""
    from bot.cli.console_session import run_chat

    app = build_app(obj)
    lines = script.read().splitlines() if script else None
    sys.exit(run_chat(app, phone, lines))


@main.command()
@click.option("--db", "db_path", default="visitbot-demo.db", show_default=True,
              help="The SQLite file the demo creates afresh.")
@click.option("--quiet", is_flag=True, help="Print only the final record.")
def demo(db_path: str, quiet: bool) -> None:
    """The end-to-end demo on a fresh SQLite file: roster, reminder, checklist, record."""
    from bot.cli.demo import run_demo

    sys.exit(run_demo(Path(db_path), quiet=quiet))


@main.command()
@click.option("--channel", "channels", multiple=True,
              type=click.Choice(["console", "telegram", "wechat", "wecom"]),
              default=("console",), show_default=True)
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
@click.option("--no-scheduler", is_flag=True, help="Serve webhooks only; no tick, no dispatch.")
@click.option("--no-tick", is_flag=True,
              help="Dispatch the outbox but leave the clock to another process (`visitbot "
                   "tick` from cron, or one `run` without this flag).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Processes sharing the port (PostgreSQL; one per core is a good start).")
@click.pass_obj
def run(obj: dict, channels: tuple[str, ...], host: str | None, port: int | None,
        no_scheduler: bool, no_tick: bool, workers: int) -> None:
    """Serve the webhooks and run the scheduler and dispatcher."""
    from bot.web.server import serve

    app = build_app(obj)
    if workers > 1 and app.engine.dialect.name == "sqlite":
        raise click.ClickException("--workers needs PostgreSQL: SQLite takes one writer at a "
                                   "time, so more processes only wait for each other")
    serve(app, list(channels), host=host, port=port, scheduler=not no_scheduler,
          tick=not (no_scheduler or no_tick), workers=workers)


def _register_extensions() -> None:
    for name in EXTENSIONS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        for command in getattr(module, "COMMANDS", []):
            main.add_command(command)


_register_extensions()
