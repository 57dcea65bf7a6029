"""`visitbot roster import|export|template`: the roster (名单/台账) on the command line."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from bot.cli.app import county_today
from store.db import DatabaseUnavailable, check_connection, make_engine, session_factory
from store.roster.validate import RowError, error_columns

MAX_SHOWN_ERRORS = 200  # more would scroll away; --errors writes them all to a file
MAX_SHOWN_WARNINGS = 20
FALLBACK_POLICY = "linzi-2022"


@click.group()
def roster() -> None:
    """名单导入、导出与模板（Roster import, export and template）。"""


@roster.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-invalid", is_flag=True,
              help="跳过有错误的行，只导入正确的行（Import the valid rows only）。")
@click.option("--policy", default=None, metavar="NAME",
              help="“适用政策”一列为空时使用的政策，如 linzi-2022（默认取配置）。")
@click.option("--errors", "errors_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="把全部错误另存为 CSV 文件（Write every error to a CSV）。")
def import_cmd(file: Path, skip_invalid: bool, policy: str | None,
               errors_file: Path | None) -> None:
    """导入名单或工作人员表 FILE（.csv 或 .xlsx，按表头自动识别）。"""
    from tqdm import tqdm

    from scheduler.policy_book import PolicyBook
    from store.roster.importer import import_roster
    from store.roster.read import RosterFileError

    policy = policy or _default_policy()
    with _engine() as engine, tqdm(total=0, unit="行", desc="导入", file=sys.stderr,
                                   disable=None, leave=False) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            report = import_roster(session_factory(engine), file, policy_default=policy,
                                   skip_invalid=skip_invalid, progress=progress,
                                   policies=PolicyBook(), today=county_today())
        except RosterFileError as exc:
            raise click.ClickException(str(exc)) from None
        except DBAPIError as exc:
            raise click.ClickException(_db_hint(exc)) from None
    _show_warnings(report.warnings)
    if report.errors:
        if errors_file is not None:
            _write_errors(errors_file, report.errors)
        _show_errors(report.errors, skipped=report.committed)
    if not report.committed:
        click.secho(f"导入失败：共 {len(report.errors)} 处错误，数据库未作任何改动。"
                    "请修改后重新导入，或加 --skip-invalid 只导入正确的行。", fg="red", err=True)
        if errors_file is not None:
            click.echo(f"全部错误已写入 {errors_file}", err=True)
        sys.exit(1)
    click.secho(f"导入成功（{'工作人员表' if report.kind == 'staff' else '名单'}）："
                f"{report.summary()}", fg="green")


@roster.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--masked", is_flag=True,
              help="身份证号码和电话打码，用于对外报送（Mask ID numbers and phones）。")
def export_cmd(file: Path, masked: bool) -> None:
    """把全部对象导出为 FILE（.csv 或 .xlsx），格式与导入模板相同。"""
    from store.roster.export import export_roster

    with _engine() as engine:
        try:
            count = export_roster(session_factory(engine), file, masked=masked,
                                  today=county_today())
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        except DBAPIError as exc:
            raise click.ClickException(_db_hint(exc)) from None
    click.echo(f"已导出 {count} 位对象到 {file}" + ("（已打码）" if masked else ""))
    if not masked:
        click.secho("注意：文件含身份证号码等敏感信息，请妥善保管。", fg="yellow", err=True)


@roster.command("template")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--staff", is_flag=True, help="工作人员表模板（Officers' sheet）。")
def template_cmd(file: Path, staff: bool) -> None:
    """写出一份空白模板 FILE（.csv 或 .xlsx），含一行示例。"""
    from store.roster.export import write_template

    try:
        write_template(file, staff=staff)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"已写出{'工作人员表' if staff else '名单'}模板：{file}（第2行为示例，请替换）")


COMMANDS = [roster]


# --- helpers -----------------------------------------------------------------------


def _obj() -> dict:
    ctx = click.get_current_context()
    return ctx.find_root().obj or ctx.obj or {}


def _default_policy() -> str:
    settings = _obj().get("settings")
    return getattr(settings, "default_policy", None) or FALLBACK_POLICY


@contextmanager
def _engine() -> Iterator[Engine]:
    url = _obj().get("database_url")
    if not url:
        raise click.ClickException("未配置数据库（database_url missing）")
    engine = make_engine(url)
    try:
        check_connection(engine)
        yield engine
    except DatabaseUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()


def _db_hint(exc: DBAPIError) -> str:
    first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    return (f"数据库错误：{first}。数据库已回滚，未作改动。"
            "若是新数据库，请先运行 visitbot db upgrade。")


def _show_warnings(warnings: list[str]) -> None:
    for line in warnings[:MAX_SHOWN_WARNINGS]:
        click.secho(f"提示：{line}", fg="yellow", err=True)
    if len(warnings) > MAX_SHOWN_WARNINGS:
        click.secho(f"提示：另有 {len(warnings) - MAX_SHOWN_WARNINGS} 条提示未显示", fg="yellow",
                    err=True)


def _show_errors(errors: list[RowError], *, skipped: bool) -> None:
    title = "以下行有错误，已跳过：" if skipped else "发现以下错误（Errors）："
    click.secho(title, fg="red", err=True)
    width = max((_display_width(e.column) for e in errors[:MAX_SHOWN_ERRORS]), default=4)
    click.echo(f"  {'行号':<6}{_pad('列', width)}  原因", err=True)
    for e in errors[:MAX_SHOWN_ERRORS]:
        shown = f"（{e.value}）" if e.value else ""
        click.echo(f"  {e.row:<8}{_pad(e.column, width)}  {e.reason}{shown}", err=True)
    if len(errors) > MAX_SHOWN_ERRORS:
        click.echo(f"  …… 另有 {len(errors) - MAX_SHOWN_ERRORS} 处错误未显示（用 --errors 文件.csv "
                   "导出全部）", err=True)
    counts = "；".join(f"{col} {n} 处" for col, n in error_columns(errors).items())
    click.echo(f"  按列统计：{counts}", err=True)


def _display_width(text: str) -> int:
    # CJK characters take two terminal columns.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _display_width(text))


def _write_errors(path: Path, errors: list[RowError]) -> None:
    from store.roster.export import neutralize

    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["行号", "列", "原因", "内容"])
        for e in errors:
            # The value is the user's own cell text: quote it so Excel will not evaluate it.
            writer.writerow([e.row, e.column, e.reason, neutralize(e.value)])
