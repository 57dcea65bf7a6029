"""The roster import and the policies: an unknown 适用政策 is refused with its row and
value; each subject's tier is the policy's, the same the tick derives, and an officer's
override survives a re-import."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from scheduler.due import update_tiers
from scheduler.policy_book import PolicyBook
from scheduler.policy_load import available_policies, load_policy
from store.models import Subject
from store.roster.importer import import_roster
from tests.integration.test_roster_support import counts, sample_rows, write_csv

DAY = date(2026, 3, 1)


def _rows(tmp_path: Path, change: dict[int, dict[str, str]]) -> Path:
    headers, rows = sample_rows()
    for i, values in change.items():
        rows[i].update(values)
    return write_csv(tmp_path / "roster.csv", headers, rows)


@pytest.mark.parametrize("bad", ["linzi-2023", "临淄", "linzi 2022"])
def test_unknown_policy_is_refused(sessions: sessionmaker[Session], tmp_path: Path,
                                   bad: str) -> None:
    before = counts(sessions)
    report = import_roster(sessions, _rows(tmp_path, {2: {"适用政策": bad}}),
                           policy_default="linzi-2022", today=DAY, policies=PolicyBook())
    assert not report.committed and counts(sessions) == before
    assert [(e.row, e.column, e.value) for e in report.errors] == [(4, "适用政策", bad)]
    assert "linzi-2022" in report.errors[0].reason


def test_unknown_default_policy_is_refused(sessions: sessionmaker[Session],
                                           tmp_path: Path) -> None:
    path = _rows(tmp_path, {0: {"适用政策": ""}})
    report = import_roster(sessions, path, policy_default="临淄", today=DAY,
                           policies=PolicyBook())
    assert [(e.row, e.value) for e in report.errors] == [(2, "临淄（默认）")]


def test_policy_name_case_is_forgiven(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    report = import_roster(sessions, _rows(tmp_path, {0: {"适用政策": "Linzi-2022"}}),
                           policy_default="linzi-2022", today=DAY, policies=PolicyBook())
    assert report.committed
    with sessions() as s:
        assert set(s.scalars(select(Subject.policy))) == {"linzi-2022"}


@pytest.mark.parametrize("policy", available_policies())
def test_import_tier_is_the_ticks(sessions: sessionmaker[Session], tmp_path: Path,
                                  policy: str) -> None:
    """Every sample row under every policy, with 失能 moved from 自理能力 to 对象类型 on
    some rows: the tier the import writes is the one the tick keeps."""
    headers, rows = sample_rows()
    for i, row in enumerate(rows):
        row["适用政策"] = policy
        if i % 3 == 0 and row["自理能力"] in ("失能", "半失能"):
            row["对象类型"] = f"{row['对象类型']}、{row['自理能力']}"
            row["自理能力"] = ""
    path = write_csv(tmp_path / "roster.csv", headers, rows)
    report = import_roster(sessions, path, policy_default=policy, today=DAY,
                           policies=PolicyBook())
    assert report.committed, report.errors
    with sessions() as s:
        imported = dict(s.execute(select(Subject.person_id, Subject.tier)).all())
        assert update_tiers(s, load_policy(policy), DAY) == 0
        s.commit()
    if policy == "jingdezhen-2020":  # 失能/半失能 are key there, wherever they are written
        assert list(imported.values()).count("key") == sum(
            1 for r in sample_rows()[1] if r["自理能力"] in ("失能", "半失能"))


def test_override_wins_over_reimport(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = _rows(tmp_path, {})
    import_roster(sessions, path, policy_default="linzi-2022", today=DAY, policies=PolicyBook())
    with sessions() as s:
        sid = s.scalar(select(Subject.person_id).where(Subject.tier == "ordinary").limit(1))
        s.execute(update(Subject).where(Subject.person_id == sid).values(
            tier_override="key", tier="key"))
        s.commit()
    import_roster(sessions, path, policy_default="linzi-2022", today=DAY, policies=PolicyBook())
    with sessions() as s:
        subject = s.get(Subject, sid)
        assert subject is not None
        assert (subject.tier_override, subject.tier) == ("key", "key")
        assert update_tiers(s, load_policy("linzi-2022"), DAY) == 0
