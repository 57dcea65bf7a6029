"""Telegram updates to Incoming, keyboards, text splitting: pure functions, no network."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import Update

from bot.channels.telegram_api import (
    CallbackTooLong,
    commands,
    keyboard,
    keyboard_rows,
    split_text,
)
from bot.channels.telegram_handler import edits_pressed
from bot.channels.telegram_parse import (
    Ignore,
    Parsed,
    Pressed,
    parse_plain,
    parse_press,
    parse_text,
    parse_update,
)
from conversations.messages import Choice, Kind, Outgoing

CHAT = {"id": 5001, "type": "private", "first_name": "李"}
USER = {"id": 5001, "is_bot": False, "first_name": "李"}


def update(**content: Any) -> Update:
    return Update.de_json({"update_id": 42, **content}, None)


def message(**content: Any) -> dict[str, Any]:
    return {"message_id": 9, "date": 1_700_000_000, "chat": CHAT, "from": USER, **content}


def test_text_and_commands() -> None:
    parsed = parse_update(update(message=message(text="/start AB12CD34")), "777")
    assert isinstance(parsed, Parsed) and parsed.pressed is None
    inc = parsed.incoming
    assert inc.address.platform == "telegram" and inc.address.external_id == "5001"
    assert inc.msg_id == "tg:777:42" and inc.text == "/start AB12CD34"
    menu = parse_update(update(message=message(text="/visits@visitbot_bot")), "777")
    assert isinstance(menu, Parsed) and menu.incoming.text == "/visits"


def test_button_press() -> None:
    shown = message(text="燃气安全", reply_markup={"inline_keyboard": [[
        {"text": "好", "callback_data": "a:gas:1"}, {"text": "较差", "callback_data": "a:gas:3"}]]})
    shown["from"] = {"id": 1, "is_bot": True, "first_name": "bot"}
    parsed = parse_update(update(callback_query={
        "id": "q1", "from": USER, "chat_instance": "c", "message": shown, "data": "a:gas:3"}),
        "777")
    assert isinstance(parsed, Parsed)
    assert parsed.incoming.choice == "a:gas:3" and parsed.incoming.text is None
    assert parsed.incoming.meta == {"callback_query_id": "q1", "message_id": 9}
    assert parsed.incoming.kind is Kind.CALLBACK
    assert parsed.pressed == Pressed("q1", "a:gas:3", 5001, 9, "较差", "燃气安全")


@pytest.mark.parametrize(("content", "reason"), [
    ({"edited_channel_post": message(text="改", chat={"id": -7, "type": "channel"})},
     "edited channel post"),
    ({"message": message(text="hi", chat={"id": -5, "type": "group", "title": "g"})}, "group"),
    ({"message": message(text="hi", **{"from": {**USER, "is_bot": True}})}, "bot"),
    ({"message": message(new_chat_title="新群名")}, "service"),
    ({"my_chat_member": {"chat": CHAT, "from": USER, "date": 0,
                         "old_chat_member": {"status": "member", "user": USER},
                         "new_chat_member": {"status": "kicked", "user": USER,
                                             "until_date": 0}}}, "my_chat_member"),
])
def test_ignored(content: dict[str, Any], reason: str) -> None:
    parsed = parse_update(update(**content), "777")
    assert isinstance(parsed, Ignore) and reason in parsed.reason


def test_media() -> None:
    photo = parse_update(update(message=message(caption="门口", photo=[
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90},
        {"file_id": "large", "file_unique_id": "l", "width": 1280, "height": 960}])), "7")
    assert isinstance(photo, Parsed) and photo.incoming.text is None
    assert photo.incoming.media is not None and photo.incoming.media.ref == "large"
    loc = parse_update(update(message=message(location={"latitude": 36.8, "longitude": 118.3})),
                       "7")
    assert isinstance(loc, Parsed) and loc.incoming.media is not None
    assert (loc.incoming.media.kind, loc.incoming.media.ref, loc.incoming.media.latitude) == (
        "location", "", 36.8)
    voice = parse_update(update(message=message(voice={
        "file_id": "v", "file_unique_id": "v", "duration": 3})), "7")
    assert isinstance(voice, Parsed) and voice.incoming.kind is Kind.VOICE_BLANK
    assert voice.incoming.address.external_id == "5001" and voice.incoming.text is None
    assert photo.incoming.kind is Kind.IMAGE and loc.incoming.kind is Kind.LOCATION


FORWARDER = {"id": 6002, "is_bot": False, "first_name": "张"}


@pytest.mark.parametrize(("content", "kind"), [
    ({"edited_message": message(text="改了", edit_date=1_700_000_100)}, Kind.EDIT),
    ({"message": message(text="无", forward_origin={
        "type": "user", "sender_user": FORWARDER, "date": 1_699_000_000})}, Kind.FORWARD),
    ({"message": message(text="无", forward_origin={
        "type": "hidden_user", "sender_user_name": "某人", "date": 1_699_000_000})},
     Kind.FORWARD),
    ({"message": message(text="无", via_bot={"id": 9, "is_bot": True, "first_name": "gif",
                                               "username": "gif"})}, Kind.FORWARD),
    ({"message": message(text="无", is_automatic_forward=True)}, Kind.FORWARD),
    ({"message": message(text="无", forward_date=1_699_000_000, forward_from=FORWARDER)},
     Kind.FORWARD),
    ({"message": message(sticker={"file_id": "s", "file_unique_id": "s", "type": "regular",
                                  "width": 512, "height": 512, "is_animated": False,
                                  "is_video": False})}, Kind.OTHER),
    ({"message": message(document={"file_id": "d", "file_unique_id": "d",
                                   "file_name": "a.pdf"})}, Kind.FILE),
    ({"message": message(video={"file_id": "v", "file_unique_id": "v", "width": 1,
                                "height": 1, "duration": 2})}, Kind.VIDEO),
    ({"message": message(audio={"file_id": "a", "file_unique_id": "a", "duration": 2})},
     Kind.VOICE_BLANK),
])
def test_kinds(content: dict[str, Any], kind: Kind) -> None:
    parsed = parse_update(update(**content), "7")
    assert isinstance(parsed, Parsed) and parsed.incoming.kind is kind
    assert parsed.incoming.address.external_id == "5001" and parsed.incoming.choice is None


def test_album_photos_name_their_group() -> None:
    size = [{"file_id": "p", "file_unique_id": "p", "width": 90, "height": 90}]
    parsed = parse_update(update(message=message(photo=size, media_group_id="g-1")), "7")
    assert isinstance(parsed, Parsed) and parsed.incoming.meta == {"album": "g-1"}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet="ab:01", min_size=1, max_size=20),
                          st.text(alphabet="是否一般好差子女定期电话", min_size=1, max_size=12)),
                max_size=12))
def test_a_webhook_keyboard_is_the_one_the_api_sends(pairs: list[tuple[str, str]]) -> None:
    """The webhook answer's rows (plain JSON) and the channel's keyboard (its objects)
    are one layout, whatever the choices."""
    choices = [Choice(v, label) for v, label in pairs]
    markup = keyboard(choices)
    rows = keyboard_rows(choices)
    assert (markup is None) == (rows is None) == (not choices)
    if markup is not None:
        assert markup.to_dict() == {"inline_keyboard": rows}


def test_keyboard_rows_and_limit() -> None:
    markup = keyboard([Choice("a:q:1", "是"), Choice("a:q:2", "否"), Choice("c:skip", "跳过"),
                       Choice("a:q:3", "子女定期电话或视频联系")])
    assert markup is not None
    rows = [[b.callback_data for b in row] for row in markup.inline_keyboard]
    assert rows == [["a:q:1", "a:q:2", "c:skip"], ["a:q:3"]]
    assert keyboard([]) is None
    assert keyboard([Choice("x" * 64, "ok")]) is not None
    with pytest.raises(CallbackTooLong):
        keyboard([Choice("é" * 33, "too long in bytes")])


def test_split_text() -> None:
    assert split_text("短") == ["短"]
    assert split_text("") == [" "]
    text = "\n".join("行" * 100 for _ in range(100))
    parts = split_text(text)
    assert all(len(p) <= 4096 for p in parts) and len(parts) == 3
    assert "\n".join(parts) == text  # cut at line ends, nothing lost
    assert split_text("x" * 5000) == ["x" * 4096, "x" * 904]


def test_a_reply_edits_the_pressed_message_only_when_the_core_says_so() -> None:
    pressed = Pressed("q", "a:needs:2:1f.3", 1, 9, "是", "有需求吗？")
    assert edits_pressed(pressed, Outgoing("again", meta={"edit_message_id": 9}))
    assert not edits_pressed(pressed, Outgoing("next", callback_prefix="needs"))
    assert not edits_pressed(pressed, Outgoing("other", meta={"edit_message_id": 8}))
    assert not edits_pressed(Pressed("q", "a:needs:2:1f.3"),
                             Outgoing("x", meta={"edit_message_id": 9}))
    # a button under a message without text (a document's caption): not edited as text
    assert not edits_pressed(Pressed("q", "a:needs:2:1f.3", 1, 9, "是", None),
                             Outgoing("x", meta={"edit_message_id": 9}))


def test_the_next_question_says_what_was_chosen_at_the_pressed_one() -> None:
    from bot.channels.telegram_api import keyboard, shown_text
    from conversations.messages import Choice
    from conversations.text import render

    out = Outgoing("【二】\n\n下一题？\n1. 好\n2. 差", choices=(Choice("a:x:1:1.2", "好"),),
                   meta={"head": "【二】\n\n下一题？", "edit_message_id": 9,
                         "answered": {"question": "生活自理", "display": "一般"}})
    markup = keyboard(out.choices)
    edited = shown_text(out, markup, edit=True)
    assert edited == render("tg_answered", text="【二】\n\n下一题？", question="生活自理",
                            label="一般", skipped=False)
    assert edited.splitlines()[0].endswith("生活自理：一般") and edited.endswith("下一题？")
    # sent anew (the edit failed), it is the question alone
    assert shown_text(out, markup) == "【二】\n\n下一题？"
    skipped = Outgoing("下一题？", meta={"answered": {"question": "其它需求", "display": None}})
    assert "其它需求" in shown_text(skipped, None, edit=True).splitlines()[0]
    # the same question after a toggle: no line about a previous one
    toggle = Outgoing("同一题", meta={"edit_message_id": 9})
    assert shown_text(toggle, None, edit=True) == "同一题"


def test_command_menu_is_chinese_and_valid() -> None:
    menu = commands()
    assert {c.command for c in menu} >= {"visits", "overdue", "cases", "status", "help"}
    for c in menu:
        assert c.command.islower() and 1 <= len(c.command) <= 32
        assert 3 <= len(c.description) <= 256 and any("\u4e00" <= ch <= "\u9fff"
                                                      for ch in c.description)


# -- a press read from the JSON agrees with python-telegram-bot's reading ---------------

_texts = st.text(max_size=80)
_button = st.fixed_dictionaries(
    {"text": _texts},
    optional={"callback_data": st.one_of(st.sampled_from(["a:q:1", "c:back:1.2", "start:9"]),
                                         st.text(max_size=70)),
              "url": st.just("https://example.org")})
_markup = st.fixed_dictionaries(
    {"inline_keyboard": st.lists(st.lists(_button, min_size=1, max_size=4), max_size=4)})
_chat = st.fixed_dictionaries({"id": st.integers(-10**12, 10**12),
                               "type": st.sampled_from(["private", "group", "supergroup",
                                                        "channel"])},
                              optional={"first_name": _texts})
_message = st.fixed_dictionaries(
    {"message_id": st.integers(1, 2**31), "chat": _chat,
     "date": st.one_of(st.just(0), st.integers(1, 2_000_000_000))},
    optional={"text": _texts, "reply_markup": _markup,
              "from": st.just({"id": 1, "is_bot": True, "first_name": "bot"})})
_query = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=20), "chat_instance": st.text(max_size=10),
     "from": st.fixed_dictionaries({"id": st.integers(1, 2**40), "is_bot": st.booleans(),
                                    "first_name": _texts})},
    optional={"data": st.one_of(st.sampled_from(["a:q:1", "c:back:1.2", "start:9", ""]),
                                st.text(max_size=70)),
              "message": _message})


@given(query=_query, update_id=st.integers(0, 2**31))
@settings(max_examples=400, deadline=None)
def test_a_press_read_from_json_is_read_as_python_telegram_bot_reads_it(
        query: dict[str, Any], update_id: int) -> None:
    data = {"update_id": update_id, "callback_query": query}
    fast = parse_press(data, "777")
    assert fast is not None  # every documented shape of a press takes the short way
    assert fast == parse_update(Update.de_json(data, None), "777")


_sender = st.fixed_dictionaries({"id": st.integers(1, 2**40), "is_bot": st.booleans(),
                                 "first_name": _texts}, optional={"username": _texts})
_entity = st.fixed_dictionaries({"type": st.sampled_from(["bot_command", "bold", "url"]),
                                 "offset": st.integers(0, 20), "length": st.integers(1, 20)})
_typed = st.fixed_dictionaries(
    {"message_id": st.integers(1, 2**31), "chat": _chat,
     "date": st.integers(1, 2_000_000_000),
     "text": st.one_of(st.sampled_from(["/visits@visitbot_bot", "待访", " 80 ", "/start AB12"]),
                       _texts)},
    # the odd ones go the long way: both readings must still agree on those that don't
    optional={"from": _sender, "entities": st.lists(_entity, max_size=3),
              "forward_date": st.integers(1, 2_000_000_000),
              "caption": _texts})


@given(typed=_typed, update_id=st.integers(0, 2**31))
@settings(max_examples=400, deadline=None)
def test_a_typed_message_read_from_json_is_read_as_python_telegram_bot_reads_it(
        typed: dict[str, Any], update_id: int) -> None:
    data = {"update_id": update_id, "message": typed}
    fast = parse_text(data, "777")
    plain = not ({"forward_date", "caption"} & typed.keys())
    assert (fast is not None) == plain  # every plain typed message takes the short way
    if fast is not None:
        assert fast == parse_update(Update.de_json(data, None), "777")
    assert parse_plain(data, "777") == fast


@pytest.mark.parametrize("odd", [
    {"update_id": 1, "message": message(text="hi", reply_to_message=message(text="x"))},
    {"update_id": 1, "message": message(text=7)},
    {"update_id": 1, "message": message(text="hi", entities=[{"type": "bold"}])},
    {"update_id": 1, "message": message(text="hi", chat={"id": "5", "type": "private"})},
    {"update_id": 1, "message": message(text="hi"), "edited_message": message(text="x")},
    {"update_id": 1, "edited_message": message(text="hi")},
])
def test_an_odd_typed_message_goes_the_long_way(odd: dict[str, Any]) -> None:
    assert parse_text(odd, "777") is None


@pytest.mark.parametrize("odd", [
    {"update_id": 1, "message": message(text="hi")},  # not a press
    {"update_id": 1, "callback_query": {"id": 5, "from": USER, "chat_instance": "c"}},
    {"update_id": 1, "callback_query": {"id": "q", "chat_instance": "c"}},  # no sender
    {"update_id": 1, "callback_query": {"id": "q", "from": USER, "chat_instance": "c",
                                        "message": {"message_id": "9", "date": 1,
                                                    "chat": CHAT}}},
    {"update_id": 1, "callback_query": {"id": "q", "from": USER, "chat_instance": "c",
                                        "message": message(reply_markup={
                                            "inline_keyboard": [{"text": "x"}]})}},
    {"update_id": 1, "callback_query": {"id": "q", "from": USER, "chat_instance": "c",
                                        "data": 7}},
])
def test_an_odd_press_goes_the_long_way(odd: dict[str, Any]) -> None:
    assert parse_press(odd, "777") is None
