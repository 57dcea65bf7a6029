"""What people type for a yes/no or a scale: the question's own words are understood
(不满足 for "…是否已满足？"), and a word that could mean two options is asked about, never
guessed (好 on a 无变化/较好/较差 scale)."""

from __future__ import annotations

import pytest

from conversations import answers
from conversations.answers import NEGATIONS, SCALE_SYNONYMS
from conversations.checklist import load_checklist
from tests.unit.test_engine import REVIEW, SEEDS, Walk

CJK = range(0x4E00, 0xA000)


@pytest.mark.parametrize("name", SEEDS)
def test_a_yes_no_question_understands_its_own_words(name: str) -> None:
    asked = [q for q in load_checklist(name).questions
             if q.type == "yesno" and answers.ASKED.search(q.prompt)]
    for q in asked:
        word = answers.ASKED.search(q.prompt)[1]  # type: ignore[index]
        for yes in (word, "已" + word, word + "了"):
            assert answers.parse_yesno(yes, q.prompt).value is True, (q.id, yes)
        for n in NEGATIONS:
            assert answers.parse_yesno(n + word, q.prompt).value is False, (q.id, n + word)
        assert not answers.parse_yesno("满意", q.prompt).ok or word == "满意"


def test_not_met_is_no_and_raises_its_risk() -> None:
    w = Walk("linzi-2022")
    while w.cur != "need_home_service":
        w.safe_answer()
    w.send(text="是")
    assert w.cur == "need_home_service_met"
    w.send(text="不满足")
    assert w.state["answers"]["need_home_service_met"] is False
    assert w.state["severity"]["need_home_service_met"] == "watch"


@pytest.mark.parametrize("name", SEEDS)
def test_one_character_that_could_mean_two_options_is_asked_about(name: str) -> None:
    for q in load_checklist(name).questions:
        if q.type != "single":
            continue
        named = {s for o in q.options for s in (o.value, o.label, *o.synonyms,
                                                 *SCALE_SYNONYMS.get(o.value, ()))}
        for o in q.options:
            for ch in o.value:
                if ord(ch) not in CJK or ch in named:
                    continue
                parsed = answers.parse_single(q, ch)
                assert not parsed.ok and parsed.hint == "engine_hint_ambiguous", (q.id, ch)


def test_good_on_a_change_scale_is_not_stored_as_better() -> None:
    w = Walk("guangxi-2023")
    while w.cur != "mobility":
        w.safe_answer()
    options = [o.value for o in w.question().options]
    assert "较好" in options and "好" not in options
    res = w.send(text="好")
    assert w.cur == "mobility" and "mobility" not in w.state["answers"]
    assert "不止一个选项" in res.replies[-1].text
    w.send(text="无变化")
    assert w.state["answers"]["mobility"] == "无变化"
    assert w.cur != REVIEW
