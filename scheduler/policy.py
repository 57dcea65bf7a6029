"""Local policies as data: who is a key subject, how often, holidays, seasons, reminders.

A policy is a YAML file in `scheduler/policies/` (or `$VISITBOT_POLICIES_DIR`, which
wins) that a county can copy and edit; `scheduler.policy_load` reads and validates it.
The functions here are pure (no database): `derive_tier`, `next_window`,
`active_seasons`, `send_time`; `scheduler.due` turns the same rules into SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.alert_policy import AlertRouting
from scheduler.holidays import BUILTIN, Calendar
from scheduler.periods import RULES, Period, period_of
from store.base import birth_month

TIERS = ("key", "ordinary")
MODES = ("in_person", "phone", "video", "remote", "other")
SEASON_NAMES = ("flood", "heating")


class PolicyError(ValueError):
    """A policy file that cannot be used; the message says which file and which key."""


# 对象类型 words that state a roster fact on their own: a subject listed as 失能 under
# 对象类型 is 失能 whatever the 自理能力 column says (or when it is blank), one listed as
# 独居 lives alone, one listed as 重残 is disabled. Tier rules read the facts through these,
# in Python and in SQL alike, so import and tick always agree.
CATEGORY_FACTS: Mapping[str, frozenset[str]] = {
    "lives_alone": frozenset({"独居"}),
    "disabled": frozenset({"重残"}),
}


def _categories(facts: Mapping[str, Any]) -> set[str]:
    return set(facts.get("categories") or ())


def has_fact(facts: Mapping[str, Any], name: str) -> bool:
    """lives_alone / disabled: the column says yes, or 对象类型 names it."""
    return bool(facts.get(name)) or bool(_categories(facts) & CATEGORY_FACTS[name])


@dataclass(frozen=True)
class TierRule:
    """All given conditions must hold (and); the first matching rule wins."""

    tier: str
    reason: str
    self_care: frozenset[str] | None = None  # 自理能力, or the same word under 对象类型
    min_age: int | None = None
    lives_alone: bool | None = None
    disabled: bool | None = None
    categories_any: frozenset[str] | None = None

    def matches(self, facts: Mapping[str, Any]) -> bool:
        cats = _categories(facts)
        if self.self_care is not None and facts.get("self_care") not in self.self_care and not (
                cats & self.self_care):
            return False
        if self.min_age is not None:
            age = facts.get("age")
            if age is None or age < self.min_age:
                return False
        if self.lives_alone is not None and has_fact(facts, "lives_alone") != self.lives_alone:
            return False
        if self.disabled is not None and has_fact(facts, "disabled") != self.disabled:
            return False
        return not (self.categories_any is not None and not cats & self.categories_any)


@dataclass(frozen=True)
class Rhythm:
    rule: str  # semimonthly|monthly|quarterly|interval
    mode: str | None = None  # required visit mode
    due_day: int | None = None  # monthly: due on this day of the month (linzi: 20)
    days: int | None = None  # interval: days after the last filed visit
    window_days: int = 0  # interval: the window opens this many days before due


@dataclass(frozen=True)
class HolidayRule:
    names: tuple[str, ...]
    tiers: frozenset[str]
    mode: str | None
    lead_days: int
    after_days: int


@dataclass(frozen=True)
class Season:
    name: str
    start: tuple[int, int]  # (month, day)
    end: tuple[int, int]  # inclusive; before start means the season spans new year

    def holds(self, day: date) -> bool:
        md = (day.month, day.day)
        if self.start <= self.end:
            return self.start <= md <= self.end
        return md >= self.start or md <= self.end


@dataclass(frozen=True)
class Campaign:
    tiers: frozenset[str]
    mode: str | None
    reason: str


@dataclass(frozen=True)
class Reminders:
    on_open: bool = True
    before_due_days: int | None = 2
    on_due: bool = True
    overdue_every_days: int | None = 3
    grace_days: int = 3
    send_at: time = time(8, 30)
    quiet_from: time = time(21, 0)
    quiet_to: time = time(8, 0)


@dataclass(frozen=True)
class Escalation:
    village_after_days: int = 0  # days past the deadline before the village is told
    township_after_days: int = 7  # … and the township
    close_after_days: int = 14  # an unvisited visit is then closed as 'missed'


@dataclass(frozen=True)
class Policy:
    name: str
    title: str
    tier_rules: tuple[TierRule, ...]
    default_tier: str
    rhythm: Mapping[str, Rhythm]
    holidays: HolidayRule | None = None
    seasons: tuple[Season, ...] = ()
    campaigns: Mapping[str, Campaign] = field(default_factory=dict)
    reminders: Reminders = Reminders()
    escalation: Escalation = Escalation()
    timezone: str = "Asia/Shanghai"
    custom_holidays: Mapping[str, tuple[Calendar, int, int]] = field(default_factory=dict)
    alerts: AlertRouting = field(default_factory=AlertRouting)  # scheduler/alert_policy.py

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# --- pure rules ----------------------------------------------------------------------


def age_on(birth: date | None, day: date) -> int | None:
    if birth is None:
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def subject_facts(*, self_care: str | None, categories: Any, lives_alone: bool | None,
                  disabled: bool | None, birth_date: date | None, today: date,
                  tier_override: str | None = None) -> dict[str, Any]:
    """The facts `derive_tier` reads, from a roster row or a stored subject.

    Ages count from the first of the birth month: the store keeps the birth month only
    (`store.base.BirthMonth`), so a roster row read at import and the stored subject at
    the tick must derive the same tier, and an age rule then holds from that month's
    first day (on the safe side for a visit rhythm)."""
    return {"self_care": self_care, "categories": list(categories or ()),
            "lives_alone": lives_alone, "disabled": disabled,
            "age": age_on(birth_month(birth_date), today), "tier_override": tier_override}


def derive_tier(policy: Policy, facts: Mapping[str, Any]) -> str:
    """The tier from facts: tier_override wins, else the first matching rule, else default.

    facts (see `subject_facts`): self_care, age (years), lives_alone, disabled,
    categories, tier_override. `scheduler.due.tier_expression` is its SQL twin.
    """
    override = facts.get("tier_override")
    if override:
        return str(override)
    for rule in policy.tier_rules:
        if rule.matches(facts):
            return rule.tier
    return policy.default_tier


def next_window(policy: Policy, tier: str, last_filed: date | None, today: date
                ) -> tuple[date, date, date]:
    """(window opens, due, deadline) of the next regular visit as of `today`.

    Calendar rules: the period holding today, or the next one if a visit was filed in
    it already. Interval rules: `days` after the last filed visit, never before today.
    """
    rhythm = rhythm_for(policy, tier)
    grace = timedelta(days=policy.reminders.grace_days)
    if rhythm.rule == "interval":
        assert rhythm.days is not None
        if last_filed is None:  # never visited: at once
            return today, today, today + grace
        due = max(last_filed + timedelta(days=rhythm.days), today)
        opens = max(due - timedelta(days=rhythm.window_days), last_filed + timedelta(days=1))
        return opens, due, due + grace
    period = period_of(rhythm, today)
    if last_filed is not None and last_filed >= period.opens:
        period = period_of(rhythm, period.ends + timedelta(days=1))
    return period.opens, period.due, period.due + grace


def current_period(policy: Policy, tier: str, today: date) -> Period | None:
    rhythm = rhythm_for(policy, tier)
    return None if rhythm.rule == "interval" else period_of(rhythm, today)


def rhythm_for(policy: Policy, tier: str) -> Rhythm:
    try:
        return policy.rhythm[tier]
    except KeyError:
        return policy.rhythm[policy.default_tier]


def active_seasons(policy: Policy, day: date) -> frozenset[str]:
    """The seasons in force on `day`, e.g. {"flood"} or {"heating"}: the checklist adds
    its seasonal questions (wiring and flood safety; fire, heating, indoor warmth)."""
    return frozenset(s.name for s in policy.seasons if s.holds(day))


def local_today(policy: Policy, now: datetime) -> date:
    return now.astimezone(policy.tz).date()


def send_time(policy: Policy, now: datetime) -> datetime:
    """When a scheduled message written at `now` may go out: not before the day's send
    time, and never in quiet hours (then the next morning)."""
    tz = policy.tz
    local = now.astimezone(tz)
    r = policy.reminders
    at = max(local, datetime.combine(local.date(), r.send_at, tz))
    return out_of_quiet_hours(at, r.quiet_from, r.quiet_to)


def out_of_quiet_hours(at: datetime, quiet_from: time, quiet_to: time) -> datetime:
    """`at` itself, or the end of the quiet hours it falls in (same zone as `at`)."""
    t = at.timetz().replace(tzinfo=None)
    if quiet_from == quiet_to:
        return at
    if quiet_from > quiet_to:  # spans midnight, e.g. 21:00–08:00
        if t >= quiet_from:
            return datetime.combine(at.date() + timedelta(days=1), quiet_to, at.tzinfo)
        if t < quiet_to:
            return datetime.combine(at.date(), quiet_to, at.tzinfo)
        return at
    if quiet_from <= t < quiet_to:
        return datetime.combine(at.date(), quiet_to, at.tzinfo)
    return at


__all__ = [
    "BUILTIN",
    "MODES",
    "RULES",
    "SEASON_NAMES",
    "TIERS",
    "Campaign",
    "Escalation",
    "HolidayRule",
    "Policy",
    "PolicyError",
    "Reminders",
    "Rhythm",
    "Season",
    "TierRule",
    "active_seasons",
    "derive_tier",
    "local_today",
    "next_window",
    "send_time",
]
