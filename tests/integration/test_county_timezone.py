"""The county's calendar day (VISITBOT_TIMEZONE) is the day every entry point reads: the
chat turn, the scheduler's tick, and each command that plans, imports, exports or checks.

The table runs each entry point in two zones 25 hours apart (Kiritimati, UTC+14, and
Pago Pago, UTC-11), whose dates differ at every moment: code that reads any one fixed
zone's date (or UTC's) fails at least one row whenever the suite runs.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from bot.cli.main import main
from bot.settings import ConfigError, load_settings
from store.db import make_engine, session_factory
from store.models import Account, Assignment, Person, Subject
from store.samples import SAMPLE_ROSTER

EAST, WEST = "Pacific/Kiritimati", "Pacific/Pago_Pago"
ZONES = (EAST, WEST)


def _today(zone: str) -> date:
    return datetime.now(UTC).astimezone(ZoneInfo(zone)).date()


def _around(zone: str, run: Callable[[], Any]) -> tuple[set[date], Any]:
    """`run`'s result, and the zone's dates before and after it (midnight may pass)."""
    before = _today(zone)
    out = run()
    return {before, _today(zone)}, out


def _cli(db_url: str, zone: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    monkeypatch.setenv("VISITBOT_TIMEZONE", zone)
    return CliRunner().invoke(main, ["--database-url", db_url, *args])


@pytest.mark.parametrize("zone", ZONES)
def test_tick_plans_on_the_county_date(db_url: str, zone: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    days, result = _around(zone, lambda: _cli(db_url, zone, monkeypatch, "tick"))
    assert result.exit_code == 0, result.output
    assert any(result.output.startswith(f"{d}：") for d in days), result.output


@pytest.mark.parametrize(("zone", "day"), [(EAST, "2026-12-02"), (WEST, "2026-12-01")])
def test_a_simulated_clock_is_read_in_the_county(db_url: str, zone: str, day: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # noon in UTC is the next day in Kiritimati and still the same one in Pago Pago
    result = _cli(db_url, zone, monkeypatch, "tick", "--now", "2026-12-01T12:00+00:00")
    assert result.exit_code == 0 and result.output.startswith(f"{day}："), result.output
    # a clock without a zone is the county's own: its date is the one written
    result = _cli(db_url, zone, monkeypatch, "tick", "--now", "2026-12-01T23:30")
    assert result.exit_code == 0 and result.output.startswith("2026-12-01："), result.output


@pytest.mark.parametrize("zone", ZONES)
def test_roster_import_starts_assignments_on_the_county_date(
        db_url: str, zone: str, monkeypatch: pytest.MonkeyPatch) -> None:
    days, result = _around(zone, lambda: _cli(db_url, zone, monkeypatch, "roster", "import",
                                              str(SAMPLE_ROSTER)))
    assert result.exit_code == 0, result.output
    engine = make_engine(db_url)
    with engine.connect() as c:
        starts = set(c.scalars(select(Assignment.starts_on)).all())
    engine.dispose()
    assert starts and starts <= days, (starts, days)


def _ending_on(db_url: str, day: date) -> None:
    """One subject whose only visitor's assignment ends on `day`; the visitor can be
    reached, so the ended assignment is all the doctor can find wrong."""
    sessions = session_factory(make_engine(db_url))
    with sessions() as s:
        visitor, subject = Person(name="王探访"), Person(name="甲")
        s.add_all([visitor, subject])
        s.flush()
        s.add(Subject(person_id=subject.id, policy="linzi-2022"))
        s.add(Account(person_id=visitor.id, platform="console", external_id="v"))
        s.flush()
        s.add(Assignment(subject_id=subject.id, visitor_id=visitor.id,
                         starts_on=date(2020, 1, 1), ends_on=day))
        s.commit()


@pytest.mark.parametrize("zone", ZONES)
def test_doctor_reads_assignments_on_the_county_date(db_url: str, zone: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # the assignment's last day is today in Pago Pago, a day already over in Kiritimati
    last_day = _today(WEST)
    _ending_on(db_url, last_day)
    result = _cli(db_url, zone, monkeypatch, "doctor")
    if _today(WEST) != last_day:
        pytest.skip("midnight passed in Pago Pago during the check")  # pragma: no cover
    if zone == EAST:
        assert result.exit_code == 1 and "没有访视责任人" in result.output, result.output
    else:
        assert result.exit_code == 0, result.output


@pytest.mark.parametrize("zone", ZONES)
def test_roster_export_reads_ended_assignments_on_the_county_date(
        db_url: str, zone: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    last_day = _today(WEST)
    _ending_on(db_url, last_day)
    out = tmp_path / "roster.csv"
    result = _cli(db_url, zone, monkeypatch, "roster", "export", str(out))
    assert result.exit_code == 0, result.output
    if _today(WEST) != last_day:
        pytest.skip("midnight passed in Pago Pago during the export")  # pragma: no cover
    with out.open(encoding="utf-8-sig") as f:
        row = next(csv.DictReader(f))
    visitor = row["访视责任人"]
    # still the subject's visitor in Pago Pago on the assignment's last day; no longer in
    # Kiritimati, where that day is over
    assert (visitor == "王探访") == (zone == WEST), row


@pytest.mark.parametrize("zone", ZONES)
def test_the_scheduler_ticks_on_the_county_date(zone: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from scheduler.runner import start_scheduler

    monkeypatch.setenv("VISITBOT_TIMEZONE", zone)
    settings = load_settings()

    async def job_args() -> tuple[Any, ...]:
        runner = start_scheduler(None, settings)  # type: ignore[arg-type]
        try:
            return tuple(runner.get_job("tick").args)
        finally:
            runner.shutdown(wait=False)

    # the tick job is handed the county's zone (it does not run here: no loop turn)
    assert asyncio.run(job_args())[1] == ZoneInfo(zone)


@pytest.mark.parametrize("value", ["Mars/Olympus", "CST+8", "", "../etc/passwd"])
def test_an_unknown_zone_is_a_clear_configuration_error(
        value: str, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    monkeypatch.setenv("VISITBOT_TIMEZONE", value)
    with pytest.raises(ConfigError, match="VISITBOT_TIMEZONE"):
        load_settings()
    result = CliRunner().invoke(main, ["--database-url", db_url, "doctor"])
    assert result.exit_code == 1 and "VISITBOT_TIMEZONE" in result.output
    assert "Traceback" not in result.output
