"""`visitbot report …` and `visitbot dashboard login`: official forms and summaries."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy.orm import Session, sessionmaker

from store.reports.period import Month, today_in


def _sessions() -> tuple[sessionmaker[Session], str]:
    from store.db import DatabaseUnavailable, check_connection, make_engine, session_factory

    obj = click.get_current_context().obj
    engine = make_engine(obj["database_url"])
    try:
        check_connection(engine)
    except DatabaseUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    settings = obj.get("settings")
    return session_factory(engine), getattr(settings, "timezone", "Asia/Shanghai")


def _month(text: str | None, tz: str) -> Month:
    try:
        return Month.parse(text) if text else Month.of(today_in(tz)).shift(-1)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _roots(session: Session, township: str | None, jurisdiction: str | None) -> list[int]:
    from store.reports.queries import find_jurisdiction, top_roots

    try:
        if township:
            return [find_jurisdiction(session, township, "township")]
        if jurisdiction:
            return [find_jurisdiction(session, jurisdiction)]
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    roots = top_roots(session)
    if not roots:
        raise click.ClickException("no jurisdictions yet: import a roster first")
    return roots


def _fmt(fmt: str | None, out: Path) -> str:
    chosen = fmt or out.suffix.lstrip(".").lower() or "xlsx"
    if chosen not in ("xlsx", "pdf"):
        raise click.BadParameter(f"format must be xlsx or pdf, not {chosen!r}")
    return chosen


where = [
    click.option("--township", default=None, help="A township (乡镇/街道) by name."),
    click.option("--jurisdiction", default=None, help="Any jurisdiction by name or id."),
]


def _where(f):  # type: ignore[no-untyped-def]
    for opt in reversed(where):
        f = opt(f)
    return f


FMT = click.option("--format", "fmt", type=click.Choice(["xlsx", "pdf"]), default=None,
                   help="Default: from the output file's suffix.")
OUT = click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path),
                   required=True)


@click.group()
def report() -> None:
    """Official record forms, monthly summaries, ledgers (XLSX or PDF)."""


@report.command()
@_where
@click.option("--month", default=None, help="YYYY-MM; default: last month.")
@FMT
@OUT
@click.option("--no-charts", is_flag=True)
def monthly(township: str | None, jurisdiction: str | None, month: str | None, fmt: str | None,
            out: Path, no_charts: bool) -> None:
    """Monthly summary: coverage, timeliness, modes, cases, subjects not visited."""
    from store.reports.monthly import export_monthly

    sessions, tz = _sessions()
    m = _month(month, tz)
    with sessions() as s:
        export_monthly(s, _roots(s, township, jurisdiction), m, _fmt(fmt, out), out, tz=tz,
                       with_charts=not no_charts)
    click.echo(str(out))


@report.command()
@click.option("--visit", "visit_id", type=int, required=True)
@FMT
@OUT
def form(visit_id: int, fmt: str | None, out: Path) -> None:
    """The policy's visit record form of one filed visit."""
    from store.reports.forms import export_visit_form

    sessions, _tz = _sessions()
    with sessions() as s:
        try:
            export_visit_form(s, visit_id, _fmt(fmt, out), out)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(str(out))


@report.command()
@click.option("--id", "id_number", required=True, help="The subject's ID number (身份证号).")
@click.option("--year", type=int, default=None, help="Default: this year.")
@FMT
@OUT
def subject(id_number: str, year: int | None, fmt: str | None, out: Path) -> None:
    """One subject's sheet: anshan's yearly sheet, or the policy's per-subject form."""
    from store.reports.forms import export_subject_form

    sessions, tz = _sessions()
    with sessions() as s:
        try:
            export_subject_form(s, id_number, year or today_in(tz).year, _fmt(fmt, out), out)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(str(out))


@report.command()
@_where
@click.option("--month", default=None, help="YYYY-MM; default: last month.")
@click.option("--annex", type=click.Choice(["1", "2", "3"]), required=True,
              help="1 名单, 2 月汇总表, 3 登记表 (all of the month's visits).")
@FMT
@OUT
def liuzhou(township: str | None, jurisdiction: str | None, month: str | None, annex: str,
            fmt: str | None, out: Path) -> None:
    """柳州 附件1/2/3."""
    from store.reports.lists import export_liuzhou

    sessions, tz = _sessions()
    m = _month(month, tz)
    with sessions() as s:
        export_liuzhou(s, _roots(s, township, jurisdiction), m, int(annex), _fmt(fmt, out), out)
    click.echo(str(out))


@report.command()
@_where
@click.option("--id", "id_number", default=None, help="One subject's 附件1 form instead.")
@FMT
@OUT
def ledger(township: str | None, jurisdiction: str | None, id_number: str | None,
           fmt: str | None, out: Path) -> None:
    """临淄 附件1 信息采集表: a ledger of all subjects, or one subject's form."""
    from store.reports.lists import export_ledger

    sessions, tz = _sessions()
    with sessions() as s:
        try:
            export_ledger(s, _roots(s, township, jurisdiction), _fmt(fmt, out), out,
                          id_number=id_number, as_of=today_in(tz))
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(str(out))


@report.command()
@_where
@click.option("--month", default=None, help="YYYY-MM; default: last month.")
@FMT
@OUT
def timebank(township: str | None, jurisdiction: str | None, month: str | None,
             fmt: str | None, out: Path) -> None:
    """时间银行: hours of service per volunteer in the month."""
    from store.reports.timebank import export_timebank

    sessions, tz = _sessions()
    m = _month(month, tz)
    with sessions() as s:
        export_timebank(s, _roots(s, township, jurisdiction), m, _fmt(fmt, out), out)
    click.echo(str(out))


@report.command()
@_where
@click.option("--month", default=None, help="YYYY-MM; default: last month.")
@click.option("-o", "--output", "out", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="A folder for the PNG files.")
def charts(township: str | None, jurisdiction: str | None, month: str | None, out: Path) -> None:
    """Coverage and case charts as PNG files."""
    from store.reports.charts import write_charts
    from store.reports.queries import load_scope

    sessions, tz = _sessions()
    m = _month(month, tz)
    with sessions() as s:
        for p in write_charts(s, load_scope(s, _roots(s, township, jurisdiction)), m, out, tz):
            click.echo(str(p))


@click.group()
def dashboard() -> None:
    """The county office's read-only web dashboard (served by `visitbot run`)."""


@dashboard.command()
@click.argument("phone")
@click.option("--minutes", type=int, default=15, show_default=True)
def login(phone: str, minutes: int) -> None:
    """Print a one-time login link for the officer with PHONE."""
    from bot.web.dashboard import login_link, officer_by_phone

    settings = click.get_current_context().obj["settings"]
    sessions, _tz = _sessions()
    with sessions() as s:
        try:
            person = officer_by_phone(s, phone)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
    try:
        link = login_link(settings, person.id, datetime.now(UTC), minutes)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{person.name} 的看板登录链接（{minutes} 分钟内有效，仅可使用一次）：")
    click.echo(link)


COMMANDS = [report, dashboard]
