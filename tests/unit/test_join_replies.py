"""A webhook answer carries one message: plain texts are joined to the message after them
(the question keeps its buttons), never beyond the platform's length, never losing or
reordering a word."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from bot.chat.outcome import join_leading_text
from conversations.messages import Choice, Outgoing

REPLY = st.builds(
    lambda text, buttons, extra: Outgoing(
        text, choices=(Choice("a:q:1:x.y", "好"),) if buttons else (),
        meta={"edit_message_id": 1} if extra else {"listed": True}),
    st.text("问题提示答 ", min_size=1, max_size=60), st.booleans(), st.booleans())


@given(st.lists(REPLY, max_size=6), st.integers(20, 200))
def test_joined_replies_keep_every_word_in_order(replies: list[Outgoing], limit: int) -> None:
    joined = join_leading_text(replies, limit)
    assert "\n\n".join(r.text for r in joined) == "\n\n".join(r.text for r in replies)
    assert len(joined) <= len(replies)
    # buttons and platform extras stay with the message they belong to
    assert [r.choices for r in joined if r.choices] == [r.choices for r in replies if r.choices]
    for before, after in pairwise(joined):
        joinable = not before.choices and set(before.meta) <= {"listed"}
        assert not joinable or len(before.text) + 2 + len(after.text) > limit


def test_an_introduction_and_the_first_question_are_one_message() -> None:
    intro = Outgoing("开始记录王秀英的探访。", meta={"listed": True})
    question = Outgoing("本次探访方式是？", choices=(Choice("a:_mode:1:1.1", "上门巡访"),),
                        callback_prefix="_mode")
    (one,) = join_leading_text([intro, question], 4096)
    assert one.text == "开始记录王秀英的探访。\n\n本次探访方式是？"
    assert one.choices == question.choices and one.callback_prefix == "_mode"
    assert join_leading_text([intro, question], 10) == [intro, question]  # too long: two
