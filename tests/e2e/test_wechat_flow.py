"""End to end over WeChat and WeCom: real HTTP, real crypto, the real core and dispatcher.

A visitor binds by scanning a QR code (subscribe with scene), stays silent for two days
and gets the reminder as a template message, then answers the whole checklist by text,
by msgmenu click and by voice; a retried message is processed once; the risky answer's
alert reaches the township officer on WeCom; the child is told by WeChat.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.channels.wechat import WeChatChannel, wechat_routes
from bot.channels.wecom import WeComChannel, wecom_routes
from bot.chat.binding import create_invite
from bot.chat.service import Core
from bot.settings import Settings
from bot.web.app import build_app
from conversations.messages import Outgoing
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
    OutboxMessage,
    Person,
    Role,
    Subject,
    Visit,
)
from store.roster.importer import import_roster
from store.samples import SAMPLE_ROSTER, SAMPLE_STAFF
from tests.fakes.wechat_server import (
    AES_KEY,
    AGENT_ID,
    APP_ID,
    APP_SECRET,
    CORP_ID,
    CORP_SECRET,
    TOKEN,
    FakePlatform,
    ServerThread,
    WeChatUser,
    WeComUser,
)
from tests.world import planned_visit

RISKY = re.compile(r"燃气")
TEMPLATES = {"reminder": "TPL-REMIND", "alert": "TPL-ALERT", "family_visit": "TPL-FAMILY",
             "family_case": "TPL-FAMILY-CASE", "default": "TPL-DEFAULT"}
MAX_STEPS = 120


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def epoch(self) -> float:
        return self.now.timestamp()


@dataclass
class World:
    sessions: sessionmaker[Session]
    clock: Clock
    fake: FakePlatform
    wechat: WeChatUser
    wecom: WeComUser
    channels: dict[str, Any]

    def deliver(self, later: timedelta = timedelta(0)) -> int:
        return drain(self.sessions, self.channels, self.clock.now + later)

    def last_to(self, platform: str, external_id: str) -> Outgoing | None:
        """The newest message the bot wrote for this account (passive or by API)."""
        with self.sessions() as s:
            row = s.scalars(select(OutboxMessage).where(
                OutboxMessage.platform == platform, OutboxMessage.external_id == external_id)
                .order_by(OutboxMessage.id.desc()).limit(1)).first()
            return Outgoing.from_payload(row.payload) if row else None


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    fake = FakePlatform(enforce_window=True, clock=clock.epoch).start()
    settings = Settings(
        database_url=db_url, wechat_app_id=APP_ID, wechat_app_secret=APP_SECRET,
        wechat_token=TOKEN, wechat_aes_key=AES_KEY, wechat_api_base=fake.wechat_api_base,
        wechat_templates=TEMPLATES, wecom_corp_id=CORP_ID, wecom_secret=CORP_SECRET,
        wecom_agent_id=AGENT_ID, wecom_token=TOKEN, wecom_aes_key=AES_KEY,
        wecom_api_base=fake.wecom_api_base)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    # on PostgreSQL the webhooks run the core on the event loop, as `visitbot run` does
    core = Core(sessions, settings, clock=clock,
                async_url=None if is_sqlite(db_url) else db_url)
    app = build_app(core, settings, [wechat_routes(core, settings),
                                     wecom_routes(core, settings)])
    server = ServerThread(app).start()
    channels = {"wechat": WeChatChannel(settings, sessions, clock=clock),
                "wecom": WeComChannel(settings, sessions, clock=clock)}
    wechat = WeChatUser(server.url, aes_key=AES_KEY, platform=fake)
    wecom = WeComUser(server.url)
    try:
        yield World(sessions, clock, fake, wechat, wecom, channels)
    finally:
        wechat.close()
        wecom.close()
        server.stop()
        fake.stop()
        engine.dispose()


def cast(sessions: sessionmaker[Session], now: datetime | None = None
         ) -> tuple[int, int, int, int]:
    """(visitor, subject, township officer, child) from the sample roster, as in the demo.

    The roster counts from the first of last month: every subject owes a visit now (a
    subject new today would first be due after a fair window, see scheduler.due)."""
    today = (now or datetime.now(UTC)).astimezone(ZoneInfo("Asia/Shanghai")).date()
    since = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    import_roster(sessions, SAMPLE_ROSTER, policy_default="linzi-2022", today=since)
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


def answer_for(message: Outgoing, repeats: int) -> tuple[str, str | None]:
    """(label to say, choice value) like a hurried visitor; the risky one on purpose."""
    text = message.text
    confirm = [c for c in message.choices if c.value.startswith("c:confirm:")]
    if confirm:  # the review before filing
        return confirm[0].label, confirm[0].value
    if message.choices:
        pick = message.choices[-1] if RISKY.search(text) and len(message.choices) > 1 \
            else message.choices[0]
        return pick.label, pick.value
    if "确认" in text and ("提交" in text or "汇总" in text):
        return "确认", None
    fallbacks = ["无", "今天", "0", "跳过"]
    if "日期" in text or "时间" in text:
        fallbacks = ["今天", "跳过"]
    return fallbacks[min(repeats, len(fallbacks) - 1)], None


def test_visit_over_wechat_with_officer_on_wecom(world: World) -> None:
    w, fake = world, world.fake
    visitor_id, subject_id, officer_id, child_id = cast(w.sessions, w.clock.now)
    assert officer_id and child_id
    t0 = w.clock.now
    v_openid, c_openid, officer_uid = "o-visitor-1", "o-child-1", "wang.officer"

    # -- binding: visitor and child scan QR codes; the officer types 绑定 CODE in WeCom
    bound = w.wechat.subscribe(v_openid, invite(w.sessions, visitor_id, t0))
    assert bound.status == 200 and bound.content
    assert w.wechat.subscribe(c_openid, invite(w.sessions, child_id, t0)).content
    code = invite(w.sessions, officer_id, t0)
    assert w.wecom.text(officer_uid, f"绑定 {code}").status_code == 200
    w.deliver()
    assert [c.body["touser"] for c in fake.sent("message/send")] == [officer_uid]
    with w.sessions() as s:
        accounts = {(a.platform, a.external_id): a.person_id for a in s.scalars(select(Account))}
    assert accounts[("wechat", v_openid)] == visitor_id
    assert accounts[("wechat", c_openid)] == child_id
    assert accounts[("wecom", officer_uid)] == officer_id

    # -- two days of silence, then the tick: the reminder goes as a template message
    w.clock.now = t0 + timedelta(hours=49)
    tick(w.sessions, w.clock.now)
    w.deliver(later=timedelta(hours=24))
    reminders = [c for c in fake.sent("message/template/send")
                 if c.body["touser"] == v_openid]
    assert reminders and reminders[0].body["template_id"] == "TPL-REMIND"
    assert not [c for c in fake.sent("message/custom/send") if c.body["touser"] == v_openid]

    # -- the visitor starts the record by text and answers every question
    with w.sessions() as s:
        visit_id = s.scalar(select(Visit.id).where(
            Visit.subject_id == subject_id, Visit.status == "planned").order_by(Visit.due_on))
    assert visit_id is not None
    first = w.wechat.menu_click(v_openid, f"start:{visit_id}", "开始记录")
    assert first.status == 200 and first.content, first.body
    w.deliver()
    kinds = {"text": 0, "menu": 0, "voice": 0}
    last_text, repeats = "", 0
    retried = False
    for step in range(MAX_STEPS):
        with w.sessions() as s:
            if s.get(Visit, visit_id).status == "filed":  # type: ignore[union-attr]
                break
        message = w.last_to("wechat", v_openid)
        assert message is not None
        repeats = repeats + 1 if message.text == last_text else 0
        last_text = message.text
        label, value = answer_for(message, repeats)
        how = ("menu", "voice", "text")[step % 3] if value else ("voice", "text")[step % 2]
        if how == "menu" and value:
            reply = w.wechat.menu_click(v_openid, value, label)
        elif how == "voice":
            reply = w.wechat.voice(v_openid, label)
        else:
            msg_id = w.wechat.next_msg_id()
            reply = w.wechat.text(v_openid, label, msg_id=msg_id)
            if not retried:  # WeChat's retry of the same MsgId: processed once, and
                # given the first delivery's reply (its response may have been lost)
                again = w.wechat.text(v_openid, label, msg_id=msg_id)
                assert again.status == 200 and again.content == reply.content
                with w.sessions() as s:
                    assert s.scalar(select(func.count()).select_from(InboundSeen).where(
                        InboundSeen.message_key == str(msg_id))) == 1
                retried = True
        assert reply.status == 200, reply.body
        kinds[how] += 1
        w.deliver()
    with w.sessions() as s:
        visit = s.get(Visit, visit_id)
        assert visit is not None and visit.status == "filed", "the record was not filed"
        cases = s.scalars(select(Case).where(Case.subject_id == subject_id)).all()
    assert all(kinds.values()), kinds
    assert retried and cases, "the risky answer opened no case"

    # -- the officer got the alert on WeCom, as a card with buttons, and acknowledges it
    w.deliver()
    alerts = [c for c in fake.sent("message/send") if c.body["touser"] == officer_uid
              and c.body["msgtype"] == "template_card"]
    assert alerts, [c.body for c in fake.sent("message/send")]
    keys = [b["key"] for b in alerts[-1].body["template_card"]["button_list"]]
    ack = next(k for k in keys if k.startswith("ack:"))
    task = alerts[-1].body["template_card"]["task_id"]
    assert w.wecom.card_button(officer_uid, ack, task).status_code == 200
    w.deliver()
    with w.sessions() as s:
        case = s.get(Case, int(ack.split(":")[1]))
        assert case is not None and case.status in ("acked", "resolved")

    # -- the child was told: a template (they have not written in 49 hours)
    family = [c for c in fake.calls if c.body and c.body.get("touser") == c_openid
              and c.answer.get("errcode") == 0]
    assert family, "the child got no notice"
    assert any(c.body.get("template_id", "").startswith("TPL-FAMILY") for c in family)


def test_unsubscribe_unbinds(world: World) -> None:
    visitor_id, *_ = cast(world.sessions)
    code = invite(world.sessions, visitor_id, world.clock.now)
    assert world.wechat.subscribe("o-leaver", code).status == 200
    assert world.wechat.unsubscribe("o-leaver").status == 200
    with world.sessions() as s:
        assert s.scalar(select(Account.id).where(Account.external_id == "o-leaver")) is None


def test_the_review_has_one_numbering_and_menus_do_not_repeat_the_options(
        world: World) -> None:
    """The review numbers its items and nothing else: 确认/取消 are words (and menu items),
    so "2" opens item 2, which the text calls 2. A question sent as a menu does not list
    its options in the text above the menu as well."""
    w = world
    visitor_id, subject_id, _officer, _child = cast(w.sessions)
    openid = "o-visitor-review"
    assert w.wechat.subscribe(openid, invite(w.sessions, visitor_id, w.clock.now)).content
    with w.sessions() as s:
        visit_id = s.scalar(select(Visit.id).where(Visit.subject_id == subject_id)
                            .order_by(Visit.due_on).limit(1))
    if visit_id is None:
        visit_id = planned_visit(w.sessions, subject_id, visitor_id, w.clock.now.date(),
                                 "adhoc")
    reply = w.wechat.menu_click(openid, f"start:{visit_id}", "开始记录")
    last_text, repeats = "", 0
    for _ in range(MAX_STEPS):
        content = reply.content or ""
        if "请核对本次探访记录" in content:
            break
        w.deliver()  # the question menus go out by API
        message = w.last_to("wechat", openid)
        assert message is not None
        repeats = repeats + 1 if message.text == last_text else 0
        last_text = message.text
        label, _value = answer_for(message, repeats)
        reply = w.wechat.text(openid, label)
    review = reply.content or ""
    assert "请核对本次探访记录" in review, review
    numbered = re.findall(r"^(\d+)\. (.+?)：", review, re.M)
    assert [int(n) for n, _ in numbered] == list(range(1, len(numbered) + 1))
    assert numbered[1][1] == "探访日期" and "确认提交" not in review
    assert "“确认”" in review and "“取消”" in review
    reply = w.wechat.text(openid, "2")  # what the text calls 2: the date
    assert "探访日期是哪天" in (reply.content or "")

    menus = [c.body["msgmenu"] for c in w.fake.sent("message/custom/send")
             if c.body["touser"] == openid and c.body["msgtype"] == "msgmenu"]
    assert menus
    for menu in menus:
        items = [i["content"] for i in menu["list"]]
        assert not any(re.search(rf"^\d+\. (✓ )?{re.escape(i)}$", menu["head_content"], re.M)
                       for i in items), menu


def _spoken(n: int) -> str:
    """1..99 as a recogniser writes it: 十一, 二十, 三十一."""
    digits = "零一二三四五六七八九"
    tens, ones = divmod(n, 10)
    return ((digits[tens] if tens > 1 else "") + "十" if tens else "") + (
        digits[ones] if ones or not tens else "")


def test_a_voice_date_with_the_recognisers_full_stop_is_accepted(world: World) -> None:
    """WeChat's recognition writes "二零二六年十一月二十日。": the visit date is taken."""
    w = world
    visitor_id, subject_id, _officer, _child = cast(w.sessions)
    openid = "o-visitor-voice"
    assert w.wechat.subscribe(openid, invite(w.sessions, visitor_id, w.clock.now)).content
    day = w.clock.now.astimezone(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)
    visit_id = planned_visit(w.sessions, subject_id, visitor_id, day, "adhoc")
    assert w.wechat.menu_click(openid, f"start:{visit_id}", "开始记录").status == 200
    # the transcript is echoed in the passive reply; the mode is taken from it
    assert "上门巡访" in (w.wechat.voice(openid, "上门巡访。").content or "")
    with w.sessions() as s:
        mode = s.scalar(select(Answer.value).where(Answer.visit_id == visit_id,
                                                   Answer.question_id == "_mode"))
    assert mode == "in_person"
    said = ("".join("零一二三四五六七八九"[int(c)] for c in str(day.year))
            + f"年{_spoken(day.month)}月{_spoken(day.day)}日。")
    reply = w.wechat.voice(openid, said)
    assert reply.status == 200
    with w.sessions() as s:
        stored = s.scalar(select(Answer.value).where(Answer.visit_id == visit_id,
                                                     Answer.question_id == "_date"))
    assert stored == day.isoformat(), (said, reply.content)


def test_invite_qr_code_binds_by_scanning_and_the_menu_is_installed(
        world: World, tmp_path: Path) -> None:
    """`visitbot invite --png` creates a WeChat parametric QR code (qrcode/create) and a
    Telegram t.me link (getMe), and writes the QR code as a PNG; scanning it (subscribe
    with qrscene_CODE) binds the account. `visitbot wechat menu` installs the menu, whose
    clicks are command words."""
    from click.testing import CliRunner

    from bot.cli.main import main
    from bot.cli.onboarding import write_png
    from tests.fakes.telegram_server import BOT_USERNAME, FakeTelegram
    from tests.fakes.telegram_server import TOKEN as TG_TOKEN

    w = world
    t0 = w.clock.epoch()
    visitor_id, *_ = cast(w.sessions)
    with w.sessions() as s:
        phone = s.get(Person, visitor_id).phone  # type: ignore[union-attr]
    url = str(w.sessions.kw["bind"].url.render_as_string(hide_password=False))
    png = tmp_path / "invite.png"
    with FakeTelegram() as tg:
        env = {"VISITBOT_DATABASE_URL": url, "VISITBOT_WECHAT_APP_ID": APP_ID,
               "VISITBOT_WECHAT_APP_SECRET": APP_SECRET,
               "VISITBOT_WECHAT_API_BASE": w.fake.wechat_api_base,
               "VISITBOT_TELEGRAM_TOKEN": TG_TOKEN, "VISITBOT_TELEGRAM_BASE_URL": tg.base_url}
        result = CliRunner().invoke(main, ["invite", phone, "--png", str(png)], env=env)
        assert result.exit_code == 0, result.output
        menu = CliRunner().invoke(main, ["wechat", "menu"], env=env)
        assert menu.exit_code == 0, menu.output
    [ticket] = w.fake.qr_scenes
    code = w.fake.qr_scenes[ticket]
    assert f"http://weixin.qq.com/q/{ticket}" in result.output
    assert f"https://t.me/{BOT_USERNAME}?start={code}" in result.output
    assert "<机器人用户名>" not in result.output
    expected = tmp_path / "expected.png"
    write_png(f"http://weixin.qq.com/q/{ticket}", expected)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.read_bytes() == expected.read_bytes()

    # the visitor scans it: WeChat sends subscribe with EventKey qrscene_CODE
    assert w.wechat.subscribe("o-scanned", code).content
    with w.sessions() as s:
        assert s.scalar(select(Account.person_id).where(
            Account.external_id == "o-scanned")) == visitor_id

    # the menu: every item is a click on a command word the bot answers
    assert w.fake.menu is not None
    keys = [b.get("key") for top in w.fake.menu["button"]
            for b in (top.get("sub_button") or [top])]
    assert {"待访", "个案", "帮助"} <= set(keys)
    for i, key in enumerate(keys):  # a click's id is its sender and second: one apart
        reply = w.wechat.event("o-scanned", "CLICK", key, create_time=int(t0) + 10 + i)
        assert reply.status == 200 and reply.content, key
