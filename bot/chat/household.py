"""A filed visit's household changes: the members its answers name as joined or left.

Guangxi's record form prints the household (附件2 「二、家庭基本情况」) and its checklist asks
whether it changed. Questions marked `updates: household_add` / `household_remove` carry
the names; filing applies them to `household_members`, so the next form prints the
household as the visitor found it. The answer itself stays on the visit's record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from conversations.checklist import Checklist
from store.models import HouseholdMember

PEOPLE = re.compile(r"[\n;；]+")
FIELDS = re.compile(r"[\s,，、:：]+")
NAMES = re.compile(r"[\s,，、;；]+")
NOTHING = frozenset({"无", "没有", "暂无", "-", "—", "/"})
MAX_MEMBERS = 20  # the question's own bound: 1–20 people


def joined(text: str) -> list[tuple[str, str | None, str | None]]:
    """(name, relation, health) per line: 「王小明 孙子 健康」; missing parts are None."""
    out: list[tuple[str, str | None, str | None]] = []
    for line in PEOPLE.split(text or ""):
        parts = [p for p in FIELDS.split(line.strip()) if p]
        if not parts or parts[0] in NOTHING:
            continue
        name = parts[0][:100]
        relation = parts[1][:32] if len(parts) > 1 else None
        health = "".join(parts[2:])[:16] or None
        out.append((name, relation, health))
    return out[:MAX_MEMBERS]


def left(text: str) -> list[str]:
    return [n[:100] for n in NAMES.split(text or "") if n and n not in NOTHING][:MAX_MEMBERS]


def apply_changes(s: Session, subject_id: int, checklist: Checklist,
                  answers: Mapping[str, Any]) -> None:
    for q in checklist.questions:
        text = answers.get(q.id)
        if q.updates is None or not isinstance(text, str):
            continue
        if q.updates == "household_add":
            known = {m.name: m for m in s.scalars(select(HouseholdMember).where(
                HouseholdMember.subject_id == subject_id))}
            for name, relation, health in joined(text):
                member = known.get(name)
                if member is None:
                    member = HouseholdMember(subject_id=subject_id, name=name, co_resident=True)
                    s.add(member)
                    known[name] = member
                member.relation = relation or member.relation
                member.health = health or member.health
                member.co_resident = True
        elif q.updates == "household_remove":
            names = left(text)
            if names:
                s.execute(delete(HouseholdMember).where(
                    HouseholdMember.subject_id == subject_id,
                    HouseholdMember.name.in_(names)))
