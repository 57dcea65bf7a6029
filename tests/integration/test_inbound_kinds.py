"""Every row of the inbound-kinds table (bot/chat/inbound.py), through each platform's
webhook, before binding, outside a checklist and at every position in one.

The platforms are played by the fakes (real XML/JSON, real signatures and AES); the core
is the real one on both stores. For each message the replies are the outbox rows it
wrote (every reply goes through the outbox, passive or not); what the row of the table
says decides what they must be, and no answer may be stored unless the row passes the
message to the checklist.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.channels.telegram_webhook import webhook_routes
from bot.channels.wechat import wechat_routes
from bot.channels.wecom import wecom_routes
from bot.chat.inbound import POSITIONS, TABLE, Do
from bot.chat.service import Core
from bot.settings import Settings
from bot.web.app import build_app
from conversations.checklist import load_checklist
from conversations.messages import Address, Incoming, Kind, Outgoing
from conversations.text import render
from scheduler.tick import tick
from store.db import is_sqlite, make_engine, session_factory
from store.models import Account, Answer, Assignment, Conversation, OutboxMessage, Visit
from store.roster.importer import import_roster
from store.samples import SAMPLE_ROSTER
from tests.fakes.telegram_server import TOKEN as TG_TOKEN
from tests.fakes.telegram_server import WEBHOOK_SECRET, FakeTelegram, TgUser
from tests.fakes.wechat_server import (
    AES_KEY,
    AGENT_ID,
    APP_ID,
    CORP_ID,
    TOKEN,
    ServerThread,
    WeChatUser,
    WeComUser,
)

ACCOUNTS = {"telegram": "81001", "wechat": "o-visitor-1", "wecom": "visitor-w"}
STRANGERS = {"telegram": "81002", "wechat": "o-stranger-1", "wecom": "stranger-w"}
SPECIAL = {"mode": "_mode", "visit_date": "_date", "review": "_review"}
SILENT = {Do.NOTHING, Do.UNBIND}
# Said here again, independently of the table: only these kinds may ever store an answer,
# and these are always answered with their hint by a bound visitor.
MAY_ANSWER = {Kind.TEXT, Kind.VOICE_TEXT, Kind.IMAGE, Kind.LOCATION, Kind.CALLBACK}
HINTS = {Kind.FORWARD: "inbound_forward", Kind.EDIT: "inbound_edit",
         Kind.VOICE_BLANK: "inbound_voice_unheard", Kind.VIDEO: "inbound_unsupported",
         Kind.FILE: "inbound_unsupported", Kind.LINK: "inbound_unsupported",
         Kind.OTHER: "inbound_unsupported"}


@dataclass
class World:
    sessions: sessionmaker[Session]
    core: Core
    fake: FakeTelegram
    wechat: WeChatUser
    wecom: WeComUser
    visitor: int
    visit: int
    conversation: int = 0
    base: dict[str, Any] = field(default_factory=dict)
    _times: Iterator[int] = field(default_factory=lambda: itertools.count(int(time.time())))

    def create_time(self) -> int:
        """Events have no MsgId: WeChat's id for them includes CreateTime, one a second."""
        return next(self._times)

    def bind(self, platform: str) -> None:
        with self.sessions() as s:
            if s.scalar(select(Account.id).where(
                    Account.platform == platform,
                    Account.external_id == ACCOUNTS[platform])) is None:
                s.add(Account(person_id=self.visitor, platform=platform,
                              external_id=ACCOUNTS[platform], bound_at=datetime.now(UTC),
                              last_inbound_at=datetime.now(UTC), free_sent=0))
                s.commit()

    def place(self, where: str) -> str:
        """Put the visitor's checklist at `where` (a POSITIONS entry), with no answers;
        the id of the question being asked."""
        cl = load_checklist("linzi-2022")
        cur = SPECIAL.get(where) or next(
            (q.id for q in cl.questions if q.type == where and not q.auto), "_review")
        # visited in person: the photo question (asked only then) applies
        answers = {"_mode": "in_person", **self.base["answers"]} if where != "mode" else dict(
            self.base["answers"])
        state = {**self.base, "cur": cur, "status": "active", "paused_from": None,
                 "answers": answers, "multi": []}
        state.pop("heard", None)
        status = "active"
        if where == "paused":
            state.update(status="paused", paused_from="active")
            status = "paused"
        with self.sessions() as s:
            s.execute(update(Conversation).where(Conversation.id == self.conversation)
                      .values(state=state, status=status))
            s.execute(delete(Answer).where(Answer.visit_id == self.visit))
            s.commit()
        return cur

    def outbox_mark(self) -> int:
        with self.sessions() as s:
            return s.scalar(select(func.max(OutboxMessage.id))) or 0

    def replies_since(self, mark: int, platform: str, external_id: str) -> list[Outgoing]:
        with self.sessions() as s:
            rows = s.scalars(select(OutboxMessage).where(
                OutboxMessage.id > mark, OutboxMessage.platform == platform,
                OutboxMessage.external_id == external_id).order_by(OutboxMessage.id)).all()
            return [Outgoing.from_payload(r.payload) for r in rows]

    def stored(self) -> tuple[int, dict[str, Any], str]:
        with self.sessions() as s:
            n = s.scalar(select(func.count()).select_from(Answer)
                         .where(Answer.visit_id == self.visit)) or 0
            conv = s.get(Conversation, self.conversation)
            assert conv is not None
            return n, dict(conv.state.get("answers") or {}), str(conv.state.get("cur"))


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    fake = FakeTelegram().start()
    settings = Settings(
        database_url=db_url, wechat_app_id=APP_ID, wechat_token=TOKEN, wechat_aes_key=AES_KEY,
        wecom_corp_id=CORP_ID, wecom_agent_id=AGENT_ID, wecom_token=TOKEN,
        wecom_aes_key=AES_KEY, telegram_token=TG_TOKEN, telegram_webhook_secret=WEBHOOK_SECRET,
        telegram_base_url=fake.base_url,
        chat_burst=0)  # hundreds of rows from one chat in seconds: no flood limit here
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    core = Core(sessions, settings, clock=lambda: datetime.now(UTC),
                async_url=None if is_sqlite(db_url) else db_url)
    app = build_app(core, settings, [wechat_routes(core, settings), wecom_routes(core, settings),
                                     webhook_routes(core, settings, setup=False)])
    server = ServerThread(app).start()
    fake.webhook = {"url": server.url + "/telegram", "secret_token": WEBHOOK_SECRET}
    import_roster(sessions, SAMPLE_ROSTER, policy_default="linzi-2022")
    tick(sessions, datetime.now(UTC))
    with sessions() as s:
        visitor, visit = s.execute(
            select(Assignment.visitor_id, Visit.id)
            .join(Visit, Visit.subject_id == Assignment.subject_id)
            .where(Visit.policy == "linzi-2022").order_by(Visit.id).limit(1)).one()
    w = World(sessions, core, fake, WeChatUser(server.url, aes_key=AES_KEY),
              WeComUser(server.url), visitor, visit)
    try:
        yield w
    finally:
        w.wechat.close()
        w.wecom.close()
        server.stop()
        fake.stop()
        engine.dispose()


def start_checklist(w: World) -> None:
    w.bind("wechat")
    w.core.handle(Incoming(Address("wechat", ACCOUNTS["wechat"]), "start-the-visit",
                           choice=f"start:{w.visit}"))
    with w.sessions() as s:
        conv = s.scalars(select(Conversation).where(Conversation.visit_id == w.visit)).one()
        w.conversation, w.base = conv.id, dict(conv.state)


# --- each platform's payloads, one or more per kind ---------------------------------------

Send = Callable[[World, str], Any]


def _tg(do: Callable[[TgUser], Any]) -> Send:
    return lambda w, ext: do(TgUser(w.fake, int(ext)))


def _tg_button(w: World, ext: str) -> Any:
    shown = {"message_id": w.fake.new_message_id(), "date": 0, "text": "帮助",
             "chat": {"id": int(ext), "type": "private"},
             "from": {"id": 7000001, "is_bot": True, "first_name": "bot"}}
    return TgUser(w.fake, int(ext)).press(shown, "c:help")


TELEGRAM: list[tuple[str, Kind, Send]] = [
    ("text", Kind.TEXT, _tg(lambda u: u.text("无"))),
    ("voice", Kind.VOICE_BLANK, _tg(lambda u: u.voice())),
    ("photo", Kind.IMAGE, _tg(lambda u: u.photo())),
    ("location", Kind.LOCATION, _tg(lambda u: u.location(36.81, 118.3))),
    ("video", Kind.VIDEO, _tg(lambda u: u.video())),
    ("document", Kind.FILE, _tg(lambda u: u.document())),
    ("sticker", Kind.OTHER, _tg(lambda u: u.sticker())),
    ("forward", Kind.FORWARD, _tg(lambda u: u.forward("无"))),
    ("edit", Kind.EDIT, _tg(lambda u: u.edit("无"))),
    ("button", Kind.CALLBACK, _tg_button),
]


def _wx_event(event: str, key: str | None = None, inner: str = "") -> Send:
    return lambda w, ext: w.wechat.event(ext, event, key, create_time=w.create_time(),
                                         inner=inner)


PICS = ("<SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum><![CDATA[1b5f7c]]>"
        "</PicMd5Sum></item></PicList></SendPicsInfo>")
WECHAT: list[tuple[str, Kind, Send]] = [
    ("text", Kind.TEXT, lambda w, ext: w.wechat.text(ext, "无")),
    ("voice+recognition", Kind.VOICE_TEXT, lambda w, ext: w.wechat.voice(ext, "没有。")),
    ("voice", Kind.VOICE_BLANK, lambda w, ext: w.wechat.voice(ext, None)),
    ("image", Kind.IMAGE, lambda w, ext: w.wechat.image(ext)),
    ("location", Kind.LOCATION, lambda w, ext: w.wechat.location(ext, 36.81, 118.3, "村委")),
    ("video", Kind.VIDEO, lambda w, ext: w.wechat.message(
        ext, "video", "<MediaId><![CDATA[v1]]></MediaId><ThumbMediaId>t1</ThumbMediaId>")),
    ("shortvideo", Kind.VIDEO, lambda w, ext: w.wechat.message(
        ext, "shortvideo", "<MediaId><![CDATA[v2]]></MediaId><ThumbMediaId>t</ThumbMediaId>")),
    ("link", Kind.LINK, lambda w, ext: w.wechat.message(
        ext, "link", "<Title><![CDATA[通知]]></Title><Description><![CDATA[d]]></Description>"
        "<Url><![CDATA[http://example.invalid/a]]></Url>")),
    ("file", Kind.FILE, lambda w, ext: w.wechat.message(
        ext, "file", "<Title><![CDATA[记录.doc]]></Title><Description>d</Description>"
        "<FileKey>k</FileKey><FileMd5>m</FileMd5><FileTotalLen>10</FileTotalLen>")),
    ("miniprogrampage", Kind.OTHER, lambda w, ext: w.wechat.message(
        ext, "miniprogrampage", "<Title><![CDATA[小程序]]></Title><AppId>wxa</AppId>")),
    ("CLICK 待访", Kind.MENU_CLICK, _wx_event("CLICK", "待访")),
    ("CLICK EVENTKEY", Kind.MENU_CLICK, _wx_event("CLICK", "EVENTKEY")),
    ("CLICK 上一题", Kind.MENU_CLICK, _wx_event("CLICK", "上一题")),
    ("pic_photo_or_album", Kind.MENU_PHOTO, _wx_event("pic_photo_or_album", "photo", PICS)),
    ("SCAN", Kind.SCAN, _wx_event("SCAN", "ZZZZ9999")),
    ("subscribe", Kind.SUBSCRIBE, _wx_event("subscribe", "")),
    ("subscribe qrscene_", Kind.SUBSCRIBE, _wx_event("subscribe", "qrscene_ZZZZ9999")),
    ("unsubscribe", Kind.UNSUBSCRIBE, _wx_event("unsubscribe", "")),
    ("VIEW", Kind.NOTICE, _wx_event("VIEW", "http://example.invalid/")),
    ("LOCATION report", Kind.NOTICE, _wx_event(
        "LOCATION", None, "<Latitude>36.8</Latitude><Longitude>118.3</Longitude>"
        "<Precision>30</Precision>")),
    ("TEMPLATESENDJOBFINISH", Kind.NOTICE, _wx_event(
        "TEMPLATESENDJOBFINISH", None, "<MsgID>1</MsgID><Status>success</Status>")),
    ("msgmenu item", Kind.CALLBACK, lambda w, ext: w.wechat.menu_click(ext, "c:help", "帮助")),
]


def _wecom_card(w: World, ext: str) -> Any:
    return w.wecom.card_button(ext, "c:help", f"vb-task-{w.create_time()}")


WECOM: list[tuple[str, Kind, Send]] = [
    ("text", Kind.TEXT, lambda w, ext: w.wecom.text(ext, "无")),
    ("voice", Kind.VOICE_BLANK, lambda w, ext: w.wecom.message(
        ext, "voice", "<MediaId><![CDATA[v]]></MediaId><Format>amr</Format>")),
    ("image", Kind.IMAGE, lambda w, ext: w.wecom.message(
        ext, "image", "<PicUrl><![CDATA[http://example.invalid/p.jpg]]></PicUrl>"
        "<MediaId><![CDATA[wm1]]></MediaId>")),
    ("location", Kind.LOCATION, lambda w, ext: w.wecom.message(
        ext, "location", "<Location_X>36.81</Location_X><Location_Y>118.3</Location_Y>"
        "<Scale>15</Scale><Label><![CDATA[村委]]></Label>")),
    ("video", Kind.VIDEO, lambda w, ext: w.wecom.message(
        ext, "video", "<MediaId>v</MediaId><ThumbMediaId>t</ThumbMediaId>")),
    ("link", Kind.LINK, lambda w, ext: w.wecom.message(
        ext, "link", "<Title>t</Title><Description>d</Description><Url>http://x/</Url>"
        "<PicUrl>http://x/p</PicUrl>")),
    ("click 待访", Kind.MENU_CLICK,
     lambda w, ext: w.wecom.click(ext, "待访", w.create_time())),
    ("click EVENTKEY", Kind.MENU_CLICK,
     lambda w, ext: w.wecom.click(ext, "EVENTKEY", w.create_time())),
    ("card button", Kind.CALLBACK, _wecom_card),
    ("enter_agent", Kind.NOTICE,
     lambda w, ext: w.wecom.event(ext, "enter_agent", "", w.create_time())),
]

PAYLOADS = {"telegram": TELEGRAM, "wechat": WECHAT, "wecom": WECOM}


def test_every_kind_has_a_row_and_every_row_a_payload() -> None:
    assert set(TABLE) == set(Kind)
    sent = {kind for rows in PAYLOADS.values() for _, kind, _ in rows}
    assert sent == set(Kind)
    for rule in TABLE.values():
        assert set(rule.at) <= {*POSITIONS, "*"}


# --- the check -----------------------------------------------------------------------------

def expect(w: World, platform: str, label: str, kind: Kind, do: Do, where: str | None,
           cur: str | None, replies: list[Outgoing]) -> None:
    what = f"{platform} {label} at {where or 'idle'}: {do.value}"
    texts = [r.text for r in replies]
    in_checklist = where is not None
    if do in SILENT:
        assert replies == [], what
        return
    assert replies, f"{what}: silence"
    if do is Do.GUIDE:
        assert texts == [render("bot_unknown_user")], what
        return
    if do is Do.BIND:
        assert texts[0] in (render("bot_invite_invalid"), render("bot_unknown_user")), what
        return
    if do is Do.HINT:
        # on Telegram the question follows in the same message (the webhook's one answer)
        assert texts[0].startswith(render(TABLE[kind].hint, kind=kind.value,
                                          where=where or "", in_checklist=in_checklist)), what
    if do is Do.BOUND:
        assert texts[0].startswith(render("inbound_already_bound", name="",
                                          in_checklist=in_checklist)[:4]), what
        assert render("bot_invite_invalid") not in texts, what
    if do is Do.MENU and "EVENTKEY" in label and in_checklist:
        assert texts[0] == render("inbound_menu_unknown"), what
    if do in (Do.HINT, Do.BOUND, Do.MENU) and in_checklist and "上一题" not in label:
        last = replies[-1]  # what is being asked is repeated
        if where == "paused":
            assert last.text.endswith(render("engine_is_paused")), what
        else:
            assert last.callback_prefix == cur, what
    if do in (Do.HINT, Do.BOUND) and not in_checklist:
        assert len(replies) == 1, what


@pytest.mark.parametrize("platform", ["telegram", "wechat", "wecom"])
def test_every_row_through_the_webhook(world: World, platform: str) -> None:
    w = world
    rows = PAYLOADS[platform]
    # before binding: a stranger's every message
    for label, kind, send in rows:
        mark = w.outbox_mark()
        send(w, STRANGERS[platform])
        do = TABLE[kind].action(False, None)
        replies = w.replies_since(mark, platform, STRANGERS[platform])
        if do in SILENT:
            expect(w, platform, label, kind, do, None, None, replies)
        else:
            # unbound chatter writes nothing (#19): how to bind goes in the webhook's own
            # response, or as at most one outbox row per chat every ten minutes
            told = {render("bot_unknown_user"), render("bot_invite_invalid")}
            assert all(r.text in told for r in replies), label
    # bound, outside a checklist, then at each position in one
    ext = ACCOUNTS[platform]
    positions: list[str | None] = [None, *POSITIONS]
    for where in positions:
        if where is not None and not w.conversation:
            start_checklist(w)
        for label, kind, send in rows:
            w.bind(platform)
            cur = w.place(where) if where is not None else None
            before = w.stored() if where is not None else None
            mark = w.outbox_mark()
            send(w, ext)
            do = TABLE[kind].action(True, where)
            replies = w.replies_since(mark, platform, ext)
            expect(w, platform, label, kind, do, where, cur, replies)
            if kind in HINTS:
                assert replies[0].text.startswith(render(
                    HINTS[kind], kind=kind.value, where=where or "",
                    in_checklist=where is not None)), label
            if before is None:
                continue
            after = w.stored()
            if kind not in MAY_ANSWER:
                assert after[:2] == before[:2], f"{platform} {label} at {where}: stored"
            if do is not Do.PASS and "上一题" not in label:
                # nothing but a message the row passes to the checklist moves it
                assert after == before, f"{platform} {label} at {where}: moved"


# --- what the rows mean, said plainly ------------------------------------------------------

def test_menu_keys_are_never_answers(world: World) -> None:
    w = world
    w.bind("wechat")
    start_checklist(w)
    cur = w.place("text")
    for key in ("待访", "EVENTKEY", "帮助"):
        w.wechat.event(ACCOUNTS["wechat"], "CLICK", key, create_time=w.create_time())
        n, answers, now_at = w.stored()
        assert n == 0 and key not in answers.values() and now_at == cur


def test_voice_is_echoed_and_free_text_confirmed(world: World) -> None:
    w = world
    w.bind("wechat")
    start_checklist(w)
    ext = ACCOUNTS["wechat"]
    cur = w.place("text")
    mark = w.outbox_mark()
    first = w.wechat.voice(ext, "他说想吃饺子")
    replies = w.replies_since(mark, "wechat", ext)
    assert first.content == render("engine_heard", text="他说想吃饺子")
    assert replies[1].text == render("engine_heard_confirm")
    assert w.stored()[0] == 0 and w.stored()[2] == cur  # heard, not yet recorded
    w.wechat.text(ext, "确认")
    n, answers, _ = w.stored()
    assert n == 1 and answers[cur] == "他说想吃饺子"
    # a transcript not confirmed is dropped: the typed text is what counts
    w.place("text")
    w.wechat.voice(ext, "听错的话")
    w.wechat.text(ext, "没有其它需求")
    assert w.stored()[1][cur] == "没有其它需求"
    # at a choice question the transcript is echoed and parsed at once
    single = w.place("single")
    mark = w.outbox_mark()
    w.wechat.voice(ext, "1")
    assert w.replies_since(mark, "wechat", ext)[0].text == render("engine_heard", text="1")
    assert single in w.stored()[1]


@pytest.mark.parametrize("platform", ["wechat", "wecom"])
def test_an_image_answers_the_photo_question(world: World, platform: str) -> None:
    w = world
    w.bind(platform)
    start_checklist(w)
    ext = ACCOUNTS[platform]
    cur = w.place("photo")
    if platform == "wechat":
        w.wechat.image(ext, media_id="media-42")
        ref = "media-42"
    else:
        w.wecom.message(ext, "image", "<PicUrl><![CDATA[http://example.invalid/p.jpg]]>"
                        "</PicUrl><MediaId><![CDATA[wm-42]]></MediaId>")
        ref = "wm-42"
    n, answers, now_at = w.stored()
    assert n == 1 and now_at != cur
    assert answers[cur] == {"photo": ref, "url": "http://example.invalid/p.jpg"}


def test_a_telegram_album_gets_one_reply(world: World) -> None:
    w = world
    w.bind("telegram")
    start_checklist(w)
    ext = ACCOUNTS["telegram"]
    cur = w.place("photo")
    mark = w.outbox_mark()
    TgUser(w.fake, int(ext)).album(3)
    n, answers, now_at = w.stored()
    assert n == 1 and cur in answers and now_at != cur
    replies = w.replies_since(mark, "telegram", ext)
    assert render("inbound_image_not_needed", in_checklist=True) not in [r.text for r in replies]
    # the next question is asked once, not once per photo
    assert len([r for r in replies if r.callback_prefix == now_at]) == 1


def test_a_location_at_the_photo_question_asks_for_the_photo(world: World) -> None:
    w = world
    w.bind("telegram")
    start_checklist(w)
    ext = ACCOUNTS["telegram"]
    cur = w.place("photo")
    mark = w.outbox_mark()
    TgUser(w.fake, int(ext)).location(36.8, 118.3)
    (asked,) = w.replies_since(mark, "telegram", ext)  # the hint, then the question
    hint = asked.text.split("\n\n")[0]
    assert "照片" in hint and "不需要图片" not in hint
    assert asked.callback_prefix == cur and w.stored()[0] == 0


def test_equal_message_ids_of_two_accounts_are_both_handled(world: World) -> None:
    w = world
    marks = w.outbox_mark()
    one = w.wechat.text("o-someone-1", "你好", msg_id=5550001)
    two = w.wechat.text("o-someone-2", "你好", msg_id=5550001)
    # both answered (a dedupe on the message id alone gave the second an empty reply)
    assert one.content == two.content == render("bot_unknown_user")
    # in the passive reply: unbound chatter writes nothing (#19)
    assert w.replies_since(marks, "wechat", "o-someone-2") == []


def test_a_3000_byte_review_on_wechat_still_says_how_to_submit(world: World) -> None:
    """WeChat drops passive replies over 2,048 bytes: long answers are shortened, and
    every item and the instruction arrive."""
    w = world
    w.bind("wechat")
    start_checklist(w)
    ext = ACCOUNTS["wechat"]
    w.place("review")
    long_a, long_b = "老人说" + "最近睡眠不好，夜里常醒，" * 40, "已联系" + "村医上门量血压，" * 50
    with w.sessions() as s:
        conv = s.get(Conversation, w.conversation)
        assert conv is not None
        state = dict(conv.state)
        cl = load_checklist("linzi-2022")
        for q in cl.questions:  # every item answered, two of them at length
            if q.auto or q.type in ("photo", "multi"):
                continue
            value = {"other_needs": long_a, "problems_handling": long_b}.get(q.id, "1")
            state["answers"] = {**state["answers"], q.id: value}
            state["displays"] = {**state.get("displays", {}), q.id: value}
        state["answers"]["_mode"], state["displays"]["_mode"] = "in_person", "上门"
        state["answers"]["_date"], state["displays"]["_date"] = "2026-12-01", "2026-12-01"
        s.execute(update(Conversation).where(Conversation.id == w.conversation)
                  .values(state=state))
        s.commit()
    mark = w.outbox_mark()
    passive = w.wechat.text(ext, "看一下")  # not a review answer: the review again
    [review] = w.replies_since(mark, "wechat", ext)
    full = passive_text_of(review)
    assert len(full.encode("utf-8")) > 3000
    assert passive.content is not None and len(passive.content.encode("utf-8")) <= 2047
    # the instruction (the review's last line; 确认 and 取消 are words or buttons) arrives
    last_line = full.rstrip().split("\n")[-1]
    assert passive.content.rstrip().endswith(last_line) and "确认" in last_line
    items = [line.split(".")[0] for line in full.split("\n") if line[:1].isdigit()]
    shown = [line.split(".")[0] for line in passive.content.split("\n") if line[:1].isdigit()]
    assert shown == items  # every numbered item and option is still there


def passive_text_of(out: Outgoing) -> str:
    """The passive reply before it is fitted: the engine's own text where it lists its
    options already (the review), else the text with the options numbered."""
    from bot.channels.wechat_xml import with_numbered_choices

    if out.meta.get("listed"):
        return out.text
    return with_numbered_choices(out.text, [c.label for c in out.choices])
