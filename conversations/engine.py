"""The pure checklist engine: (state, inbound, checklist, context, now) → StepResult.

No I/O: the state is a plain JSON-serialisable dict the store saves after every step,
so a conversation survives restarts and every path is testable in microseconds.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from conversations import answers as parse
from conversations import buttons
from conversations.checklist import Checklist, Question
from conversations.numbers import read_position
from conversations.record import mode_label
from conversations.spoken import tidy
from conversations.text import render

VERSION = 1
REVIEW, MODE, DATE = "_review", "_mode", "_date"
HEARD = "heard"  # a voice transcript at a free-text question, awaiting 确认
RANK = {"watch": 0, "high": 1, "emergency": 2}
COMMANDS = {
    "上一题": "back", "返回": "back", "上一步": "back", "back": "back", "/back": "back",
    "跳过": "skip", "skip": "skip", "/skip": "skip",
    "暂停": "pause", "稍后": "pause", "pause": "pause", "/pause": "pause",
    "继续": "resume", "resume": "resume", "/resume": "resume",
    "取消": "cancel", "放弃": "cancel", "cancel": "cancel", "/cancel": "cancel",
    "帮助": "help", "help": "help", "/help": "help", "?": "help", "？": "help",
    "确认": "confirm", "提交": "confirm", "确认提交": "confirm", "confirm": "confirm",
    "完成": "done", "选好了": "done",
}
MODE_SYNONYMS = {"in_person": ("上门", "实地", "入户", "当面"), "phone": ("电话",),
                 "video": ("视频", "微信视频", "音视频"), "remote": ("远程", "监测"),
                 "other": ("其他", "其它")}
MAX_PAST_DAYS = 31


@dataclass(frozen=True)
class Context:
    subject_name: str
    facts: Mapping[str, Any]
    today: date
    seasons: frozenset[str] = frozenset()
    capabilities: frozenset[str] = frozenset({"buttons"})
    visit_no: int = 1
    required_mode: str | None = None
    # names this conversation in its buttons (the visit), so a press from another one is
    # refused; base 36, short: Telegram carries 64 bytes of button data
    ref: str = "0"


@dataclass(frozen=True)
class Inbound:
    text: str | None = None
    choice: str | None = None
    media_kind: str | None = None
    media_ref: str | None = None
    media_url: str | None = None  # where the platform serves the picture (WeChat PicUrl)
    latitude: float | None = None
    longitude: float | None = None
    voice: bool = False


@dataclass(frozen=True)
class Reply:
    text: str
    choices: tuple[tuple[str, str], ...] = ()
    key: str | None = None
    # the text where the choices are shown as buttons: without the numbered options the
    # full text lists for typing (so a menu does not show them twice)
    head: str | None = None


@dataclass(frozen=True)
class AnswerSet:
    question_id: str
    value: Any
    display: str
    severity: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class AnswerCleared:
    question_id: str


@dataclass(frozen=True)
class RiskFlagged:
    question_id: str
    label: str
    display: str
    severity: str
    kind: str


@dataclass(frozen=True)
class Filed:
    answers: dict[str, Any]
    mode: str
    visited_on: date
    risks: tuple[RiskFlagged, ...]


@dataclass(frozen=True)
class Paused:
    pass


@dataclass(frozen=True)
class Resumed:
    pass


@dataclass(frozen=True)
class Cancelled:
    pass


@dataclass(frozen=True)
class ButtonRefused:
    """A press of a button that does not answer what is being asked now: nothing changed."""

    data: str


@dataclass
class StepResult:
    state: dict[str, Any]
    replies: list[Reply] = field(default_factory=list)
    events: list[object] = field(default_factory=list)


def command_of(text: str) -> str | None:
    """The checklist command a message is (上一题, 取消, /cancel, /取消 …), or None."""
    for t in (text.strip(), tidy(text)):  # "?" is a command; "取消。" is one too
        t = t[1:] if t.startswith("/") else t
        if t and t.lower() in COMMANDS:
            return COMMANDS[t.lower()]
    return None


def is_finished(state: Mapping[str, Any]) -> bool:
    return state.get("status") in ("filed", "cancelled")


# --- entry points --------------------------------------------------------------------


def start(checklist: Checklist, ctx: Context, now: datetime, *,
          after: Mapping[str, Any] | None = None) -> StepResult:
    """A new checklist run. `after` is the state of an earlier run of the same visit (one
    that was cancelled): its asks are counted on from, so none of its buttons comes back
    to life in this run."""
    state: dict[str, Any] = {
        "v": VERSION, "checklist": checklist.name, "status": "active", "cur": MODE,
        "answers": {}, "displays": {}, "severity": {}, "kinds": {}, "history": [],
        "skipped": [], "flagged": [], "multi": [], "editing": False, "paused_from": None,
        "seq": _seq(after or {}) + 1,
    }
    res = StepResult(state)
    for q in checklist.questions:
        if q.auto == "visit_no":
            _set(res, q.id, ctx.visit_no, f"第 {ctx.visit_no} 次", None, None)
    res.replies.append(Reply(render("engine_intro", title=checklist.title,
                                    name=ctx.subject_name, required_mode=mode_label(
                                        checklist, ctx.required_mode))))
    if ctx.required_mode:
        _set(res, MODE, ctx.required_mode, mode_label(checklist, ctx.required_mode), None, None)
        state["cur"] = DATE
    res.replies.append(_ask(checklist, state, ctx))
    _stamp(res, ctx)
    return res


def step(state: dict[str, Any], inbound: Inbound, checklist: Checklist, ctx: Context,
         now: datetime) -> StepResult:
    res = StepResult(_copy(state))
    _step(res, inbound, checklist, ctx)
    if _moved(state, res.state):
        # what is asked, or what it would be filed with, changed: every button shown so far
        # belongs to an earlier ask
        res.state["seq"] = _seq(state) + 1
    _stamp(res, ctx)
    return res


def _step(res: StepResult, inbound: Inbound, checklist: Checklist, ctx: Context) -> None:
    st = res.state
    status = st.get("status")
    if status == "filed":
        res.replies.append(Reply(render("engine_already_filed")))
        return
    if status == "cancelled":
        res.replies.append(Reply(render("engine_cancelled")))
        return
    text = (inbound.text or "").strip()
    command = command_of(text)
    heard = st.pop(HEARD, None)  # a transcript waits for the next message only
    pressed = buttons.parse(inbound.choice) if inbound.choice is not None else None
    confirmed = command == "confirm" or (
        pressed is not None and pressed.kind == "c" and pressed.what == "confirm"
        and _is_live(pressed, st, ctx))
    if heard is not None and heard.get("q") == st.get("cur") and confirmed:
        _on_text(res, str(heard.get("text") or ""), checklist, ctx)
        return
    if inbound.choice is not None:
        _on_choice(res, inbound.choice, checklist, ctx)
        return
    if status == "paused":
        if command in ("resume", "back") or text in ("开始",):
            st["status"] = st.get("paused_from") or "active"
            st["paused_from"] = None
            res.events.append(Resumed())
            res.replies.append(_ask(checklist, st, ctx))
        elif command == "cancel":
            _cancel(res)
        else:
            res.replies.append(Reply(render("engine_is_paused")))
        return
    if inbound.media_kind and not text:
        _on_media(res, inbound, checklist, ctx)
        return
    if command is not None and command != "done":
        _on_command(res, command, checklist, ctx)
        return
    if inbound.voice and text:
        res.replies.append(Reply(render("engine_heard", text=text)))
        cur = st.get("cur")
        if cur in checklist.index and checklist.question(cur).type == "text":
            # free text is kept as heard only once the visitor confirms the transcript
            st[HEARD] = {"q": cur, "text": text}
            res.replies.append(Reply(render("engine_heard_confirm"),
                                     (("c:confirm", "确认"),), cur))
            return
    _on_text(res, text, checklist, ctx)


def ask_again(state: Mapping[str, Any], checklist: Checklist, ctx: Context) -> list[Reply]:
    """What is being asked now, state unchanged: the repeat after a message that
    answers nothing (a hint about an unusable message, a menu command)."""
    st = _copy(state)
    status = st.get("status")
    if status == "paused":
        return [Reply(render("engine_is_paused"))]
    if is_finished(st):
        return []
    return [_ask(checklist, st, ctx)]


# --- handlers ------------------------------------------------------------------------


def _on_choice(res: StepResult, data: str, cl: Checklist, ctx: Context) -> None:
    st = res.state
    button = buttons.parse(data)
    if button is None or not _is_live(button, st, ctx):
        res.events.append(ButtonRefused(data[:64]))
        paused = st.get("status") == "paused"
        res.replies.append(Reply(render("engine_stale_button", paused=paused)))
        res.replies.append(Reply(render("engine_is_paused")) if paused else _ask(cl, st, ctx))
        return
    if button.kind == "c":
        command = button.what
        if command not in set(COMMANDS.values()):
            res.replies.append(_ask(cl, st, ctx))
        elif st.get("status") == "paused" and command not in ("resume", "cancel"):
            res.replies.append(Reply(render("engine_is_paused")))
        elif command == "done":
            _on_text(res, "完成", cl, ctx)
        elif command == "resume" and st.get("status") == "paused":
            st["status"] = st.get("paused_from") or "active"
            st["paused_from"] = None
            res.events.append(Resumed())
            res.replies.append(_ask(cl, st, ctx))
        else:
            _on_command(res, command, cl, ctx)
        return
    qid, idx = st.get("cur"), button.arg
    if st.get("status") == "paused" or qid == REVIEW:
        res.replies.append(Reply(render("engine_is_paused")) if st.get("status") == "paused"
                           else _ask(cl, st, ctx))
        return
    if qid not in (MODE, DATE) and cl.question(qid).type == "multi" and idx != "done":
        options = cl.question(qid).options
        pos = read_position(idx, len(options))
        if pos is None:
            res.replies.append(_ask(cl, st, ctx))
            return
        value = options[pos].value
        sel: list[str] = list(st.get("multi") or [])
        sel = [v for v in sel if v != value] if value in sel else [*sel, value]
        st["multi"] = sel
        res.replies.append(_ask(cl, st, ctx))
        return
    _on_text(res, "完成" if idx == "done" else idx, cl, ctx)


def _is_live(button: buttons.Button, st: Mapping[str, Any], ctx: Context) -> bool:
    """Whether the press answers what is being asked now: this conversation, this ask,
    and (for an answer) this question."""
    if button.ref != ctx.ref or button.seq != _seq(st):
        return False
    return button.kind == "c" or button.what == buttons.question_ref(str(st.get("cur")))


def _on_media(res: StepResult, inbound: Inbound, cl: Checklist, ctx: Context) -> None:
    st = res.state
    cur = st.get("cur")
    q = cl.question(cur) if cur in cl.index else None
    if q is None or q.type != inbound.media_kind:
        res.replies.append(Reply(render("engine_media_unexpected")))
        res.replies.append(_ask(cl, st, ctx))
        return
    if q.type == "photo":
        value: Any = {"photo": inbound.media_ref}
        if inbound.media_url:  # WeChat's MediaId lapses after 3 days; its PicUrl stays
            value["url"] = inbound.media_url
        display = "已上传照片"
    else:
        value = {"lat": inbound.latitude, "lon": inbound.longitude, "ref": inbound.media_ref}
        display = f"{inbound.latitude:.5f},{inbound.longitude:.5f}" if (
            inbound.latitude is not None and inbound.longitude is not None) else "已发送位置"
    _accept(res, q, value, display, cl, ctx)


def _on_command(res: StepResult, command: str, cl: Checklist, ctx: Context) -> None:
    st = res.state
    if command == "help":
        res.replies.append(Reply(render("engine_help")))
        res.replies.append(_ask(cl, st, ctx))
    elif command == "pause":
        st["paused_from"] = st.get("status")
        st["status"] = "paused"
        res.events.append(Paused())
        res.replies.append(Reply(render("engine_paused"), (("c:resume", "继续填写"),)))
    elif command == "resume":
        res.replies.append(_ask(cl, st, ctx))
    elif command == "cancel":
        _cancel(res)
    elif command == "back":
        _back(res, cl, ctx)
    elif command == "skip":
        _skip(res, cl, ctx)
    elif command == "confirm":
        if st.get("cur") == REVIEW:
            _file(res, cl, ctx)
        else:
            res.replies.append(Reply(render("engine_not_yet")))
            res.replies.append(_ask(cl, st, ctx))


def _on_text(res: StepResult, text: str, cl: Checklist, ctx: Context) -> None:
    st = res.state
    cur = st.get("cur")
    if cur not in cl.index or cl.question(cur).type != "text":
        # a recogniser's "。", full-width digits: not part of a choice, number or date
        text = tidy(text)
    if cur == MODE:
        code = _match_mode(cl, text, ctx)
        if code is None:
            res.replies.append(_ask(cl, st, ctx, hint="engine_hint_choice"))
            return
        _set(res, MODE, code, mode_label(cl, code), None, None)
        _push(st, MODE)
        _prune(res, cl, ctx)
        st["cur"] = DATE if DATE not in st["answers"] or not st.get("editing") else _after(
            cl, st, ctx, MODE)
        res.replies.append(_ask(cl, st, ctx))
        return
    if cur == DATE:
        p = parse.parse_date(text, ctx.today, "forbid", MAX_PAST_DAYS)
        if text in ("1",):
            p = parse.parse_date("今天", ctx.today)
        elif text in ("2",):
            p = parse.parse_date("昨天", ctx.today)
        if not p.ok:
            res.replies.append(_ask(cl, st, ctx, hint=p.hint))
            return
        _set(res, DATE, p.value, p.display, None, None)
        _push(st, DATE)
        st["cur"] = _after(cl, st, ctx, DATE)
        res.replies.append(_ask(cl, st, ctx))
        return
    if cur == REVIEW:
        _on_review(res, text, cl, ctx)
        return
    q = cl.question(cur)
    if q.type == "multi" and text == "完成":
        sel = [o for o in q.options if o.value in (st.get("multi") or [])]
        if not sel:
            res.replies.append(_ask(cl, st, ctx, hint="engine_hint_multi"))
            return
        text = " ".join(o.value for o in sel)
    parsed = _parse(q, text, ctx)
    if not parsed.ok:
        res.replies.append(_ask(cl, st, ctx, hint=parsed.hint))
        return
    _accept(res, q, parsed.value, parsed.display, cl, ctx)


def _parse(q: Question, text: str, ctx: Context) -> parse.Parsed:
    if q.type == "single":
        return parse.parse_single(q, text)
    if q.type == "multi":
        return parse.parse_multi(q, text)
    if q.type == "yesno":
        return parse.parse_yesno(text, q.prompt)
    if q.type == "number":
        return parse.parse_number(q, text)
    if q.type == "date":
        return parse.parse_date(text, ctx.today, q.future)
    if q.type == "text":
        return parse.parse_text(q, text)
    return parse.Parsed(False, hint=f"engine_hint_{q.type}")


def _accept(res: StepResult, q: Question, value: Any, display: str, cl: Checklist,
            ctx: Context) -> None:
    st = res.state
    severity, kind = _risk(q, value)
    _set(res, q.id, value, display, severity, kind)
    st["multi"] = []
    if q.id in st["skipped"]:
        st["skipped"].remove(q.id)
    _push(st, q.id)
    if severity == "emergency" and q.id not in st["flagged"]:
        st["flagged"].append(q.id)
        res.events.append(RiskFlagged(q.id, q.label, display, severity, kind or "emergency"))
        res.replies.append(Reply(render("engine_emergency", label=q.label, display=display)))
    _prune(res, cl, ctx)
    st["cur"] = _after(cl, st, ctx, q.id)
    res.replies.append(_ask(cl, st, ctx))


def _risk(q: Question, value: Any) -> tuple[str | None, str | None]:
    if q.type in ("single", "multi"):
        chosen = value if isinstance(value, list) else [value]
        best = None
        for o in q.options:
            if o.value in chosen and o.risk and (best is None or RANK[o.risk] > RANK[best.risk]):
                best = o
        if best is None:
            return None, None
        return best.risk, best.kind or q.kind
    if q.type == "yesno" and q.risk_if is not None and value == q.risk_if:
        return q.risk or "watch", q.kind
    if q.type == "number" and isinstance(value, int | float) and _out_of_band(q, value):
        return q.risk or "high", q.kind
    return None, None


def _out_of_band(q: Question, value: float) -> bool:
    return (q.risk_below is not None and value < q.risk_below) or (
        q.risk_above is not None and value > q.risk_above)


def _on_review(res: StepResult, text: str, cl: Checklist, ctx: Context) -> None:
    st = res.state
    t = text.replace("修改", "").replace("改", "").strip()
    items = _review_items(cl, st)
    pos = read_position(t, len(items))
    if pos is not None:
        st["cur"] = items[pos][0]
        st["editing"] = True
        res.replies.append(_ask(cl, st, ctx))
        return
    res.replies.append(_ask(cl, st, ctx, hint="engine_hint_review"))


def _back(res: StepResult, cl: Checklist, ctx: Context) -> None:
    st = res.state
    history: list[str] = st["history"]
    cur = st.get("cur")
    while history and history[-1] == cur:
        history.pop()
    if not history:
        res.replies.append(Reply(render("engine_no_previous")))
        res.replies.append(_ask(cl, st, ctx))
        return
    st["cur"] = history.pop()
    st["multi"] = []
    res.replies.append(_ask(cl, st, ctx))


def _skip(res: StepResult, cl: Checklist, ctx: Context) -> None:
    st = res.state
    cur = st.get("cur")
    if cur in (MODE, DATE, REVIEW) or cl.question(cur).required:
        res.replies.append(Reply(render("engine_cannot_skip")))
        res.replies.append(_ask(cl, st, ctx))
        return
    if cur in st["answers"]:
        _clear(res, cur)
    if cur not in st["skipped"]:
        st["skipped"].append(cur)
    _push(st, cur)
    st["cur"] = _after(cl, st, ctx, cur)
    res.replies.append(_ask(cl, st, ctx))


def _cancel(res: StepResult) -> None:
    res.state["status"] = "cancelled"
    res.events.append(Cancelled())
    res.replies.append(Reply(render("engine_cancelled")))


def _file(res: StepResult, cl: Checklist, ctx: Context) -> None:
    st = res.state
    answers = {k: v for k, v in st["answers"].items() if not k.startswith("_")}
    risks = []
    for q in cl.questions:
        sev = st["severity"].get(q.id)
        if sev and q.id in answers:
            risks.append(RiskFlagged(q.id, q.label, st["displays"].get(q.id, ""), sev,
                                     st["kinds"].get(q.id) or q.kind or "other"))
    st["status"] = "filed"
    res.events.append(Filed(answers=answers, mode=st["answers"][MODE],
                            visited_on=date.fromisoformat(st["answers"][DATE]),
                            risks=tuple(risks)))
    res.replies.append(Reply(render("engine_filed", name=ctx.subject_name,
                                    risks=[r.label for r in risks],
                                    urgent=any(r.severity != "watch" for r in risks))))


# --- navigation ----------------------------------------------------------------------


def _applicable(q: Question, st: Mapping[str, Any], ctx: Context) -> bool:
    if q.auto:
        return False
    if q.type in ("photo", "location") and q.type not in ctx.capabilities:
        return False
    if q.when is None:
        return True
    return q.when(st["answers"], ctx.facts, st["answers"].get(MODE), ctx.seasons)


def _after(cl: Checklist, st: dict[str, Any], ctx: Context, qid: str) -> str:
    """The next question to ask after `qid`: unanswered and applicable, else the review."""
    start_at = cl.index[qid] + 1 if qid in cl.index else 0
    for q in cl.questions[start_at:]:
        if q.id not in st["answers"] and q.id not in st["skipped"] and _applicable(q, st, ctx):
            return q.id
    if st.get("editing"):
        # an edit may have made earlier questions relevant (e.g. a new condition holds)
        for q in cl.questions[:start_at]:
            if q.id not in st["answers"] and q.id not in st["skipped"] and _applicable(
                    q, st, ctx):
                return q.id
    st["editing"] = False
    return REVIEW


def _prune(res: StepResult, cl: Checklist, ctx: Context) -> None:
    """Clear answers whose question no longer applies after a change."""
    st = res.state
    changed = True
    while changed:
        changed = False
        for q in cl.questions:
            if q.id in st["answers"] and not q.auto and not _applicable(q, st, ctx):
                _clear(res, q.id)
                changed = True


def _set(res: StepResult, qid: str, value: Any, display: str, severity: str | None,
         kind: str | None) -> None:
    st = res.state
    st["answers"][qid] = value
    st["displays"][qid] = display
    if severity:
        st["severity"][qid] = severity
        st["kinds"][qid] = kind
    else:
        st["severity"].pop(qid, None)
        st["kinds"].pop(qid, None)
    res.events.append(AnswerSet(qid, value, display, severity, kind))


def _clear(res: StepResult, qid: str) -> None:
    st = res.state
    for key in ("answers", "displays", "severity", "kinds"):
        st[key].pop(qid, None)
    res.events.append(AnswerCleared(qid))


def _push(st: dict[str, Any], qid: str) -> None:
    if not st["history"] or st["history"][-1] != qid:
        st["history"].append(qid)


def _seq(state: Mapping[str, Any]) -> int:
    seq = state.get("seq")
    return seq if isinstance(seq, int) else 0


# What a button's meaning depends on: a press is honoured only while none of it changed.
_ASKED = ("cur", "status", "answers", "skipped")


def _moved(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    return any(before.get(k) != after.get(k) for k in _ASKED)


def _stamp(res: StepResult, ctx: Context) -> None:
    """Name this conversation and this ask in every button of the step's replies."""
    seq = _seq(res.state)
    for i, reply in enumerate(res.replies):
        if reply.choices:
            res.replies[i] = Reply(reply.text, tuple(
                (_stamped(value, ctx.ref, seq), label) for value, label in reply.choices),
                reply.key, reply.head)


def _stamped(raw: str, ref: str, seq: int) -> str:
    kind, _, rest = raw.partition(":")
    if kind == "c":
        return buttons.command(rest, ref, seq)
    qid, _, arg = rest.rpartition(":")
    return buttons.answer(qid, arg, ref, seq)


def _copy(state: Mapping[str, Any]) -> dict[str, Any]:
    st = dict(state)
    for key in ("answers", "displays", "severity", "kinds"):
        st[key] = dict(state.get(key) or {})
    for key in ("history", "skipped", "flagged", "multi"):
        st[key] = list(state.get(key) or [])
    return st


def _match_mode(cl: Checklist, text: str, ctx: Context) -> str | None:
    modes = [m for m in cl.modes if not ctx.required_mode or m.code == ctx.required_mode]
    t = text.strip()
    pos = read_position(t, len(modes))
    if pos is not None:
        return modes[pos].code
    for m in modes:
        if t in (m.code, m.label) or t in MODE_SYNONYMS.get(m.code, ()) or (t and t in m.label):
            return m.code
    return None


_TITLES = {MODE: "探访方式", DATE: "探访日期"}


def title(cl: Checklist, qid: str) -> str:
    """What an ask is called where its answer is shown (the review, a confirmation):
    the question's label on the paper form."""
    return _TITLES.get(qid) or cl.question(qid).label


def _review_items(cl: Checklist, st: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    items = [(MODE, title(cl, MODE), st["displays"].get(MODE, "")),
             (DATE, title(cl, DATE), st["displays"].get(DATE, ""))]
    for q in cl.questions:
        if q.id in st["answers"] and not q.auto:
            items.append((q.id, q.label, st["displays"].get(q.id, "")))
    return items


def _ask(cl: Checklist, st: dict[str, Any], ctx: Context, hint: str | None = None) -> Reply:
    cur = st["cur"]
    hint_text = ""
    # two texts: `text` lists the options to answer by typing, `head` goes above buttons
    if cur == MODE:
        modes = [m for m in cl.modes if not ctx.required_mode or m.code == ctx.required_mode]
        text, head = _two("engine_ask_mode", modes=[m.label for m in modes],
                          hint=render(hint) if hint else "")
        return Reply(text, tuple((f"a:{MODE}:{i}", m.label) for i, m in enumerate(modes, 1)),
                     MODE, head)
    if cur == DATE:
        text, head = _two("engine_ask_date", hint=render(hint) if hint else "",
                          today=ctx.today.isoformat())
        return Reply(text, ((f"a:{DATE}:1", "今天"), (f"a:{DATE}:2", "昨天")), DATE, head)
    if cur == REVIEW:
        items = _review_items(cl, st)
        risky = {qid for qid in st["severity"]}
        text = render("engine_review", items=[
            {"n": n, "label": label, "display": d, "risk": qid in risky}
            for n, (qid, label, d) in enumerate(items, 1)], hint=render(hint) if hint else "")
        return Reply(text, (("c:confirm", "确认提交"), ("c:cancel", "取消")), REVIEW)
    q = cl.question(cur)
    selected = set(st.get("multi") or [])
    options = [{"n": i, "label": o.label, "on": o.value in selected}
               for i, o in enumerate(q.options, 1)]
    if hint:
        hint_text = render(hint, min=_num(q.min), max=_num(q.max), limit=q.max_length)
    shown = {"section": q.section, "prompt": q.prompt, "type": q.type, "options": options,
             "required": q.required, "unit": q.unit, "qhint": q.hint,
             "current": st["displays"].get(q.id), "progress": _progress(cl, st, ctx, q),
             "hint": hint_text}
    choices: list[tuple[str, str]] = []
    if q.type in ("single", "multi"):
        choices = [(f"a:{q.id}:{i}", ("✓ " if o.value in selected else "") + o.label)
                   for i, o in enumerate(q.options, 1)]
        if q.type == "multi":
            choices.append((f"a:{q.id}:done", "完成"))
    elif q.type == "yesno":
        choices = [(f"a:{q.id}:1", "是"), (f"a:{q.id}:2", "否")]
    if not q.required:
        choices.append(("c:skip", "跳过"))
    text, head = _two("engine_question", **shown)
    return Reply(text, tuple(choices), q.id, head if choices else None)


# Marks in the ask templates: L…E only in the text for typing, H…E only above buttons.
# (private-use characters: never typed, and not whitespace that strip() would take)
_L, _H, _E = "\ue000", "\ue001", "\ue002"
_ONLY_TYPED = re.compile(f"{_L}[^{_E}]*{_E}")
_ONLY_BUTTONS = re.compile(f"{_H}[^{_E}]*{_E}")
_MARKS = str.maketrans("", "", _L + _H + _E)


# Asks already rendered, by template and context: every visitor on a question is asked
# the same words, and rendering them was a twentieth of a button press's CPU. Bounded:
# the current answer shown may be any text, so the memo is emptied when it is full.
_RENDERED: dict[tuple[Any, ...], tuple[str, str]] = {}
_RENDERED_MAX = 4096


def _two(template: str, **context: Any) -> tuple[str, str]:
    """One rendering of an ask, as (the text for typing, the head above buttons)."""
    key = (template, os.environ.get("VISITBOT_TEMPLATES_DIR"), _frozen(context))
    if (hit := _RENDERED.get(key)) is not None:
        return hit
    both = render(template, L=_L, H=_H, E=_E, **context)
    two = (_ONLY_BUTTONS.sub("", both).translate(_MARKS).strip(),
           _ONLY_TYPED.sub("", both).translate(_MARKS).strip())
    if len(_RENDERED) >= _RENDERED_MAX:
        _RENDERED.clear()
    _RENDERED[key] = two
    return two


def _frozen(value: Any) -> Any:
    """`value` as a key, each container tagged with its type: a list, a tuple and a dict
    of the same items render differently, as do True, 1 and 1.0, which compare equal."""
    if isinstance(value, dict):
        return dict, tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return type(value), tuple(_frozen(v) for v in value)
    if isinstance(value, bool | float):
        return type(value), value
    return value


def _progress(cl: Checklist, st: dict[str, Any], ctx: Context, q: Question) -> str:
    applicable = [x.id for x in cl.questions if _applicable(x, st, ctx)]
    if q.id not in applicable:
        return ""
    return f"{applicable.index(q.id) + 1}/{len(applicable)}"


def _num(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if x == int(x) else str(x)
