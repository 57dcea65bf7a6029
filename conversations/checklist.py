"""Checklists as data: one YAML file per local policy, validated and compiled once.

A county changes its form without code: files in VISITBOT_CHECKLISTS_DIR win over the
packaged ones of the same name. Every error names the file and the question, so the
person editing the YAML can find the mistake without reading Python.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from conversations.yaml_bounds import YamlBoundsError, load_bounded

PACKAGED = Path(__file__).parent / "checklists"
TYPES = ("single", "multi", "yesno", "number", "date", "text", "photo", "location")
MODE_CODES = ("in_person", "phone", "video", "remote", "other")
SEVERITIES = ("watch", "high", "emergency")
SEASONS = ("flood", "heating")
FUTURE = ("forbid", "allow", "only")
AUTO = ("visit_no",)
# roster facts a filed answer changes (bot/chat/household.py): the text answer of such a
# question names the household members who joined or left
UPDATES = ("household_add", "household_remove")
TOP_KEYS = {"name", "title", "issuer", "modes", "scales", "sections"}
QUESTION_KEYS = {"id", "label", "type", "prompt", "options", "scale", "required", "kind",
                 "when", "min", "max", "integer", "unit", "max_length", "future", "auto",
                 "risk_if", "risk", "risk_below", "risk_above", "hint", "updates"}
OPTION_KEYS = {"value", "label", "risk", "kind", "synonyms", "exclusive"}

# answers, facts, mode, seasons → is the question asked?
Condition = Callable[[Mapping[str, Any], Mapping[str, Any], "str | None", frozenset[str]], bool]


class ChecklistError(ValueError):
    """A checklist definition that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Mode:
    code: str
    label: str  # the seed's own word: 上门巡访, 实地, 电话问候 …


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    risk: str | None = None
    kind: str | None = None
    synonyms: tuple[str, ...] = ()
    exclusive: bool = False  # multi: cannot be combined with others (无)


@dataclass(frozen=True, eq=False)
class Question:
    id: str
    label: str  # the item's name on the paper form
    type: str
    section: str
    prompt: str  # what the visitor is asked
    options: tuple[Option, ...] = ()
    required: bool = True
    kind: str | None = None  # what a risk is filed under (health, gas, housing …)
    when: Condition | None = None
    min: float | None = None
    max: float | None = None
    integer: bool = True
    unit: str = ""
    max_length: int = 500
    future: str = "forbid"
    auto: str | None = None  # filled from context, never asked
    risk_if: bool | None = None
    risk: str | None = None
    risk_below: float | None = None
    risk_above: float | None = None
    hint: str | None = None
    updates: str | None = None  # one of UPDATES: the roster fact a filed answer changes


@dataclass(frozen=True, eq=False)
class Checklist:
    name: str
    title: str
    issuer: str
    modes: tuple[Mode, ...]
    questions: tuple[Question, ...]
    sections: tuple[str, ...]
    index: Mapping[str, int] = field(default_factory=dict)

    def question(self, qid: str) -> Question:
        return self.questions[self.index[qid]]


def _dirs() -> list[Path]:
    override = os.environ.get("VISITBOT_CHECKLISTS_DIR")
    return ([Path(override)] if override else []) + [PACKAGED]


RECHECK_SECONDS = 1.0  # how soon an edited checklist file is picked up
_recent: dict[tuple[str, str | None], tuple[float, Checklist]] = {}


def load_checklist(name: str) -> Checklist:
    """The checklist called `name` (e.g. "linzi-2022"), or the YAML file at that path.

    Every answer asks for its checklist; the files are looked at (found, stat'ed) at
    most once a second per name, not on every message."""
    key = (name, os.environ.get("VISITBOT_CHECKLISTS_DIR"))
    now = time.monotonic()
    hit = _recent.get(key)
    if hit is not None and now - hit[0] < RECHECK_SECONDS:
        return hit[1]
    checklist = _find_and_load(name)
    _recent[key] = (now, checklist)
    return checklist


def _find_and_load(name: str) -> Checklist:
    if name.endswith((".yaml", ".yml")):
        path = Path(name)
        if not path.is_file():
            raise ChecklistError(f"{name}: no such checklist file")
    else:
        found = [d / f"{name}.yaml" for d in _dirs() if (d / f"{name}.yaml").is_file()]
        if not found or name.startswith("_"):
            raise ChecklistError(f"no checklist named '{name}' "
                                 f"(have: {', '.join(available_checklists())})")
        path = found[0]
    # mtime in the cache key: an edited checklist is picked up without a restart.
    return _load(str(path.resolve()), path.stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _load(path: str, _mtime: int) -> Checklist:
    p = Path(path)
    try:
        data = load_bounded(p.read_text(encoding="utf-8"))
    except YamlBoundsError as e:
        raise ChecklistError(f"{p.name}: refused: {e}") from None
    except yaml.YAMLError as e:
        raise ChecklistError(f"{p.name}: not valid YAML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ChecklistError(f"{p.name}: cannot be read: {e}") from None
    return parse_checklist(data, p.name, p.stem)


def available_checklists() -> list[str]:
    names: set[str] = set()
    for d in _dirs():
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.yaml") if not p.name.startswith("_"))
    return sorted(names)


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise ChecklistError(f"{where} must be non-empty text")
    return str(value).strip()


def _num(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ChecklistError(f"{where} must be a number")
    return value


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> Any:
    if value is not None and value not in allowed:
        raise ChecklistError(f"{where}: {value!r} is not one of {', '.join(allowed)}")
    return value


def parse_checklist(data: Any, source: str = "<checklist>", stem: str | None = None
                    ) -> Checklist:
    """Validate a YAML document and compile its conditions."""
    if not isinstance(data, dict):
        raise ChecklistError(f"{source}: a checklist file must be a mapping")
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise ChecklistError(f"{source}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    name = _text(data.get("name", stem), f"{source}: name")
    if stem is not None and name != stem:
        raise ChecklistError(f"{source}: name '{name}' differs from the file name '{stem}'")
    modes = _modes(data.get("modes"), source)
    scales = data.get("scales") or {}
    if not isinstance(scales, dict):
        raise ChecklistError(f"{source}: scales must map a name to a list of options")
    sections = data.get("sections")
    if not isinstance(sections, list) or not sections:
        raise ChecklistError(f"{source}: sections must be a non-empty list")
    questions: list[Question] = []
    titles: list[str] = []
    seen: set[str] = set()
    mode_codes = {m.code for m in modes}
    for i, sec in enumerate(sections, 1):
        if not isinstance(sec, dict) or not isinstance(sec.get("questions"), list) \
                or not sec["questions"]:
            raise ChecklistError(f"{source}: section {i} needs a title and questions")
        title = _text(sec.get("title"), f"{source}: section {i} title")
        titles.append(title)
        for raw in sec["questions"]:
            q = _question(raw, title, source, scales, seen, mode_codes)
            seen.add(q.id)
            questions.append(q)
    return Checklist(name=name, title=_text(data.get("title"), f"{source}: title"),
                     issuer=str(data.get("issuer") or ""), modes=modes,
                     questions=tuple(questions), sections=tuple(titles),
                     index={q.id: i for i, q in enumerate(questions)})


def _modes(raw: Any, source: str) -> tuple[Mode, ...]:
    if not isinstance(raw, list) or not raw:
        raise ChecklistError(f"{source}: modes must be a non-empty list of {{code, label}}")
    out: list[Mode] = []
    for m in raw:
        if not isinstance(m, dict) or m.get("code") not in MODE_CODES:
            raise ChecklistError(f"{source}: mode {m!r} needs a code, one of "
                                 f"{', '.join(MODE_CODES)}")
        if any(x.code == m["code"] for x in out):
            raise ChecklistError(f"{source}: mode '{m['code']}' is listed twice")
        out.append(Mode(m["code"], _text(m.get("label"), f"{source}: mode label")))
    return tuple(out)


def _question(raw: Any, section: str, source: str, scales: Mapping[str, Any],
              earlier: set[str], modes: set[str]) -> Question:
    if not isinstance(raw, dict):
        raise ChecklistError(f"{source}: question {raw!r} must be a mapping")
    qid = raw.get("id")
    if not isinstance(qid, str) or not qid.isascii() or not qid.isidentifier() \
            or len(qid) > 40:
        raise ChecklistError(f"{source}: question id {qid!r} must be an ASCII identifier")
    where = f"{source}, question '{qid}'"
    if qid in earlier:
        raise ChecklistError(f"{where}: duplicate id")
    unknown = set(raw) - QUESTION_KEYS
    if unknown:
        raise ChecklistError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    qtype = _choice(raw.get("type"), TYPES, f"{where}: type")
    if qtype is None:
        raise ChecklistError(f"{where}: type is required")
    label = _text(raw.get("label"), f"{where}: label")
    options: tuple[Option, ...] = ()
    if qtype in ("single", "multi"):
        options = _options(raw, where, scales, qtype)
    elif "options" in raw or "scale" in raw:
        raise ChecklistError(f"{where}: a {qtype} question takes no options")
    required = raw.get("required", qtype not in ("photo", "location"))
    risk_if = raw.get("risk_if")
    for key, val in (("required", required), ("risk_if", risk_if),
                     ("integer", raw.get("integer"))):
        if val is not None and not isinstance(val, bool):
            raise ChecklistError(f"{where}: {key} must be true or false")
    lo, hi = _num(raw.get("min"), f"{where}: min"), _num(raw.get("max"), f"{where}: max")
    if lo is not None and hi is not None and lo > hi:
        raise ChecklistError(f"{where}: min {lo} is greater than max {hi}")
    max_length = raw.get("max_length", 500)
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise ChecklistError(f"{where}: max_length must be a whole number ≥ 1")
    when = compile_condition(raw["when"], where, earlier, modes) if "when" in raw else None
    return Question(
        id=qid, label=label, type=qtype, section=section,
        prompt=_text(raw.get("prompt", label), f"{where}: prompt"), options=options,
        required=bool(required), kind=raw.get("kind"), when=when, min=lo, max=hi,
        integer=raw.get("integer", True), unit=str(raw.get("unit", "")),
        max_length=max_length, future=_choice(raw.get("future", "forbid"), FUTURE, where),
        auto=_choice(raw.get("auto"), AUTO, f"{where}: auto"), risk_if=risk_if,
        risk=_choice(raw.get("risk"), SEVERITIES, f"{where}: risk"),
        risk_below=_num(raw.get("risk_below"), f"{where}: risk_below"),
        risk_above=_num(raw.get("risk_above"), f"{where}: risk_above"),
        hint=raw.get("hint"), updates=_updates(raw.get("updates"), qtype, where))


def _updates(value: Any, qtype: str, where: str) -> str | None:
    value = _choice(value, UPDATES, f"{where}: updates")
    if value is not None and qtype != "text":
        raise ChecklistError(f"{where}: updates applies to a text question only")
    return value  # type: ignore[no-any-return]


def _options(raw: Mapping[str, Any], where: str, scales: Mapping[str, Any],
             qtype: str) -> tuple[Option, ...]:
    spec = raw.get("options")
    if "scale" in raw:
        if raw["scale"] not in scales:
            raise ChecklistError(f"{where}: unknown scale '{raw['scale']}'")
        spec = scales[raw["scale"]]
    if not isinstance(spec, list) or not spec:
        raise ChecklistError(f"{where}: a {qtype} question needs options or a scale")
    out: list[Option] = []
    for o in spec:
        o = o if isinstance(o, dict) else {"value": o}
        bad = set(o) - OPTION_KEYS
        if bad:
            raise ChecklistError(f"{where}: option {o!r} has unknown key(s) "
                                 f"{', '.join(sorted(map(str, bad)))}")
        value = _text(o.get("value"), f"{where}: option value")
        if any(x.value == value for x in out):
            raise ChecklistError(f"{where}: option '{value}' is listed twice")
        if o.get("exclusive") and qtype != "multi":
            raise ChecklistError(f"{where}: option '{value}': exclusive applies to multi only")
        synonyms = o.get("synonyms") or []
        if not isinstance(synonyms, list):
            raise ChecklistError(f"{where}: option '{value}': synonyms must be a list")
        out.append(Option(value=value, label=str(o.get("label", value)),
                          risk=_choice(o.get("risk"), SEVERITIES, f"{where}: option risk"),
                          kind=o.get("kind"), synonyms=tuple(str(s) for s in synonyms),
                          exclusive=bool(o.get("exclusive", False))))
    return tuple(out)


OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "in": lambda a, b: a in b if not isinstance(a, list) else any(x in b for x in a),
    "contains": lambda a, b: b in a if isinstance(a, list | str) else False,
}


def compile_condition(spec: Any, where: str, earlier: set[str] | None = None,
                      modes: set[str] | None = None) -> Condition:
    """A `when:` mapping compiled to a function; unknown names fail at load, not mid-visit."""
    if not isinstance(spec, dict) or not spec:
        raise ChecklistError(f"{where}: condition {spec!r} must be a mapping")
    for combo in ("all", "any"):
        if combo in spec:
            parts = spec[combo]
            if not isinstance(parts, list) or not parts:
                raise ChecklistError(f"{where}: '{combo}' needs a non-empty list")
            subs = [compile_condition(p, where, earlier, modes) for p in parts]
            agg = all if combo == "all" else any
            return lambda a, f, m, s, subs=subs, agg=agg: agg(c(a, f, m, s) for c in subs)
    if "not" in spec:
        sub = compile_condition(spec["not"], where, earlier, modes)
        return lambda a, f, m, s: not sub(a, f, m, s)
    if "mode" in spec:
        wanted = spec["mode"] if isinstance(spec["mode"], list) else [spec["mode"]]
        bad = [w for w in wanted if modes is not None and w not in modes]
        if bad:
            raise ChecklistError(f"{where}: condition names mode(s) {bad} this checklist "
                                 "does not offer")
        wanted_set = frozenset(wanted)
        return lambda a, f, m, s: m in wanted_set
    if "season" in spec:
        season = _choice(spec["season"], SEASONS, f"{where}: season")
        return lambda a, f, m, s: season in s
    for source in ("answer", "fact"):
        if source in spec:
            return _compare(spec, source, where, earlier)
    raise ChecklistError(f"{where}: condition {spec!r} names no answer, fact, mode or season")


def _compare(spec: Mapping[str, Any], source: str, where: str,
             earlier: set[str] | None) -> Condition:
    key = spec[source]
    if source == "answer" and earlier is not None and key not in earlier:
        raise ChecklistError(f"{where}: condition reads '{key}', which is not an earlier "
                             "question")
    ops = [op for op in (*OPS, "answered") if op in spec]
    if len(ops) != 1:
        raise ChecklistError(f"{where}: condition needs exactly one of eq, ne, in, contains, "
                             "answered")
    op = ops[0]
    expected = spec[op]
    if op == "in" and not isinstance(expected, list):
        raise ChecklistError(f"{where}: 'in' needs a list")
    pick = 0 if source == "answer" else 1

    def cond(a: Mapping[str, Any], f: Mapping[str, Any], m: str | None,
             s: frozenset[str]) -> bool:
        values = (a, f)[pick]
        if op == "answered":
            return (key in values and values[key] is not None) == bool(expected)
        if key not in values or values[key] is None:
            return False
        return OPS[op](values[key], expected)

    return cond
