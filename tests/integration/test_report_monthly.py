"""The monthly summary's counts equal an independent count from raw rows; both files
carry the same figures."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy.orm import Session, sessionmaker

from store.models import AuditEntry, Case, Jurisdiction, Person, Role, Subject, Visit
from store.reports.monthly import export_monthly, monthly_summary_file
from store.reports.period import Month
from store.reports.queries import load_scope, monthly_figures, not_visited

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
MONTH = Month(2026, 11)
AS_OF = date(2026, 11, 25)


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        if IN_CI:
            pytest.fail(f"CI=true but {binary} is not installed")
        pytest.skip(f"{binary} not installed")
    return path


def build_world(s: Session, seed: int = 3) -> dict[str, int]:
    """A county, two townships of two villages, 40 subjects, a mix of visits and cases."""
    rnd = random.Random(seed)
    county = Jurisdiction(name="样例县", level="county")
    s.add(county)
    s.flush()
    ids = {"county": county.id}
    villages = []
    for t in ("东镇", "西镇"):
        town = Jurisdiction(name=t, level="township", parent_id=county.id)
        s.add(town)
        s.flush()
        ids[t] = town.id
        for v in ("一村", "二村"):
            village = Jurisdiction(name=f"{t[0]}{v}", level="village", parent_id=town.id)
            s.add(village)
            s.flush()
            villages.append(village.id)
    visitor = Person(name="探访员甲", phone="13900000001", jurisdiction_id=villages[0])
    officer = Person(name="镇干部乙", phone="13900000002", jurisdiction_id=ids["东镇"])
    s.add_all([visitor, officer])
    s.flush()
    s.add_all([Role(person_id=visitor.id, role="visitor", title="志愿者"),
               Role(person_id=officer.id, role="officer", jurisdiction_id=ids["东镇"])])
    ids["visitor"], ids["officer"] = visitor.id, officer.id
    statuses = ["filed", "filed", "filed", "missed", "planned", "in_progress", "cancelled"]
    modes = ["in_person", "phone", "video", "remote", None]
    for k in range(40):
        p = Person(name=f"对象{k:02d}", gender="女" if k % 2 else "男",
                   jurisdiction_id=villages[k % 4], id_number=f"21030019400101{k:04d}")
        s.add(p)
        s.flush()
        s.add(Subject(person_id=p.id, policy="guangxi-2023", categories=["独居"],
                      status="inactive" if k == 39 else "active", address=f"{k}号"))
        s.flush()
        for j, due in enumerate((date(2026, 10, 20), date(2026, 11, 5), date(2026, 11, 20),
                                 date(2026, 12, 3))):
            if rnd.random() < 0.2:
                continue
            st = rnd.choice(statuses)
            visited = None
            if st == "filed":
                visited = due + timedelta(days=rnd.randint(-3, 12))
            s.add(Visit(subject_id=p.id, visitor_id=visitor.id, policy="guangxi-2023",
                        kind="regular" if j != 2 else "holiday", due_on=due,
                        deadline=due + timedelta(days=rnd.choice([0, 5])) if k % 3 else None,
                        status=st, visited_on=visited, mode=rnd.choice(modes) if visited else None))
        if k % 5 == 0:
            opened = datetime(2026, 10, 25, tzinfo=UTC) + timedelta(days=rnd.randint(0, 40))
            resolved = opened + timedelta(days=3) if k % 10 == 0 else None
            s.add(Case(subject_id=p.id, kind="health", severity=rnd.choice(
                ["watch", "high", "emergency"]), status="resolved" if resolved else "open",
                opened_at=opened, resolved_at=resolved))
    s.commit()
    return ids


def independent(s: Session, township: str | None) -> dict[str, int]:
    """Recount from raw rows in Python, without the report's SQL."""
    juris = {j.id: j for j in s.query(Jurisdiction)}

    def town_of(jid: int | None) -> str | None:
        while jid is not None:
            if juris[jid].level == "township":
                return juris[jid].name
            jid = juris[jid].parent_id
        return None

    people = {p.id: p for p in s.query(Person)}
    subjects = [x for x in s.query(Subject)
                if township is None or town_of(people[x.person_id].jurisdiction_id) == township]
    active = {x.person_id for x in subjects if x.status == "active"}
    mine = {x.person_id for x in subjects}
    out = dict.fromkeys(("subjects", "due", "on_time", "late", "missing", "pending", "done",
                         "in_person", "phone", "video", "other", "visited", "opened",
                         "resolved", "open"), 0)
    out["subjects"] = len(active)
    visited = set()
    for v in s.query(Visit):
        if v.subject_id not in mine:
            continue
        limit = v.deadline or v.due_on
        if MONTH.first <= v.due_on <= MONTH.last and v.status != "cancelled":
            out["due"] += 1
            if v.status == "filed":
                out["on_time" if v.visited_on <= limit else "late"] += 1
            elif v.status == "missed" or limit < AS_OF:
                out["missing"] += 1
            else:
                out["pending"] += 1
        if v.status == "filed" and MONTH.first <= v.visited_on <= MONTH.last:
            out["done"] += 1
            out[v.mode if v.mode in ("in_person", "phone", "video") else "other"] += 1
            if v.subject_id in active:
                visited.add(v.subject_id)
    out["visited"] = len(visited)
    start, end = MONTH.utc_bounds()
    for c in s.query(Case):
        if c.subject_id not in mine:
            continue
        out["opened"] += start <= c.opened_at < end
        out["resolved"] += c.resolved_at is not None and start <= c.resolved_at < end
        out["open"] += c.opened_at < end and (c.resolved_at is None or c.resolved_at >= end)
    return out


def as_dict(c) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {"subjects": c.subjects, "due": c.due, "on_time": c.on_time, "late": c.late,
            "missing": c.missing, "pending": c.pending, "done": c.done,
            **c.by_mode, "visited": c.visited_subjects, "opened": c.cases_opened,
            "resolved": c.cases_resolved, "open": c.cases_open}


def test_counts_match_independent_count(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        ids = build_world(s)
        for root, town in ((ids["county"], None), (ids["东镇"], "东镇"), (ids["西镇"], "西镇")):
            f = monthly_figures(s, load_scope(s, [root]), MONTH, AS_OF)
            want = independent(s, town)
            assert as_dict(f.total) == want
            assert want["due"] > 0 and want["done"] > 0  # the data exercises the counts
            assert f.total.due == (f.total.on_time + f.total.late + f.total.missing
                                   + f.total.pending)
            assert sum(r.counts.subjects for r in f.villages) == want["subjects"]
        scope = load_scope(s, [ids["county"]])
        f = monthly_figures(s, scope, MONTH, AS_OF)
        want = independent(s, None)
        names = [x.name for x in not_visited(s, scope, MONTH)]
        assert len(names) == f.total.not_visited == want["subjects"] - want["visited"]
        assert "对象39" not in names  # inactive subjects are out of scope


def test_xlsx_and_pdf_carry_the_figures(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    with sessions() as s:
        ids = build_world(s)
        want = independent(s, "东镇")
        x = export_monthly(s, [ids["东镇"]], MONTH, "xlsx", tmp_path / "m.xlsx", as_of=AS_OF,
                           actor_id=ids["officer"])
    wb = load_workbook(x, read_only=True)
    rows = list(wb["月汇总"].iter_rows(values_only=True))
    header = list(rows[2])
    total = next(r for r in rows if r[0] == "合计")
    got = dict(zip(header, total, strict=False))
    assert got["对象数"] == want["subjects"]
    assert got["应访次数"] == want["due"]
    assert got["按时完成"] == want["on_time"]
    assert got["逾期完成"] == want["late"]
    assert got["未访"] == want["missing"]
    assert got["上门"] == want["in_person"] and got["电话"] == want["phone"]
    assert got["已访对象"] == want["visited"]
    assert got["月探访率"] == pytest.approx(want["visited"] / want["subjects"])
    # every line, not only the total: the in-person share of the visits made that month
    for r in rows[3:]:
        line = dict(zip(header, r, strict=False))
        if line["本月已访次数"]:
            assert line["上门占比"] == pytest.approx(line["上门"] / line["本月已访次数"])
        elif line["本月已访次数"] == 0:
            assert line["上门占比"] is None
    assert 0 < got["上门占比"] < 1  # the data mixes modes
    assert got["本月新增案件"] == want["opened"] and got["月末未结案件"] == want["open"]
    listed = list(wb["本月未探访对象"].iter_rows(min_row=3, values_only=True))
    assert len(listed) == want["subjects"] - want["visited"]
    assert {r[1] for r in listed} == {"东镇"}
    with sessions() as s:
        assert s.query(AuditEntry).filter_by(action="export_monthly").count() == 1

    need("pdftotext")
    with sessions() as s:
        pdf = export_monthly(s, [ids["东镇"]], MONTH, "pdf", tmp_path / "m.pdf", as_of=AS_OF)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "东镇 2026年11月 探访情况月汇总" in text
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("合计"))
    nums = [int(t) for t in line.split() if t.isdigit()]
    assert nums[:4] == [want["subjects"], want["due"], want["on_time"], want["late"]]
    assert f"{want['visited'] / want['subjects'] * 100:.1f}%" in line
    assert f"{want['in_person'] / want['done'] * 100:.1f}%" in line


def test_monthly_summary_file_for_an_officer(sessions: sessionmaker[Session],
                                             tmp_path: Path) -> None:
    with sessions() as s:
        ids = build_world(s)
    path = monthly_summary_file(sessions, ids["officer"], "2026-11", "xlsx", folder=tmp_path)
    assert path.exists() and "东镇" in path.name
    with pytest.raises(PermissionError):
        monthly_summary_file(sessions, ids["visitor"], "2026-11", "xlsx", folder=tmp_path)
