"""`visitbot doctor`: configuration and data that keep subjects from being visited.

Exit status 1 when something blocks work (a policy that does not load but has subjects,
a subject without a visitor, a visitor without a chat account, a broken policy or
checklist file), 0 when all is well.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from conversations.text import render


@click.command("doctor")
def doctor_cmd() -> None:
    """Check policies, checklists and the roster for what would stop visits."""
    from bot.alerts.case_escalation import undelivered_cases
    from bot.cli.app import cli_sessions, county_today
    from conversations.checklist import ChecklistError, available_checklists, load_checklist
    from scheduler.checks import (
        subjects_without_visitor,
        unloadable_policies,
        visitors_without_account,
    )
    from scheduler.policy_book import PolicyBook

    today = county_today()
    book = PolicyBook()
    broken_checklists = []
    for name in available_checklists():
        try:
            load_checklist(name)
        except ChecklistError as exc:
            broken_checklists.append((name, str(exc)))
    with cli_sessions()() as s:
        unknown = unloadable_policies(s)
        no_visitor = subjects_without_visitor(s, today)
        no_account = visitors_without_account(s, today)
        undelivered = _undelivered(s, undelivered_cases(s, datetime.now(UTC)))
    blocking = sum(1 for found in (unknown, book.broken, broken_checklists,
                                   no_visitor[0], no_account[0], undelivered) if found)
    click.echo(render("doctor_report", today=today.isoformat(), unknown_policies=unknown,
                      known=book.names(), broken_files=sorted(book.broken.items()),
                      broken_checklists=broken_checklists, no_visitor=no_visitor,
                      no_account=no_account, undelivered=undelivered, blocking=blocking))
    sys.exit(1 if blocking else 0)


def _undelivered(s: Session, cases: list[tuple[int, int]]) -> list[dict[str, str]]:
    """Open cases whose alert reached no officer in time: the words an operator reads."""
    from store.labels import severity_label
    from store.models import Case, Person

    rows = s.execute(select(Case.id, Person.name, Case.severity)
                     .join(Person, Person.id == Case.subject_id)
                     .where(Case.id.in_({case_id for case_id, _ in cases}))
                     .order_by(Case.id)).all()
    return [{"id": str(case_id), "name": name, "severity": severity_label(severity)}
            for case_id, name, severity in rows]


COMMANDS: list[click.Command] = [doctor_cmd]
