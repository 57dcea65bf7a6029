"""`visitbot doctor` through click's CliRunner, on both stores: it names what would stop
visits and exits non-zero until it is fixed."""

from __future__ import annotations

from datetime import date

from click.testing import CliRunner
from sqlalchemy import update

from bot.cli.doctor import doctor_cmd
from bot.cli.main import main
from store.db import make_engine, session_factory
from store.models import Account, Assignment, Case, OutboxMessage, Person, Subject


def _run(db_url: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(doctor_cmd, [], obj={"database_url": db_url})


def test_registered() -> None:
    assert main.commands["doctor"] is doctor_cmd


def test_doctor_names_problems_and_exits_nonzero(db_url: str) -> None:
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    with sessions() as s:
        visitor = Person(name="王探访")
        s.add(visitor)
        s.flush()
        ids = {}
        for name, policy in (("甲", "linzi-2022"), ("乙", "临淄"), ("丙", "linzi-2022")):
            p = Person(name=name)
            s.add(p)
            s.flush()
            s.add(Subject(person_id=p.id, policy=policy))
            ids[name] = p.id
        s.flush()
        for name in ("甲", "乙"):
            s.add(Assignment(subject_id=ids[name], visitor_id=visitor.id,
                             starts_on=date(2020, 1, 1)))
        s.commit()
    try:
        result = _run(db_url)
        assert result.exit_code == 1, result.output
        assert "“临淄”无法加载" in result.output and "1 名对象" in result.output
        assert "没有访视责任人" in result.output and "丙" in result.output
        assert "尚未绑定聊天账号" in result.output and "王探访" in result.output
        with sessions() as s:
            s.execute(update(Subject).values(policy="linzi-2022"))
            s.add(Assignment(subject_id=ids["丙"], visitor_id=visitor.id,
                             starts_on=date(2020, 1, 1)))
            s.add(Account(person_id=visitor.id, platform="console", external_id="v"))
            s.commit()
        result = _run(db_url)
        assert result.exit_code == 0, result.output
        assert "未发现妨碍探访的问题" in result.output
        # an emergency card refused for its only officer (a 403: blocked the bot) reached
        # nobody: the operator is told, and the exit says something blocks work
        with sessions() as s:
            case = Case(subject_id=ids["甲"], kind="abuse", severity="emergency")
            s.add(case)
            s.flush()
            s.add(OutboxMessage(idempotency_key=f"alert:1:{visitor.id}:0", platform="console",
                                external_id="v", kind="alert", priority=0, status="failed",
                                payload={"text": "预警", "fields": {"case_id": case.id}}))
            s.commit()
            case_id = case.id
        result = _run(db_url)
        assert result.exit_code == 1, result.output
        assert f"个案 {case_id}（甲，紧急）" in result.output and "未能按时送达" in result.output
    finally:
        engine.dispose()


def test_tick_reports_subjects_it_cannot_plan(sessions) -> None:  # type: ignore[no-untyped-def]
    from scheduler.tick import tick
    from tests.integration.test_due_support import at, build_roster

    build_roster(sessions, "linzi-2022", {"甲": {"self_care": "自理"}})
    build_roster(sessions, "linzi-2023", {"乙": {"self_care": "自理"}}, suffix="2")
    stats = tick(sessions, at(date(2026, 1, 5)))
    assert [(p.name, p.subjects) for p in stats.unloadable] == [("linzi-2023", 1)]
    assert stats.plan.planned == 1  # the subject under the known policy is planned
