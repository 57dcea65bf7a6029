"""End to end over Telegram: python-telegram-bot against a fake Bot API, real HTTP both
ways, the real core, store and dispatcher.

A visitor, a township officer and a child bind with `/start CODE`; the tick reminds the
visitor, who presses the reminder's start button and answers the whole checklist by
pressing buttons (some answers typed, a photo sent); the record is filed; the gas-safety
risk reaches the officer, who presses the alert's acknowledge button and then resolves the
case; the child is told and asks for /status. Once by webhook and once by long polling.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.channels.telegram_channel import TelegramChannel
from bot.channels.telegram_polling import run_polling
from bot.channels.telegram_webhook import setup_webhook, webhook_routes
from bot.chat.binding import create_invite
from bot.chat.service import Core
from bot.settings import Settings
from bot.web.app import build_app
from scheduler.dispatch import drain
from scheduler.tick import tick
from store.db import is_sqlite, make_engine, session_factory
from store.models import (
    Account,
    Answer,
    Assignment,
    Case,
    FamilyLink,
    InboundSeen,
    Person,
    Role,
    Subject,
    Visit,
)
from store.roster.importer import import_roster
from store.samples import SAMPLE_ROSTER, SAMPLE_STAFF
from tests.fakes.telegram_server import (
    TOKEN,
    WEBHOOK_SECRET,
    FakeTelegram,
    ServerThread,
    TgUser,
)
from tests.world import planned_visit

RISKY = re.compile(r"燃气")
MAX_STEPS = 150
SHANGHAI = ZoneInfo("Asia/Shanghai")
VISITOR, OFFICER, CHILD = 91001, 91002, 91003


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


class Poller:
    """run_polling in its own thread and event loop, as `visitbot run` runs it."""

    def __init__(self, core: Core, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(core, settings), daemon=True)

    def _run(self, core: Core, settings: Settings) -> None:
        try:
            self.loop.run_until_complete(run_polling(core, settings, self.stop, poll_timeout=1,
                                                     error_pause=0.05, db_pause=0.05))
        except BaseException as exc:
            self.error = exc

    def start(self) -> Poller:
        self.thread.start()
        return self

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "run_polling did not stop"
        self.loop.close()


@dataclass
class World:
    mode: str
    sessions: sessionmaker[Session]
    clock: Clock
    fake: FakeTelegram
    channels: dict[str, Any]
    pressed: list[str] = field(default_factory=list)  # callback query ids

    def user(self, user_id: int, name: str) -> TgUser:
        return TgUser(self.fake, user_id, name)

    def act(self, user: TgUser, do: Callable[[TgUser], int]) -> int:
        """One update from `user`, handled, and whatever it queued delivered."""
        update_id = do(user)
        if self.mode == "webhook":
            assert user.last is not None and user.last.status_code == 200, user.last
        else:
            self.fake.wait_consumed(update_id)
        self.deliver()
        return update_id

    def press(self, user: TgUser, message: dict[str, Any], data: str) -> None:
        update = user.press_update(message, data)
        self.pressed.append(update["callback_query"]["id"])
        self.act(user, lambda u: u.send(update))

    def deliver(self, later: timedelta = timedelta(0)) -> int:
        return drain(self.sessions, self.channels, self.clock.now + later)


@pytest.fixture(params=["webhook", "polling"])
def world(request: pytest.FixtureRequest, db_url: str) -> Iterator[World]:
    mode = request.param
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    fake = FakeTelegram().start()
    settings = Settings(database_url=db_url, telegram_token=TOKEN,
                        telegram_base_url=fake.base_url,
                        telegram_base_file_url=fake.base_file_url,
                        telegram_webhook_secret=WEBHOOK_SECRET, telegram_mode=mode)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    # on PostgreSQL the webhooks run the core on the event loop, as `visitbot run` does
    core = Core(sessions, settings, clock=clock,
                async_url=None if is_sqlite(db_url) else db_url)
    server: ServerThread | None = None
    poller: Poller | None = None
    if mode == "webhook":
        server = ServerThread(build_app(core, settings, [webhook_routes(core, settings)])).start()
        public = settings.model_copy(update={"public_url": server.url})
        assert asyncio.run(setup_webhook(public))
        assert fake.webhook == {"url": server.url + "/telegram",
                                "secret_token": WEBHOOK_SECRET,
                                "allowed_updates": ["message", "edited_message",
                                                    "callback_query"]}
    else:
        assert webhook_routes(core, settings) == []  # no endpoint without a webhook
        poller = Poller(core, settings).start()
        fake.wait_for(lambda: fake.sent("getUpdates"), what="the first getUpdates")
        assert fake.sent("deleteWebhook")
    channels = {"telegram": TelegramChannel(settings)}
    try:
        yield World(mode, sessions, clock, fake, channels)
        if poller is not None:
            assert poller.error is None, poller.error
    finally:
        if poller is not None:
            poller.close()
        if server is not None:
            server.stop()
        fake.stop()
        engine.dispose()


def cast(sessions: sessionmaker[Session]) -> tuple[int, int, int, int]:
    """(visitor, subject, township officer, child) from the sample roster."""
    import_roster(sessions, SAMPLE_ROSTER, policy_default="linzi-2022")
    import_roster(sessions, SAMPLE_STAFF, policy_default="linzi-2022")
    with sessions() as s:
        subject, visitor_id = s.execute(
            select(Subject, Assignment.visitor_id)
            .join(Assignment, Assignment.subject_id == Subject.person_id)
            .join(FamilyLink, FamilyLink.subject_id == Subject.person_id)
            .order_by(Subject.tier.desc(), Subject.person_id)).first()
        subject.family_notify_consent = True
        child_id = s.scalar(select(FamilyLink.person_id).where(
            FamilyLink.subject_id == subject.person_id).limit(1))
        village = s.get(Person, subject.person_id).jurisdiction  # type: ignore[union-attr]
        officer_id = s.scalar(select(Role.person_id).where(
            Role.role == "officer", Role.jurisdiction_id == village.parent_id).limit(1))
        s.commit()
        return visitor_id, subject.person_id, officer_id, child_id


def invite(sessions: sessionmaker[Session], person_id: int, now: datetime) -> str:
    with sessions() as s:
        code = create_invite(s, person_id, now, 72)
        s.commit()
        return code


def buttons(message: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(callback data, label) of a message's live keyboard."""
    rows = ((message or {}).get("reply_markup") or {}).get("inline_keyboard") or []
    return [(b["callback_data"], b["text"]) for row in rows for b in row]


def answer_for(message: dict[str, Any], repeats: int) -> tuple[str, str | None]:
    """(words to type, button to press) like a hurried visitor; the risky one on purpose."""
    text, live = message.get("text", ""), buttons(message)
    confirm = [data for data, _ in live if data.startswith("c:confirm:")]
    if confirm:
        return "确认", confirm[0]
    done = [d for d, label in live if d.split(":")[2:3] == ["done"]]
    if done and any(label.startswith("✓ ") for _, label in live):
        return "完成", done[0]
    answers = [(d, label) for d, label in live if d.startswith("a:")]
    if answers:
        data, label = answers[-1] if RISKY.search(text) and len(answers) > 1 else answers[0]
        return label, data
    fallbacks = ["无", "今天", "0", "跳过"]
    if "日期" in text or "时间" in text:
        fallbacks = ["今天", "跳过"]
    return fallbacks[min(repeats, len(fallbacks) - 1)], None


def question_of(message: dict[str, Any]) -> str:
    """A question's text, less the line on top saying what was chosen at the one before."""
    text = str(message.get("text", ""))
    return text.split("\n\n", 1)[-1] if text.startswith("✅ 上一题 ") else text


def test_visit_over_telegram(world: World) -> None:
    w, fake = world, world.fake
    visitor_id, subject_id, officer_id, child_id = cast(w.sessions)
    visitor, officer, child = (w.user(VISITOR, "李探访"), w.user(OFFICER, "王干部"),
                               w.user(CHILD, "张家属"))
    t0 = w.clock.now

    # -- before binding: a polite explanation, and nothing else
    w.act(visitor, lambda u: u.text("/visits"))
    assert "尚未绑定" in fake.last_message(VISITOR)["text"]  # type: ignore[index]

    # -- binding: /start CODE (the deep link t.me/bot?start=CODE sends just that)
    for user, person in ((visitor, visitor_id), (officer, officer_id), (child, child_id)):
        code = invite(w.sessions, person, t0)
        w.act(user, lambda u, c=code: u.text(f"/start {c}"))
    with w.sessions() as s:
        accounts = {a.external_id: a.person_id for a in s.scalars(
            select(Account).where(Account.platform == "telegram"))}
    assert accounts == {str(VISITOR): visitor_id, str(OFFICER): officer_id,
                        str(CHILD): child_id}
    assert fake.commands and {c["command"] for c in fake.commands} >= {"visits", "cases"}

    # -- two days later the tick reminds the visitor, with a start button
    w.clock.now = t0 + timedelta(hours=49)
    tick(w.sessions, w.clock.now)
    w.deliver(later=timedelta(hours=24))
    with w.sessions() as s:
        visit_id, due_on = s.execute(select(Visit.id, Visit.due_on).where(
            Visit.subject_id == subject_id, Visit.status == "planned").order_by(Visit.due_on)
        ).first()  # type: ignore[misc]

    def reminded() -> dict[str, Any] | None:
        return next((m for m in reversed(fake.messages(VISITOR))
                     if any(d == f"start:{visit_id}" for d, _ in buttons(m))), None)

    if reminded() is None:
        # the digest lists what is due soon: on a day of the month when this subject's visit
        # is further off, the reminder for it comes on its due day
        w.clock.now = max(w.clock.now, datetime.combine(due_on, time(9), SHANGHAI)
                          .astimezone(UTC))
        tick(w.sessions, w.clock.now)
        w.deliver(later=timedelta(hours=24))
    reminder = reminded()
    assert reminder is not None, "no reminder with a start button for the subject's visit"
    w.press(visitor, reminder, f"start:{visit_id}")
    assert not buttons(fake.message(VISITOR, reminder["message_id"])), "keyboard left live"

    # -- the whole checklist: buttons mostly, some typed, a photo where asked for
    typed = pressed = photos = in_place = moved_on = 0
    last_text, repeats = "", 0
    for step in range(MAX_STEPS):
        with w.sessions() as s:
            if s.get(Visit, visit_id).status == "filed":  # type: ignore[union-attr]
                break
        message = fake.last_message(VISITOR)
        assert message is not None
        repeats = repeats + 1 if message.get("text") == last_text else 0
        last_text = message.get("text", "")
        if "请发送一张现场照片" in last_text and not photos:
            w.act(visitor, lambda u: u.photo(caption="门口"))
            photos += 1
            continue
        label, data = answer_for(message, repeats)
        if data is not None and step % 5 != 4:
            before = fake.message(VISITOR, message["message_id"])
            w.press(visitor, message, data)
            after = fake.message(VISITOR, message["message_id"])
            assert after is not None and before is not None
            if buttons(after) and question_of(after) != question_of(before):
                # the next question in the pressed one's place, by webhook answer or
                # from the outbox, with what was chosen on its first line
                assert after.get("edit_date") and after["text"].startswith("✅ 上一题 ")
                assert fake.last_message(VISITOR) == after, "the next question came anew"
                moved_on += 1
            elif buttons(after):  # the same question again (a toggle): edited in place
                assert after.get("edit_date") and after != before
                in_place += 1
            else:  # the review, the record filed: a new message, the pressed one retired
                assert f"已选：{label}" in after["text"] or data.startswith("c:")
            pressed += 1
        else:
            w.act(visitor, lambda u, t=label: u.text(t))
            typed += 1
    with w.sessions() as s:
        visit = s.get(Visit, visit_id)
        assert visit is not None and visit.status == "filed", "the record was not filed"
        photo = s.scalar(select(Answer.value).where(Answer.visit_id == visit_id,
                                                    Answer.question_id == "photo"))
        case = s.scalars(select(Case).where(Case.subject_id == subject_id)
                         .order_by(Case.id)).first()
    assert pressed > 10 and typed and photos == 1, (pressed, typed, photos)
    assert moved_on > 5, moved_on
    assert photo and str(photo["photo"]).startswith("photo-")
    assert case is not None, "the gas-safety answer opened no case"

    # -- the officer's alert, acknowledged by its button, then resolved by command
    w.deliver()
    alert = next(m for m in reversed(fake.messages(OFFICER))
                 if any(d == f"ack:{case.id}" for d, _ in buttons(m)))
    w.press(officer, alert, f"ack:{case.id}")
    assert not buttons(fake.message(OFFICER, alert["message_id"]))
    with w.sessions() as s:
        assert s.get(Case, case.id).status == "acked"  # type: ignore[union-attr]
    w.act(officer, lambda u: u.text("/cases"))
    assert str(case.id) in fake.last_message(OFFICER)["text"]  # type: ignore[index]
    w.act(officer, lambda u: u.text(f"/resolve {case.id} 已上门检查燃气，更换软管"))
    with w.sessions() as s:
        assert s.get(Case, case.id).status == "resolved"  # type: ignore[union-attr]

    # -- the child was told, and can look at the last visit
    assert len(fake.messages(CHILD)) >= 2  # bound, then the visit notice
    w.act(child, lambda u: u.text("/status"))
    status = fake.last_message(CHILD)["text"]  # type: ignore[index]
    assert visit.visited_on is not None and visit.visited_on.isoformat() in status

    # -- every button press was acknowledged (without the reply waiting for it), once,
    # and every update processed once
    fake.wait_for(lambda: all(fake.answered(q) for q in w.pressed), what="acknowledgements")
    assert w.pressed and sorted(c.params["callback_query_id"]
                                for c in fake.sent("answerCallbackQuery")) == sorted(w.pressed)
    with w.sessions() as s:
        seen = s.scalar(select(func.count()).select_from(InboundSeen).where(
            InboundSeen.platform == "telegram"))
    # 3 binds (the unbound /visits before them wrote nothing), + /cases, /resolve, /status
    assert seen == 3 + len(w.pressed) + typed + photos + 3
    if w.mode == "webhook":
        assert fake.sent("sendMessage") and any(c.via == "webhook" for c in fake.calls)
    # a multi-choice toggle edits its question in place, by webhook answer or by API
    assert in_place


def _type_until(w: World, visitor: TgUser, visit_id: int, stop: Callable[[str], bool]) -> None:
    """Answer the visit's questions by typing (so every question keeps its keyboard)
    until `stop(the question now asked)`."""
    from store.models import Conversation

    last_text, repeats = "", 0
    for _ in range(MAX_STEPS):
        with w.sessions() as s:
            conv = s.scalars(select(Conversation).where(Conversation.visit_id == visit_id)).one()
            if stop(conv.state["cur"]) or conv.state["status"] == "filed":
                return
        message = w.fake.last_message(VISITOR)
        assert message is not None
        repeats = repeats + 1 if message.get("text") == last_text else 0
        last_text = message.get("text", "")
        label, _data = answer_for(message, repeats)
        w.act(visitor, lambda u, t=label: u.text(t))
    raise AssertionError("the checklist did not get there")


def test_a_button_of_another_subjects_filed_visit_stores_nothing(world: World) -> None:
    """A linzi visit of one subject is filed by typing, so its questions keep their
    keyboards; on a guangxi visit of another subject, pressing the old 疾病状况 button
    is refused as expired, nothing is stored, and the current question comes again."""
    w, fake = world, world.fake
    visitor_id, subject_id, _officer, _child = cast(w.sessions)
    visitor = w.user(VISITOR, "李探访")
    w.act(visitor, lambda u: u.text(f"/start {invite(w.sessions, visitor_id, w.clock.now)}"))
    today = w.clock.now.astimezone(SHANGHAI).date()
    with w.sessions() as s:
        other = s.scalar(select(Subject.person_id).where(Subject.person_id != subject_id)
                         .order_by(Subject.person_id).limit(1))
        assert other is not None
        s.add(Assignment(subject_id=other, visitor_id=visitor_id, starts_on=today))
        visits = [Visit(subject_id=sid, visitor_id=visitor_id, policy=policy, kind="adhoc",
                        due_on=today, window_opens=today, deadline=today, status="planned")
                  for sid, policy in ((subject_id, "linzi-2022"), (other, "guangxi-2023"))]
        s.add_all(visits)
        s.commit()
        filed_id, open_id = visits[0].id, visits[1].id
    bare = {"message_id": 1, "date": 0, "text": "提醒", "chat": {"id": VISITOR,
                                                                 "type": "private"}}
    w.press(visitor, bare, f"start:{filed_id}")
    _type_until(w, visitor, filed_id, lambda cur: False)
    with w.sessions() as s:
        assert s.get(Visit, filed_id).status == "filed"  # type: ignore[union-attr]
        filed_answers = dict(s.execute(select(Answer.question_id, Answer.display)
                                       .where(Answer.visit_id == filed_id)).all())
    old = next(m for m in fake.messages(VISITOR)
               if any(d.startswith("a:illness:3:") for d, _ in buttons(m)))
    stale = next(d for d, _ in buttons(old) if d.startswith("a:illness:3:"))

    w.press(visitor, bare, f"start:{open_id}")
    _type_until(w, visitor, open_id, lambda cur: cur == "illness")
    with w.sessions() as s:
        before = s.scalar(select(func.count()).select_from(Answer)
                          .where(Answer.visit_id == open_id))
    sent_before = len(fake.messages(VISITOR))
    w.press(visitor, old, stale)

    replies = fake.messages(VISITOR)[sent_before:]
    assert replies and "已过期" in replies[0]["text"], replies
    assert any(d.startswith("a:illness:") for m in replies for d, _ in buttons(m)), \
        "the current question was not asked again"
    retired = fake.message(VISITOR, old["message_id"])
    assert retired is not None and not buttons(retired) and "已选" not in retired["text"]
    with w.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Answer)
                        .where(Answer.visit_id == open_id)) == before
        assert s.scalar(select(Answer.id).where(Answer.visit_id == open_id,
                                                Answer.question_id == "illness")) is None
        assert dict(s.execute(select(Answer.question_id, Answer.display)
                              .where(Answer.visit_id == filed_id)).all()) == filed_answers
    # the current question's own button still answers it
    current = fake.last_message(VISITOR)
    data, label = next((d, lbl) for d, lbl in buttons(current) if d.startswith("a:illness:"))
    w.press(visitor, current, data)  # type: ignore[arg-type]
    with w.sessions() as s:
        assert s.scalar(select(Answer.display).where(
            Answer.visit_id == open_id, Answer.question_id == "illness")) == label


def test_cancel_over_telegram_and_the_registered_command_menu(world: World) -> None:
    """/cancel and /取消 cancel the checklist; the menu given to setMyCommands offers them,
    and every command in it is one the bot acts on."""
    from bot.chat.router import COMMANDS, RECORD
    from conversations.engine import command_of

    w, fake = world, world.fake
    visitor_id, subject_id, _officer, _child = cast(w.sessions)
    visitor = w.user(VISITOR, "李探访")
    w.act(visitor, lambda u: u.text(f"/start {invite(w.sessions, visitor_id, w.clock.now)}"))
    menu = {c["command"] for c in fake.commands}
    assert {"cancel", "back", "skip", "pause", "resume", "record", "visits", "help"} <= menu
    for name in menu:
        assert f"/{name}" in COMMANDS or command_of(f"/{name}") or RECORD.match(f"/{name}"), name

    today = w.clock.now.astimezone(SHANGHAI).date()
    # a regular visit goes back to planned when its checklist is cancelled (an ad-hoc
    # record is cancelled with it: test_adhoc_cancel.py)
    visit_id = planned_visit(w.sessions, subject_id, visitor_id, today, "regular")
    bare = {"message_id": 1, "date": 0, "text": "提醒", "chat": {"id": VISITOR,
                                                                 "type": "private"}}
    for said in ("/cancel", "/取消", "/cancel@visitbot_test_bot"):
        w.press(visitor, bare, f"start:{visit_id}")
        w.act(visitor, lambda u: u.text("1"))  # the way of visiting: an answer stored
        with w.sessions() as s:
            assert s.get(Visit, visit_id).status == "in_progress"  # type: ignore[union-attr]
        w.act(visitor, lambda u, t=said: u.text(t))
        assert "已取消" in fake.last_message(VISITOR)["text"], said  # type: ignore[index]
        with w.sessions() as s:
            assert s.get(Visit, visit_id).status == "planned", said  # type: ignore[union-attr]
            assert s.scalar(select(func.count()).select_from(Answer)
                            .where(Answer.visit_id == visit_id)) == 0


def test_a_checklist_walked_by_buttons_is_one_message_edited_in_place(
        world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole linzi checklist by button presses alone (its one required free-text
    question made optional here, so that it has a 跳过 button): every press is
    acknowledged exactly once, each next question arrives as an edit of the pressed
    message (what was chosen on its first line), and no message but the question asked
    now ever holds a live keyboard; the review and the filed record come as new
    messages, the pressed one's keyboard retired."""
    from conversations import checklist as checklist_mod
    from conversations.checklist import PACKAGED
    from store.models import Conversation

    text = (PACKAGED / "linzi-2022.yaml").read_text(encoding="utf-8")
    required = "        type: text\n      # 时间银行"
    assert required in text
    (tmp_path / "linzi-2022.yaml").write_text(text.replace(
        required, "        type: text\n        required: false\n      # 时间银行"),
        encoding="utf-8")
    monkeypatch.setenv("VISITBOT_CHECKLISTS_DIR", str(tmp_path))
    checklist_mod._recent.clear()
    w, fake = world, world.fake
    visitor_id, subject_id, _officer, _child = cast(w.sessions)
    visitor = w.user(VISITOR, "李探访")
    w.act(visitor, lambda u: u.text(f"/start {invite(w.sessions, visitor_id, w.clock.now)}"))
    today = w.clock.now.astimezone(SHANGHAI).date()
    visit_id = planned_visit(w.sessions, subject_id, visitor_id, today, "adhoc")
    bare = {"message_id": 1, "date": 0, "text": "提醒", "chat": {"id": VISITOR,
                                                                 "type": "private"}}
    w.press(visitor, bare, f"start:{visit_id}")

    def live() -> list[dict[str, Any]]:
        return [m for m in fake.messages(VISITOR) if buttons(m)]

    def asked() -> str:
        with w.sessions() as s:
            return str(s.scalars(select(Conversation.state).where(
                Conversation.visit_id == visit_id)).one()["cur"])

    def press_for(message: dict[str, Any]) -> str:
        shown = buttons(message)
        confirm = [d for d, _ in shown if d.startswith("c:confirm:")]
        phone = [d for d, label in shown if label == "电话问候"]  # no photo to take
        done = [d for d, label in shown if d.split(":")[2:3] == ["done"]]
        answers = [d for d, _ in shown if d.startswith("a:") and d not in done]
        if done and any(label.startswith("✓ ") for _, label in shown):
            return done[0]
        return (confirm or phone or answers or [d for d, _ in shown
                                                if d.startswith("c:skip:")])[0]

    moved = toggled = 0
    for _ in range(MAX_STEPS):
        with w.sessions() as s:
            if s.get(Visit, visit_id).status == "filed":  # type: ignore[union-attr]
                break
        question = fake.last_message(VISITOR)
        assert question is not None and live() == [question], "more than one live keyboard"
        count, was = len(fake.messages(VISITOR)), asked()
        data = press_for(question)
        w.press(visitor, question, data)
        after = fake.message(VISITOR, question["message_id"])
        assert after is not None and after.get("edit_date"), "the pressed message is as it was"
        if data.startswith("c:confirm:"):
            continue  # filed: checked below
        if buttons(after) and asked() != was:
            # the next question, in the pressed message's place, with what was chosen on
            # its first line: nothing new in the chat
            assert after["text"].startswith("✅ 上一题 "), after["text"]
            assert buttons(after) != buttons(question), after["text"]
            assert len(fake.messages(VISITOR)) == count
            moved += 1
        elif buttons(after):
            # a multi-choice option toggled: the same question, edited in place, still
            # saying what was chosen at the one before
            assert ":done:" not in data and "✓ " in str(buttons(after)), after["text"]
            assert after["text"].startswith("✅ 上一题 "), after["text"]
            assert len(fake.messages(VISITOR)) == count
            toggled += 1
        else:
            # the last answer: the review comes anew, the pressed keyboard retired
            review = fake.last_message(VISITOR)
            assert not buttons(after) and "已选：" in after["text"], after
            assert review is not None and any(d.startswith("c:confirm:")
                                              for d, _ in buttons(review)), review
    with w.sessions() as s:
        assert s.get(Visit, visit_id).status == "filed"  # type: ignore[union-attr]
    assert live() == [], "a keyboard was left live after filing"
    assert moved >= 20 and toggled >= 1, (moved, toggled)
    # every press acknowledged exactly once (the start press too)
    fake.wait_for(lambda: all(fake.answered(q) for q in w.pressed), what="acknowledgements")
    acks = Counter(c.params.get("callback_query_id") for c in fake.calls
                   if c.method == "answerCallbackQuery")
    assert acks == Counter(w.pressed)
    assert len(w.pressed) == moved + toggled + 3  # start, the last answer, confirm
