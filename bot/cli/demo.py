"""`visitbot demo`: the whole loop on a fresh SQLite file, in seconds, with no platform.

A sample roster is imported, one visit is made due, its reminder goes out through the
outbox to the console, a scripted visitor answers the checklist (one risky answer on
purpose), the record is filed, the alert reaches the township officer and the child
gets a note; finally the stored record is printed as an officer would read it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from bot.channels.console import ConsoleChannel
from bot.chat.binding import ensure_console_account
from bot.cli.console_session import deliver, say
from bot.settings import load_settings
from bot.wiring import App, build
from conversations.checklist import load_checklist
from conversations.messages import Address, Outgoing
from conversations.record import mode_label, summarize
from scheduler.policy_book import PolicyBook
from scheduler.tick import tick
from store.labels import kind_label, severity_label, status_label
from store.masking import mask_id
from store.migrate import upgrade
from store.models import Answer, Case, FamilyLink, Person, Role, Subject, Visit
from store.roster.importer import import_roster
from store.samples import SAMPLE_ROSTER, SAMPLE_STAFF

MAX_STEPS = 120
RISKY = re.compile(r"燃气")  # the demo visitor reports an unsafe gas stove on purpose
SAY_NO = re.compile(r"意愿")  # …and no wish to move into a care home


def run_demo(db_path: Path, *, quiet: bool = False) -> int:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db_path}"
    upgrade(url)
    app = build(load_settings(database_url=url), demo=True)
    _say = (lambda *_: None) if quiet else print
    # On the roster since the month began: every subject owes this month's visit (one
    # joining later in the month would first owe next month's, see scheduler.due).
    since = datetime.now(app.settings.tz).date().replace(day=1)
    report = import_roster(app.sessions, SAMPLE_ROSTER, policy_default="linzi-2022",
                           today=since, policies=PolicyBook())
    import_roster(app.sessions, SAMPLE_STAFF, policy_default="linzi-2022")
    _say(f"== 导入示例名单：{report.summary()}")

    now = datetime.now(UTC)
    tick(app.sessions, now, tz=app.settings.tz)  # plans every current visit, reminds
    visit_id, visitor, subject, officer, child = _cast(app, now)
    with app.sessions() as s:
        for person in (visitor, officer, child):
            if person is not None:
                ensure_console_account(s, person.id, person.phone or str(person.id), now)
        s.commit()
    # the visitor is reachable now: their reminder goes out
    tick(app.sessions, now, tz=app.settings.tz)
    console = ConsoleChannel(echo=not quiet)
    _say("== 到期提醒（经发件箱投递）")
    deliver(app, console)

    addr = Address("console", visitor.phone or str(visitor.id))
    _say(f"== 探访人 {visitor.name} 点击“开始记录”，填写 {subject.person.name} 的探访记录")
    say(app, addr, choice=f"start:{visit_id}")
    deliver(app, console)
    _play_visitor(app, console, addr, quiet)

    with app.sessions() as s:
        visit = s.get(Visit, visit_id)
        assert visit is not None
        if visit.status != "filed":
            print(f"演示失败：记录未提交（状态 {visit.status}）")
            return 1
        answers = {a.question_id: a.value for a in s.scalars(
            select(Answer).where(Answer.visit_id == visit_id))}
        person = s.get(Person, subject.person_id)
        checklist = load_checklist(visit.policy)
        print(f"\n== 已存档的探访记录（{checklist.title}）")
        who = f"{person.name}（{mask_id(person.id_number or '')}）" if person else ""
        print(f"对象：{who}  探访人：{visitor.name}  日期：{visit.visited_on}"
              f"  方式：{mode_label(checklist, visit.mode)}"
              f"  第 {visit.seq} 次探访")
        for section, label, display in summarize(checklist, answers):
            print(f"  {section} / {label}：{display}")
        open_cases = s.scalars(select(Case).where(Case.subject_id == subject.person_id)).all()
        for case in open_cases:
            print(f"  风险个案 {case.id}：{kind_label(case.kind)}"
                  f"（{severity_label(case.severity)}），状态 {status_label(case.status)}")
    return 0


def _cast(app: App, now: datetime) -> tuple[int, Person, Subject, Person | None,
                                          Person | None]:
    """A due visit of a subject who has a child; its visitor and the township officer."""
    today = now.astimezone(app.settings.tz).date()
    with app.sessions() as s:
        visit = s.scalars(
            select(Visit)
            .join(FamilyLink, FamilyLink.subject_id == Visit.subject_id)
            .where(Visit.status == "planned", Visit.window_opens <= today,
                   Visit.visitor_id.isnot(None))
            .order_by(Visit.due_on, Visit.id).limit(1)
        ).first()
        assert visit is not None, "the tick planned no visit for the demo"
        subject = s.get(Subject, visit.subject_id)
        assert subject is not None
        subject.family_notify_consent = True
        visitor = s.get(Person, visit.visitor_id)
        child_id = s.scalar(select(FamilyLink.person_id).where(
            FamilyLink.subject_id == subject.person_id).limit(1))
        child = s.get(Person, child_id) if child_id else None
        village = subject.person.jurisdiction
        township_id = village.parent_id if village else None
        officer_id = s.scalar(select(Role.person_id).where(
            Role.role == "officer", Role.jurisdiction_id == township_id).limit(1))
        officer = s.get(Person, officer_id) if officer_id else None
        visit_id = visit.id
        s.commit()
        assert visitor is not None
        s.expunge_all()
        return visit_id, visitor, subject, officer, child


def _play_visitor(app: App, console: ConsoleChannel, addr: Address, quiet: bool) -> None:
    """Answer whatever the bot asks last, the way a hurried visitor would."""
    last_text = ""
    repeats = 0
    for _ in range(MAX_STEPS):
        message = _last_to(console, addr)
        if message is None:
            return
        repeats = repeats + 1 if message.text == last_text else 0
        last_text = message.text
        answer = _answer_for(message, repeats)
        if answer is None:
            return
        if not quiet:
            print(f">>> {answer}")
        say(app, addr, text=answer)
        deliver(app, console)


def _last_to(console: ConsoleChannel, addr: Address) -> Outgoing | None:
    for to, message in reversed(console.sent):
        if to == addr:
            return message
    return None


def _answer_for(message: Outgoing, repeats: int) -> str | None:
    text = message.text
    if "已提交" in text or "已存档" in text:
        return None
    if "确认" in text and ("提交" in text or "汇总" in text):
        return "确认"
    if message.choices:
        labels = [c.label for c in message.choices]
        if RISKY.search(text) and len(labels) > 1:
            return labels[-1]
        if SAY_NO.search(text) and "否" in labels:
            return "否"
        return labels[0]
    fallbacks = ["无", "今天", "0", "跳过"]
    if "日期" in text or "时间" in text:
        fallbacks = ["今天", "2027-01-15", "跳过"]
    return fallbacks[min(repeats, len(fallbacks) - 1)]
