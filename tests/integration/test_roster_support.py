"""Helpers for the roster tests (no tests here): sample rows, writing sheets, counting."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from store.models import (
    Assignment,
    AuditEntry,
    FamilyLink,
    Jurisdiction,
    Person,
    Role,
    Subject,
)
from store.samples import SAMPLE_ROSTER

TABLES = (Jurisdiction, Person, Role, Subject, FamilyLink, Assignment)


def sample_rows() -> tuple[list[str], list[dict[str, str]]]:
    with SAMPLE_ROSTER.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def write_csv(path: Path, headers: Sequence[str], rows: Sequence[dict[str, str]],
              encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(headers)
        for row in rows:
            writer.writerow([row.get(h, "") for h in headers])
    return path


def counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as s:
        return {m.__name__: s.scalar(select(func.count()).select_from(m)) or 0
                for m in (*TABLES, AuditEntry)}


def active_visitor_phone(sessions: sessionmaker[Session], id_number: str) -> list[str]:
    """Phones of the visitors assigned with no end date to the subject with that ID."""
    with sessions() as s:
        subject_id = s.scalar(select(Person.id).where(Person.id_number == id_number))
        return list(s.scalars(
            select(Person.phone).join(Assignment, Assignment.visitor_id == Person.id)
            .where(Assignment.subject_id == subject_id, Assignment.ends_on.is_(None))))
