"""The checklist engine, driven the way a visitor drives it: buttons, typing, mistakes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conversations import engine
from conversations.checklist import Checklist, Question, load_checklist
from conversations.engine import (
    DATE,
    MODE,
    REVIEW,
    AnswerCleared,
    Cancelled,
    Context,
    Filed,
    Inbound,
    RiskFlagged,
    StepResult,
)

SEEDS = ["anshan-2020", "guangxi-2023", "jingdezhen-2020", "linzi-2022", "liuzhou-2021"]
NOW = datetime(2026, 11, 25, 9, tzinfo=UTC)
TODAY = date(2026, 11, 25)
FACTS = {"has_children": True, "self_care": "失能", "lives_alone": True}


def ctx(**kw: Any) -> Context:
    base: dict[str, Any] = {"subject_name": "孙立本", "facts": FACTS, "today": TODAY,
                            "seasons": frozenset({"heating"})}
    base.update(kw)
    return Context(**base)


class Walk:
    """One conversation: keeps the state and every event and reply, as the store would."""

    def __init__(self, name: str, c: Context | None = None) -> None:
        self.cl: Checklist = load_checklist(name)
        self.ctx = c or ctx()
        res = engine.start(self.cl, self.ctx, NOW)
        self.state = res.state
        self.events: list[object] = list(res.events)
        self.last = res

    @property
    def cur(self) -> str:
        return self.state["cur"]

    def send(self, text: str | None = None, choice: str | None = None, **kw: Any) -> StepResult:
        res = engine.step(self.state, Inbound(text=text, choice=choice, **kw), self.cl,
                          self.ctx, NOW)
        # The store saves the state as JSON after every step: it must survive the trip.
        self.state = json.loads(json.dumps(res.state, ensure_ascii=False))
        self.events += res.events
        self.last = res
        return res

    def question(self) -> Question:
        return self.cl.question(self.cur)

    def safe_answer(self) -> None:
        """Answer the current question as a visitor would when all is well."""
        cur = self.cur
        if cur == MODE:
            self.send(choice=f"a:{MODE}:1")
        elif cur == DATE:
            self.send(choice=f"a:{DATE}:1")
        elif cur == REVIEW:
            self.send(choice="c:confirm")
        else:
            q = self.question()
            if q.type in ("single", "multi"):
                self.send(choice=f"a:{q.id}:1")
                if q.type == "multi":
                    self.send(choice=f"a:{q.id}:done")
            elif q.type == "yesno":
                # the answer that is not the risky one
                self.send(choice=f"a:{q.id}:{2 if q.risk_if is True else 1}")
            elif q.type == "number":
                self.send(text=str(int(max(q.min or 0, q.risk_below or 0, 0)) + 1)
                          if q.max is None or q.max > 1 else "0")
            elif q.type == "date":
                self.send(text="2027-02" if q.future == "only" else "今天")
            elif q.type == "text":
                self.send(text="无")
            else:
                self.send(text="跳过")

    def finish(self, limit: int = 200) -> Filed:
        for _ in range(limit):
            if self.state["status"] == "filed":
                break
            self.safe_answer()
        filed = [e for e in self.events if isinstance(e, Filed)]
        assert len(filed) == 1, f"not filed; stuck at {self.cur}: {self.last.replies}"
        return filed[0]


@pytest.mark.parametrize("name", SEEDS)
def test_every_seed_walks_to_a_filed_record(name: str) -> None:
    w = Walk(name)
    filed = w.finish()
    assert filed.visited_on == TODAY and filed.mode == w.cl.modes[0].code
    assert filed.risks == ()
    applicable = {q.id for q in w.cl.questions
                  if q.required and not q.auto and q.type not in ("photo", "location")
                  and (q.when is None or q.when(filed.answers, FACTS, filed.mode,
                                                frozenset({"heating"})))}
    assert applicable <= set(filed.answers), applicable - set(filed.answers)
    assert set(filed.answers) <= set(w.cl.index)
    # After filing, nothing more changes.
    again = w.send(text="好")
    assert again.state["status"] == "filed" and not again.events


def test_mode_and_season_decide_which_questions_are_asked() -> None:
    by_phone = Walk("linzi-2022", ctx(seasons=frozenset({"flood"})))
    by_phone.send(text="电话")
    assert by_phone.state["answers"][MODE] == "phone"
    answers = by_phone.finish().answers
    assert "outdoor_env" not in answers and "indoor_env" not in answers  # not seen by phone
    assert "flood_safety" in answers and "flood_wiring" not in answers  # wiring needs a visit
    assert "heating_safety" not in answers
    in_winter = Walk("linzi-2022").finish().answers
    assert {"indoor_env", "outdoor_env", "heating_safety"} <= set(in_winter)
    assert "flood_safety" not in in_winter


def test_a_required_mode_is_not_asked() -> None:
    w = Walk("guangxi-2023", ctx(required_mode="in_person", visit_no=4))
    assert w.cur == DATE and w.state["answers"][MODE] == "in_person"
    filed = w.finish()
    assert filed.answers["visit_no"] == 4  # filled from context, never asked


def test_a_risky_answer_is_filed_with_its_kind_and_shown_in_review() -> None:
    w = Walk("linzi-2022")
    while w.cur != "gas_safety":
        w.safe_answer()
    w.send(text="差")  # a synonym of 较差
    assert w.state["answers"]["gas_safety"] == "较差"
    while w.cur != REVIEW:
        w.safe_answer()
    assert "燃气安全：较差 ⚠" in w.last.replies[-1].text
    filed = w.finish()
    assert [(r.question_id, r.severity, r.kind) for r in filed.risks] == [
        ("gas_safety", "high", "gas")]


def test_an_emergency_is_raised_at_once_not_at_filing() -> None:
    w = Walk("jingdezhen-2020")
    while w.cur != "emergency":
        w.safe_answer()
    res = w.send(text="遭受侵害")
    flagged = [e for e in res.events if isinstance(e, RiskFlagged)]
    assert [(f.question_id, f.severity, f.display) for f in flagged] == [
        ("emergency", "emergency", "遭受侵害")]
    assert "拨打 120" in res.replies[0].text  # what to do now, before the next question
    assert w.state["status"] == "active" and w.cur != "emergency"  # the form goes on
    filed = w.finish()
    assert [r.severity for r in filed.risks] == ["emergency"]
    # raised once: filing does not raise the same emergency again as a new event
    assert len([e for e in w.events if isinstance(e, RiskFlagged)]) == 1


def test_multi_choice_toggles_and_refuses_none_with_others() -> None:
    w = Walk("anshan-2020")
    while w.cur != "emergency":
        w.safe_answer()
    w.send(choice="a:emergency:2")
    w.send(choice="a:emergency:4")
    w.send(choice="a:emergency:2")  # pressed again: unticked
    assert w.state["multi"] == ["危重病情"]
    assert "✓ 危重病情" in [label for _v, label in w.last.replies[-1].choices]
    w.send(choice="a:emergency:done")
    assert w.state["answers"]["emergency"] == ["危重病情"]
    # typed: 无 with an emergency is contradictory, and re-prompted
    w.send(text="上一题")
    assert w.cur == "emergency"
    before = dict(w.state["answers"])
    w.send(text="1 3")
    assert w.state["answers"] == before and w.cur == "emergency"


def test_numbers_out_of_range_are_reprompted_and_low_temperature_flags() -> None:
    w = Walk("anshan-2020")
    while w.cur != "indoor_temperature":
        w.safe_answer()
    for bad in ("九十九", "99", "abc", "12.5"):
        w.send(text=bad)
        assert w.cur == "indoor_temperature" and "indoor_temperature" not in w.state["answers"]
    w.send(text="十二")
    assert w.state["answers"]["indoor_temperature"] == 12
    assert w.state["severity"]["indoor_temperature"] == "high"


def test_the_visit_date_cannot_be_in_the_future_or_long_ago() -> None:
    w = Walk("linzi-2022")
    w.safe_answer()
    assert w.cur == DATE
    for bad in ("2026-12-01", "2025-01-01", "明年", "2026-02-30"):
        w.send(text=bad)
        assert w.cur == DATE, bad
    w.send(text="11-20")
    assert w.state["answers"][DATE] == "2026-11-20"


def test_back_and_a_changed_answer_clear_what_no_longer_applies() -> None:
    w = Walk("linzi-2022")
    while w.cur != "need_home_service":
        w.safe_answer()
    w.send(text="是")
    assert w.cur == "need_home_service_met"
    w.send(text="否")  # need not met: a watch-level risk
    assert w.state["severity"]["need_home_service_met"] == "watch"
    w.send(text="上一题")
    w.send(text="上一题")
    assert w.cur == "need_home_service"
    w.send(text="没有")
    assert "need_home_service_met" not in w.state["answers"]
    assert "need_home_service_met" not in w.state["severity"]
    assert any(isinstance(e, AnswerCleared) and e.question_id == "need_home_service_met"
               for e in w.events)
    assert w.cur == "need_companion"


def test_review_edit_returns_to_review() -> None:
    w = Walk("liuzhou-2021")
    while w.cur != REVIEW:
        w.safe_answer()
    items = w.last.replies[-1].text
    assert "3. 健康状况：好" in items
    w.send(text="修改 3")
    assert w.cur == "health"
    w.send(text="一般")
    assert w.cur == REVIEW
    assert w.finish().answers["health"] == "一般"


def test_skip_pause_resume_cancel() -> None:
    w = Walk("linzi-2022")
    w.safe_answer()
    w.safe_answer()
    assert w.cur == "self_care"
    w.send(text="跳过")
    assert w.cur == "self_care"  # required: cannot be skipped
    w.send(text="暂停")
    assert w.state["status"] == "paused"
    w.send(text="好")
    assert "self_care" not in w.state["answers"]  # nothing is taken while paused
    w.send(text="继续")
    assert w.state["status"] == "active" and w.cur == "self_care"
    w.send(text="取消")
    assert w.state["status"] == "cancelled"
    assert any(isinstance(e, Cancelled) for e in w.events)
    assert engine.is_finished(w.state)


def test_a_stale_or_forged_button_changes_nothing() -> None:
    w = Walk("linzi-2022")
    w.safe_answer()
    w.safe_answer()
    before = json.dumps(w.state, sort_keys=True)
    for data in ("a:gas_safety:3", "a:self_care:99", "a:_review:1", "zz", "a::", "c:nuke"):
        res = w.send(choice=data)
        assert not [e for e in res.events if not isinstance(e, AnswerCleared)], data
        assert json.dumps(w.state, sort_keys=True) == before, data
        assert res.replies  # the visitor is told and asked again


def test_photo_is_asked_only_where_the_platform_can_send_one() -> None:
    without = Walk("anshan-2020").finish().answers
    assert "photo" not in without
    w = Walk("anshan-2020", ctx(capabilities=frozenset({"buttons", "photo"})))
    while w.cur != "photo":
        w.safe_answer()
    w.send(text="好")
    assert w.cur == "photo"  # text is not a photo; optional, so 跳过 works
    w.send(media_kind="photo", media_ref="file-123")
    assert w.state["answers"]["photo"] == {"photo": "file-123"}


# --- property: whatever arrives, the engine neither crashes nor files a bad record ------

TEXTS = ["好", "一般", "较差", "是", "否", "1", "2", "3", "9", "0", "-5", "今天", "昨天",
         "2030-01-01",
         "上一题", "跳过", "暂停", "继续", "帮助", "确认", "完成", "修改 2", "无", "遭受侵害",
         "", "  ", "🙂", "x" * 600, "1 2", "十二"]
CHOICES = ["a:_mode:1", "a:_mode:9", "a:_date:1", "c:confirm", "c:skip", "c:back", "c:resume",
           "a:self_care:1", "a:gas_safety:3", "a:emergency:1", "a:emergency:done", "junk"]
inbound = st.one_of(
    st.sampled_from(TEXTS).map(lambda t: Inbound(text=t)),
    st.sampled_from(CHOICES).map(lambda c: Inbound(choice=c)),
    st.text(max_size=20).map(lambda t: Inbound(text=t)),
    st.just(Inbound(media_kind="photo", media_ref="p")),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(SEEDS), msgs=st.lists(inbound, max_size=60),
       finish=st.booleans())
# found once at random: '²'.isdigit() is true and int('²') raised at the mode question
@example(name="linzi-2022", msgs=[Inbound(text="²")], finish=False)
@example(name="guangxi-2023", msgs=[Inbound(text="٣"), Inbound(choice="a:_mode:²")],
         finish=True)
def test_any_sequence_of_messages_is_safe(name: str, msgs: list[Inbound],
                                          finish: bool) -> None:
    w = Walk(name)
    for m in msgs:
        if engine.is_finished(w.state):
            break
        res = engine.step(w.state, m, w.cl, w.ctx, NOW)
        assert res.replies, "every message gets an answer"
        w.state = json.loads(json.dumps(res.state, ensure_ascii=False))
        w.events += res.events
        assert w.state["status"] in ("active", "paused", "filed", "cancelled")
        assert w.cur in (MODE, DATE, REVIEW) or w.cur in w.cl.index
    if finish and w.state["status"] == "paused":
        w.send(text="继续")
    if finish and w.state["status"] == "active":
        w.finish()
    if finish:
        assert w.state["status"] in ("filed", "cancelled")
        w.send(text="确认")  # a second confirm after filing files nothing more
        w.send(choice="c:confirm")
    filed_events = [e for e in w.events if isinstance(e, Filed)]
    assert len(filed_events) <= 1, "filed twice"
    assert (len(filed_events) == 1) == (w.state["status"] == "filed")
    for filed in filed_events:
        assert set(filed.answers) <= set(w.cl.index)
        for q in w.cl.questions:
            if q.id in filed.answers and q.when is not None:
                assert q.when(filed.answers, FACTS, filed.mode, w.ctx.seasons), q.id
            if q.required and not q.auto and q.type not in ("photo", "location") and (
                    q.when is None or q.when(filed.answers, FACTS, filed.mode, w.ctx.seasons)):
                assert q.id in filed.answers, q.id


def test_linzi_records_service_minutes_for_the_time_bank() -> None:
    w = Walk("linzi-2022")
    while w.cur != "service_minutes":
        w.safe_answer()
    w.send(text="0")
    assert w.cur == "service_minutes"  # out of range: asked again
    w.send(text="45分钟")
    assert w.state["answers"]["service_minutes"] == 45
