"""Reading policy files: the packaged ones and a county's own, validated into a `Policy`
with errors that name the file and the key."""

from __future__ import annotations

import os
import re
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from conversations.yaml_bounds import YamlBoundsError, load_bounded
from scheduler.alert_policy import parse_alerts
from scheduler.holidays import BUILTIN, Calendar
from scheduler.periods import RULES
from scheduler.policy import (
    MODES,
    SEASON_NAMES,
    TIERS,
    Campaign,
    Escalation,
    HolidayRule,
    Policy,
    PolicyError,
    Reminders,
    Rhythm,
    Season,
    TierRule,
)

PACKAGED = Path(__file__).parent / "policies"
_MD = re.compile(r"^(\d{1,2})-(\d{1,2})$")
_HM = re.compile(r"^(\d{1,2}):(\d{2})$")
_TOP = {"name", "title", "tiers", "rhythm", "holidays", "seasons", "campaigns", "reminders",
        "escalation", "timezone", "custom_holidays", "alerts"}


class _Ctx:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, msg: str) -> PolicyError:
        return PolicyError(f"{self.source}: {where}: {msg}")

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}")
        return value

    def only(self, value: dict[str, Any], allowed: set[str], where: str) -> None:
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(where, f"unknown key(s) {', '.join(unknown)}; "
                                   f"allowed: {', '.join(sorted(allowed))}")

    def int_(self, value: Any, where: str, *, minimum: int = 0, none: bool = False
             ) -> int | None:
        if value is None and none:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(where, f"expected a whole number ≥ {minimum}, got {value!r}")
        return value

    def mode(self, value: Any, where: str) -> str | None:
        if value is not None and value not in MODES:
            raise self.fail(where, f"mode {value!r} is not one of {', '.join(MODES)}")
        return value

    def tier(self, value: Any, where: str) -> str:
        if value not in TIERS:
            raise self.fail(where, f"tier {value!r} is not one of {', '.join(TIERS)}")
        return str(value)

    def month_day(self, value: Any, where: str) -> tuple[int, int]:
        m = _MD.match(str(value))
        if not m or not (1 <= int(m[1]) <= 12 and 1 <= int(m[2]) <= 31):
            raise self.fail(where, f"expected MM-DD, got {value!r}")
        return int(m[1]), int(m[2])

    def clock(self, value: Any, where: str) -> time:
        if isinstance(value, int):  # YAML reads 08:30 as sexagesimal 510
            value = f"{value // 60}:{value % 60:02d}"
        m = _HM.match(str(value))
        if not m or int(m[1]) > 23 or int(m[2]) > 59:
            raise self.fail(where, f"expected HH:MM, got {value!r}")
        return time(int(m[1]), int(m[2]))


def build_policy(raw: dict[str, Any], source: str) -> Policy:
    c = _Ctx(source)
    c.only(raw, _TOP, "top level")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise c.fail("name", "a policy needs a name")
    tiers = c.mapping(raw.get("tiers"), "tiers")
    c.only(tiers, {"rules", "default"}, "tiers")
    default_tier = c.tier(tiers.get("default", "ordinary"), "tiers.default")
    rules = tuple(_tier_rule(c, r, f"tiers.rules[{i}]")
                  for i, r in enumerate(tiers.get("rules") or []))
    rhythm_raw = c.mapping(raw.get("rhythm"), "rhythm")
    if not rhythm_raw:
        raise c.fail("rhythm", "say how often each tier is visited")
    rhythm = {c.tier(t, "rhythm"): _rhythm(c, v, f"rhythm.{t}") for t, v in rhythm_raw.items()}
    if default_tier not in rhythm:
        raise c.fail("rhythm", f"the default tier {default_tier!r} has no rhythm")
    for r in rules:
        if r.tier not in rhythm:
            raise c.fail("rhythm", f"tier {r.tier!r} (from tiers.rules) has no rhythm")
    custom = _custom_holidays(c, c.mapping(raw.get("custom_holidays"), "custom_holidays"))
    seasons_raw = c.mapping(raw.get("seasons"), "seasons")
    seasons = []
    for sname, rng in seasons_raw.items():
        where = f"seasons.{sname}"
        if sname not in SEASON_NAMES:
            raise c.fail(where, f"season must be one of {', '.join(SEASON_NAMES)}")
        rng = c.mapping(rng, where)
        c.only(rng, {"from", "to"}, where)
        seasons.append(Season(sname, c.month_day(rng.get("from"), f"{where}.from"),
                              c.month_day(rng.get("to"), f"{where}.to")))
    campaigns = {}
    for kind, spec in c.mapping(raw.get("campaigns"), "campaigns").items():
        where = f"campaigns.{kind}"
        spec = c.mapping(spec, where)
        c.only(spec, {"tiers", "mode", "reason"}, where)
        campaigns[str(kind)] = Campaign(
            frozenset(c.tier(t, where) for t in spec.get("tiers") or ["key"]),
            c.mode(spec.get("mode", "in_person"), f"{where}.mode"),
            str(spec.get("reason") or kind))
    tz = str(raw.get("timezone") or "Asia/Shanghai")
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(tz)
    except Exception:
        raise c.fail("timezone", f"unknown time zone {tz!r}") from None
    return Policy(
        name=name,
        title=str(raw.get("title") or name),
        tier_rules=rules,
        default_tier=default_tier,
        rhythm=rhythm,
        holidays=_holidays(c, raw.get("holidays"), custom),
        seasons=tuple(seasons),
        campaigns=campaigns,
        reminders=_reminders(c, c.mapping(raw.get("reminders"), "reminders")),
        escalation=_escalation(c, c.mapping(raw.get("escalation"), "escalation")),
        alerts=parse_alerts(raw.get("alerts"), c.fail),
        timezone=tz,
        custom_holidays=custom,
    )


def _tier_rule(c: _Ctx, raw: Any, where: str) -> TierRule:
    raw = c.mapping(raw, where)
    c.only(raw, {"tier", "reason", "self_care", "min_age", "lives_alone", "disabled",
                 "categories_any"}, where)
    conditions = set(raw) - {"tier", "reason"}
    if not conditions:
        raise c.fail(where, "a tier rule needs at least one condition")

    def strings(key: str) -> frozenset[str] | None:
        v = raw.get(key)
        if v is None:
            return None
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise c.fail(f"{where}.{key}", "expected a list of words")
        return frozenset(v)

    def flag(key: str) -> bool | None:
        v = raw.get(key)
        if v is not None and not isinstance(v, bool):
            raise c.fail(f"{where}.{key}", f"expected true or false, got {v!r}")
        return v

    return TierRule(
        tier=c.tier(raw.get("tier"), f"{where}.tier"),
        reason=str(raw.get("reason") or ""),
        self_care=strings("self_care"),
        min_age=c.int_(raw.get("min_age"), f"{where}.min_age", minimum=1, none=True),
        lives_alone=flag("lives_alone"),
        disabled=flag("disabled"),
        categories_any=strings("categories_any"),
    )


def _rhythm(c: _Ctx, raw: Any, where: str) -> Rhythm:
    raw = c.mapping(raw, where)
    c.only(raw, {"rule", "mode", "due_day", "days", "window_days"}, where)
    rule = raw.get("rule")
    if rule not in RULES:
        raise c.fail(f"{where}.rule", f"{rule!r} is not one of {', '.join(RULES)}")
    days = c.int_(raw.get("days"), f"{where}.days", minimum=1, none=True)
    if rule == "interval" and days is None:
        raise c.fail(f"{where}.days", "an interval rule needs days")
    if rule != "interval" and days is not None:
        raise c.fail(f"{where}.days", f"days belongs to interval rules, not {rule}")
    due_day = c.int_(raw.get("due_day"), f"{where}.due_day", minimum=1, none=True)
    if due_day is not None and (rule != "monthly" or due_day > 31):
        raise c.fail(f"{where}.due_day", "due_day (1–31) belongs to monthly rules")
    window = c.int_(raw.get("window_days", 0), f"{where}.window_days") or 0
    if days is not None and window >= days:
        raise c.fail(f"{where}.window_days", "must be shorter than days")
    return Rhythm(rule=rule, mode=c.mode(raw.get("mode"), f"{where}.mode"), due_day=due_day,
                  days=days, window_days=window)


def _custom_holidays(c: _Ctx, raw: dict[str, Any]) -> dict[str, tuple[Calendar, int, int]]:
    out: dict[str, tuple[Calendar, int, int]] = {}
    for name, spec in raw.items():
        where = f"custom_holidays.{name}"
        spec = c.mapping(spec, where)
        c.only(spec, {"solar", "lunar"}, where)
        if len(spec) != 1:
            raise c.fail(where, "give exactly one of solar: MM-DD or lunar: MM-DD")
        cal: Calendar = "solar" if "solar" in spec else "lunar"
        m, d = c.month_day(spec[cal], f"{where}.{cal}")
        out[str(name)] = (cal, m, d)
    return out


def _holidays(c: _Ctx, raw: Any, custom: dict[str, tuple[Calendar, int, int]]
              ) -> HolidayRule | None:
    if raw is None:
        return None
    raw = c.mapping(raw, "holidays")
    c.only(raw, {"names", "tiers", "mode", "lead_days", "after_days"}, "holidays")
    names = raw.get("names") or []
    for n in names:
        if n not in BUILTIN and n not in custom:
            raise c.fail("holidays.names", f"unknown holiday {n!r}; known: "
                         f"{', '.join([*BUILTIN, *custom])} (add it under custom_holidays)")
    return HolidayRule(
        names=tuple(names),
        tiers=frozenset(c.tier(t, "holidays.tiers") for t in raw.get("tiers") or ["key"]),
        mode=c.mode(raw.get("mode", "in_person"), "holidays.mode"),
        lead_days=c.int_(raw.get("lead_days", 5), "holidays.lead_days") or 0,
        after_days=c.int_(raw.get("after_days", 2), "holidays.after_days") or 0,
    )


def _reminders(c: _Ctx, raw: dict[str, Any]) -> Reminders:
    c.only(raw, {"on_open", "before_due_days", "on_due", "overdue_every_days", "grace_days",
                 "send_at", "quiet_hours"}, "reminders")
    d = Reminders()
    quiet = c.mapping(raw.get("quiet_hours"), "reminders.quiet_hours")
    c.only(quiet, {"from", "to"}, "reminders.quiet_hours")
    return Reminders(
        on_open=bool(raw.get("on_open", d.on_open)),
        before_due_days=c.int_(raw.get("before_due_days", d.before_due_days),
                               "reminders.before_due_days", minimum=1, none=True),
        on_due=bool(raw.get("on_due", d.on_due)),
        overdue_every_days=c.int_(raw.get("overdue_every_days", d.overdue_every_days),
                                  "reminders.overdue_every_days", minimum=1, none=True),
        grace_days=c.int_(raw.get("grace_days", d.grace_days), "reminders.grace_days") or 0,
        send_at=c.clock(raw.get("send_at", "08:30"), "reminders.send_at"),
        quiet_from=c.clock(quiet.get("from", "21:00"), "reminders.quiet_hours.from"),
        quiet_to=c.clock(quiet.get("to", "08:00"), "reminders.quiet_hours.to"),
    )


def _escalation(c: _Ctx, raw: dict[str, Any]) -> Escalation:
    c.only(raw, {"village_after_days", "township_after_days", "close_after_days"},
           "escalation")
    d = Escalation()
    village = c.int_(raw.get("village_after_days", d.village_after_days),
                     "escalation.village_after_days") or 0
    township = c.int_(raw.get("township_after_days", d.township_after_days),
                      "escalation.township_after_days") or 0
    close = c.int_(raw.get("close_after_days", d.close_after_days),
                   "escalation.close_after_days") or 0
    if not village <= township <= close:
        raise c.fail("escalation", "expected village_after_days ≤ township_after_days ≤ "
                                   "close_after_days")
    return Escalation(village, township, close)


def policies_dirs() -> list[Path]:
    override = os.environ.get("VISITBOT_POLICIES_DIR")
    return ([Path(override)] if override else []) + [PACKAGED]


def available_policies() -> list[str]:
    names: set[str] = set()
    for d in policies_dirs():
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)


def load_policy(name: str) -> Policy:
    return _load(name, os.environ.get("VISITBOT_POLICIES_DIR") or None)


@lru_cache(maxsize=64)
def _load(name: str, _override: str | None) -> Policy:
    for d in policies_dirs():
        path = d / f"{name}.yaml"
        if path.is_file():
            return parse_policy(path.read_text(encoding="utf-8"), source=str(path))
    raise PolicyError(f"no policy {name!r}; known: {', '.join(available_policies())}")


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    try:
        raw = load_bounded(text)
    except YamlBoundsError as exc:
        raise PolicyError(f"{source}: refused: {exc}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise PolicyError(f"{source}: expected a mapping at the top")
    return build_policy(raw, source)
