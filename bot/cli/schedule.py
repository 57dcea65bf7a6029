"""`visitbot tick | dispatch | simulate | campaign start`: the scheduler from the shell."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

import click

from bot.cli.app import cli_sessions, county_tz


def parse_now(value: str | None) -> datetime:
    """ISO date-time; without a zone it is in the configured time zone; None is the
    real now."""
    if not value:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date-time like 2026-12-01T08:00"
                                 ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=county_tz())


@click.command("tick")
@click.option("--now", "now_", default=None,
              help="Simulated clock, e.g. 2026-12-01T08:00 (in VISITBOT_TIMEZONE if no zone).")
def tick_cmd(now_: str | None) -> None:
    """Plan due visits and write reminders and escalations (idempotent)."""
    from scheduler.tick import tick

    stats = tick(cli_sessions(), parse_now(now_), tz=county_tz())
    click.echo(f"{stats.today}：新计划探访 {stats.plan.planned} 次，节日探访 "
               f"{stats.holiday_visits} 次，提醒 {stats.reminders.messages} 条，督办 "
               f"{stats.escalations.messages} 条；取消 {stats.plan.cancelled}，"
               f"转交 {stats.plan.moved}，逾期关闭 {stats.plan.missed}。")
    if stats.unloadable:
        from conversations.text import render

        click.secho(render("tick_unloadable", problems=stats.unloadable), fg="red", err=True)


@click.command("dispatch")
@click.option("--once", is_flag=True, help="Send what is due now, then stop.")
@click.option("--channel", "channels", multiple=True, default=("console",), show_default=True,
              type=click.Choice(["console", "telegram", "wechat", "wecom"]))
def dispatch_cmd(once: bool, channels: tuple[str, ...]) -> None:
    """Deliver outbox messages through the channels."""
    from bot.settings import load_settings
    from bot.wiring import channels_for
    from scheduler.dispatch import Dispatcher, drain
    from store.outbox_delivery import failed_count

    sessions = cli_sessions()
    settings = click.get_current_context().obj.get("settings") or load_settings()
    chans = channels_for(settings, list(channels), sessions)
    if once:
        sent = drain(sessions, chans)
        with sessions() as s:
            failed = failed_count(s)
        click.echo(f"已发送 {sent} 条；投递失败累计 {failed} 条。")
        return
    dispatcher = Dispatcher(sessions, chans, worker_id=f"{os.uname().nodename}:{os.getpid()}")

    async def forever() -> None:
        stop = asyncio.Event()
        await dispatcher.run_forever(stop)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(forever())


@click.command("simulate")
@click.option("--year", type=int, default=2026, show_default=True)
@click.option("--days", type=int, default=365, show_default=True)
@click.option("--roster", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A roster file to import; default: a synthetic roster per policy.")
@click.option("--policy", "policy_default", default="linzi-2022", show_default=True,
              help="Policy for roster rows that name none.")
@click.option("--subjects", type=int, default=20, show_default=True,
              help="Synthetic roster: subjects per policy.")
@click.option("--diligence", type=float, default=0.8, show_default=True,
              help="Share of subjects whose visits are filed on the due day.")
def simulate_cmd(year: int, days: int, roster: str | None, policy_default: str,
                 subjects: int, diligence: float) -> None:
    """Play a year day by day on a temporary SQLite database and print what it produced."""
    from scheduler.simulate import bind_everyone, run_year, synthetic_roster
    from store.db import make_engine, session_factory
    from store.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'simulate.db'}"
        upgrade(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        if roster:
            from scheduler.policy_book import PolicyBook
            from store.roster.importer import import_roster

            report = import_roster(sessions, roster, policy_default=policy_default,
                                   skip_invalid=True, today=date(year - 1, 12, 1),
                                   policies=PolicyBook())
            click.echo(report.summary())
        else:
            synthetic_roster(sessions, per_policy=subjects, start=date(year - 1, 12, 1))
        bind_everyone(sessions)
        with click.progressbar(length=days, label="模拟中") as bar:
            summary = run_year(sessions, date(year, 1, 1), days, diligence,
                               progress=lambda _d: bar.update(1))
        engine.dispose()
    for line in summary.lines():
        click.echo(line)


@click.group("campaign")
def campaign() -> None:
    """Special visit campaigns (寒潮, 汛期 …)."""


@campaign.command("start")
@click.argument("kind")
@click.option("--township", required=True, help="Township (乡镇/街道) name.")
@click.option("--days", type=int, default=3, show_default=True)
@click.option("--now", "now_", default=None)
def campaign_start(kind: str, township: str, days: int, now_: str | None) -> None:
    """Ask for an in-person visit to every key subject under TOWNSHIP within DAYS days."""
    from scheduler.events import CampaignError, start_campaign, township_id

    sessions = cli_sessions()
    now = parse_now(now_)
    with sessions() as s:
        try:
            jid = township_id(s, township)
        except CampaignError as exc:
            raise click.ClickException(str(exc)) from None
        n = start_campaign(s, kind, jid, days, now.astimezone(county_tz()).date(), now)
        s.commit()
    click.echo(f"已为 {township} 的重点对象安排 {n} 次“{kind}”上门探访，{days} 天内完成。")


COMMANDS: list[click.Command] = [tick_cmd, dispatch_cmd, simulate_cmd, campaign]
