"""`visitbot cases` and `visitbot device`: risk cases and monitoring devices from the shell."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from sqlalchemy import select

from bot.alerts.case_escalation import undelivered_cases
from bot.alerts.cases import findings
from bot.chat.scope import subtree_ids
from bot.cli.app import cli_sessions
from store.labels import SEVERITY_RANK, kind_label, severity_label, status_label
from store.masking import mask_id, mask_text
from store.models import Case, Device, Jurisdiction, Person


@click.command("cases")
@click.option("--jurisdiction", default=None, help="Township, village or county name.")
@click.option("--all", "show_all", is_flag=True, help="Include resolved cases.")
def cases_cmd(jurisdiction: str | None, show_all: bool) -> None:
    """List open risk cases by severity and age, in the words officers use."""
    sessions = cli_sessions()
    now = datetime.now(UTC)
    with sessions() as s:
        q = select(Case, Person).join(Person, Person.id == Case.subject_id)
        if jurisdiction:
            roots = s.scalars(select(Jurisdiction.id).where(
                Jurisdiction.name == jurisdiction)).all()
            if not roots:
                raise click.ClickException(f"没有名为 {jurisdiction} 的辖区")
            q = q.where(Person.jurisdiction_id.in_(subtree_ids(s, list(roots))))
        if not show_all:
            q = q.where(Case.status != "resolved")
        rows = s.execute(q).all()
        rows.sort(key=lambda r: (-SEVERITY_RANK.get(r[0].severity, 0), r[0].opened_at))
        if not rows:
            click.echo("没有未结案的个案。")
            return
        # cards that reached no officer in the policy's minutes (they climb a level)
        stuck = {case_id for case_id, _ in undelivered_cases(s, now)}
        click.echo(f"{'个案':>6} {'级别':<4} {'状态':<4} {'时长(小时)':>10}  对象 / 情况")
        for case, person in rows:
            hours = int((now - case.opened_at).total_seconds() // 3600)
            found = "；".join(findings(s, case)[:3])
            click.echo(f"{case.id:>6} {severity_label(case.severity):<4} "
                       f"{status_label(case.status):<4} {hours:>10}  {person.name}"
                       f"（{mask_id(person.id_number or '')}）{kind_label(case.kind)}"
                       + (f"：{found}" if found else "")
                       + (f" 处理：{mask_text(case.resolution)}" if case.resolution else "")
                       + ("【预警超时未送达，转上一级】" if case.id in stuck else ""))


@click.group("device")
def device() -> None:
    """Remote-monitoring devices (远程监测) in subjects' homes."""


@device.command("register")
@click.argument("source")
@click.argument("device_id")
@click.option("--kind", type=click.Choice(["smoke", "water_meter", "power_meter",
                                           "call_button"]), required=True)
@click.option("--subject", "id_number", required=True, help="The subject's ID number.")
def device_register(source: str, device_id: str, kind: str, id_number: str) -> None:
    """Register DEVICE_ID of monitoring platform SOURCE for a subject."""
    sessions = cli_sessions()
    with sessions() as s:
        person = s.scalars(select(Person).where(Person.id_number == id_number.upper())).first()
        if person is None:
            raise click.ClickException(f"没有身份证号为 {mask_id(id_number)} 的对象")
        existing = s.scalars(select(Device).where(Device.source == source,
                                                  Device.device_id == device_id)).first()
        if existing:
            existing.subject_id, existing.kind = person.id, kind
        else:
            s.add(Device(source=source, device_id=device_id, kind=kind, subject_id=person.id))
        s.commit()
    click.echo(f"设备 {source}/{device_id}（{kind}）已登记给 {person.name}。")


COMMANDS = [cases_cmd, device]
