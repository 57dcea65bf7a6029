"""Policies as data: loading, validation, tiers, windows, seasons, quiet hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scheduler.policy import (
    PolicyError,
    active_seasons,
    derive_tier,
    next_window,
    out_of_quiet_hours,
    send_time,
)
from scheduler.policy_load import available_policies, load_policy, parse_policy

SH = ZoneInfo("Asia/Shanghai")
NAMES = ["jingdezhen-2020", "liuzhou-2021", "linzi-2022", "anshan-2020", "guangxi-2023"]


@pytest.mark.parametrize("name", NAMES)
def test_all_five_load(name: str) -> None:
    p = load_policy(name)
    assert p.name == name and "ordinary" in p.rhythm
    assert name in available_policies()


def test_tiers() -> None:
    jdz = load_policy("jingdezhen-2020")
    assert derive_tier(jdz, {"self_care": "失能"}) == "key"
    assert derive_tier(jdz, {"self_care": "半失能"}) == "key"
    assert derive_tier(jdz, {"self_care": "自理"}) == "ordinary"
    assert derive_tier(jdz, {"self_care": "自理", "tier_override": "key"}) == "key"
    assert derive_tier(jdz, {"self_care": "失能", "tier_override": "ordinary"}) == "ordinary"
    linzi = load_policy("linzi-2022")
    assert derive_tier(linzi, {"age": 80, "lives_alone": True}) == "key"
    assert derive_tier(linzi, {"age": 79, "lives_alone": True}) == "ordinary"
    assert derive_tier(linzi, {"age": 85, "lives_alone": False}) == "ordinary"
    assert derive_tier(linzi, {"categories": ["低保", "重残"]}) == "key"
    # 「将独居和生活不能自理或行动不便等特殊服务对象作为重点访视对象」: any one of them
    lz = load_policy("liuzhou-2021")
    assert derive_tier(lz, {"lives_alone": True, "disabled": True}) == "key"
    assert derive_tier(lz, {"lives_alone": True, "self_care": "自理"}) == "key"
    assert derive_tier(lz, {"lives_alone": False, "self_care": "失能"}) == "key"
    assert derive_tier(lz, {"lives_alone": False, "self_care": "半失能"}) == "key"
    assert derive_tier(lz, {"lives_alone": False, "disabled": True}) == "key"
    assert derive_tier(lz, {"categories": ["独居", "高龄"]}) == "key"
    assert derive_tier(lz, {"lives_alone": False, "self_care": "自理"}) == "ordinary"
    assert derive_tier(load_policy("anshan-2020"), {"self_care": "失能"}) == "ordinary"
    # 「对失能的特殊困难老年人，每月提供探访关爱服务不少于一次」: 失能 only
    gx = load_policy("guangxi-2023")
    assert derive_tier(gx, {"self_care": "失能"}) == "key"
    assert derive_tier(gx, {"categories": ["失能"]}) == "key"
    assert derive_tier(gx, {"self_care": "半失能"}) == "ordinary"
    assert derive_tier(gx, {"age": 85, "lives_alone": True}) == "ordinary"


def test_categories_state_facts() -> None:
    """失能/半失能 under 对象类型 count as the self-care level, 独居 as living alone."""
    jdz = load_policy("jingdezhen-2020")
    assert derive_tier(jdz, {"categories": ["失能"]}) == "key"
    assert derive_tier(jdz, {"self_care": "自理", "categories": ["半失能"]}) == "key"
    assert derive_tier(jdz, {"categories": ["失能"], "tier_override": "ordinary"}) == "ordinary"
    linzi = load_policy("linzi-2022")
    assert derive_tier(linzi, {"age": 82, "categories": ["独居"]}) == "key"


def test_windows() -> None:
    jdz = load_policy("jingdezhen-2020")
    assert next_window(jdz, "key", None, date(2026, 2, 3)) == (
        date(2026, 2, 1), date(2026, 2, 15), date(2026, 2, 18))
    assert next_window(jdz, "key", None, date(2026, 2, 16)) == (
        date(2026, 2, 16), date(2026, 2, 28), date(2026, 3, 3))
    # filed in this half month: the next one
    assert next_window(jdz, "key", date(2026, 2, 5), date(2026, 2, 6))[1] == date(2026, 2, 28)
    assert next_window(jdz, "ordinary", None, date(2026, 2, 3))[1] == date(2026, 2, 28)
    linzi = load_policy("linzi-2022")
    assert next_window(linzi, "ordinary", None, date(2026, 3, 25))[1] == date(2026, 3, 20)
    assert next_window(linzi, "ordinary", date(2026, 3, 19), date(2026, 3, 25))[1] == date(
        2026, 4, 20)
    assert next_window(linzi, "key", date(2026, 3, 1), date(2026, 3, 2)) == (
        date(2026, 3, 11), date(2026, 3, 16), date(2026, 3, 16))
    assert next_window(linzi, "key", None, date(2026, 3, 2))[1] == date(2026, 3, 2)
    anshan = load_policy("anshan-2020")
    assert next_window(anshan, "ordinary", None, date(2026, 5, 5))[:2] == (
        date(2026, 4, 1), date(2026, 6, 30))


def test_seasons() -> None:
    jdz = load_policy("jingdezhen-2020")
    assert active_seasons(jdz, date(2026, 7, 1)) == {"flood"}
    assert active_seasons(jdz, date(2026, 1, 10)) == {"heating"}
    assert active_seasons(jdz, date(2026, 12, 31)) == {"heating"}
    assert active_seasons(jdz, date(2026, 4, 20)) == frozenset()
    assert active_seasons(load_policy("anshan-2020"), date(2026, 11, 1)) == {"heating"}


def test_quiet_hours_and_send_time() -> None:
    p = load_policy("guangxi-2023")  # send at 09:00, quiet 21:00–08:00
    evening = datetime(2026, 3, 1, 22, 30, tzinfo=SH)
    assert send_time(p, evening) == datetime(2026, 3, 2, 8, 0, tzinfo=SH)
    early = datetime(2026, 3, 1, 6, 0, tzinfo=SH)
    assert send_time(p, early) == datetime(2026, 3, 1, 9, 0, tzinfo=SH)
    noon = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
    assert send_time(p, noon) == noon
    at = datetime(2026, 3, 1, 12, 0, tzinfo=SH)
    assert out_of_quiet_hours(at, time(12, 0), time(13, 0)) == datetime(2026, 3, 1, 13, 0,
                                                                       tzinfo=SH)


@pytest.mark.parametrize(("text", "needle"), [
    ("name: x\nrhythm: {ordinary: {rule: weekly}}", "rhythm.ordinary.rule"),
    ("name: x\nrhythm: {ordinary: {rule: interval}}", "needs days"),
    ("name: x\nrhythm: {ordinary: {rule: monthly, mode: fax}}", "mode 'fax'"),
    ("name: x\nrhythm: {ordinary: {rule: monthly}}\nholidays: {names: [植树节]}",
     "unknown holiday"),
    ("name: x\nrhythm: {ordinary: {rule: monthly}}\nseasons: {flood: {from: 6-1, to: 13-1}}",
     "seasons.flood.to"),
    ("name: x\nrhythm: {ordinary: {rule: monthly}}\nfrequency: 3", "unknown key"),
    ("name: x\nrhythm: {ordinary: {rule: monthly}}\ntiers: {rules: [{tier: key}]}",
     "at least one condition"),
    ("name: x\nrhythm: {ordinary: {rule: monthly}}\n"
     "tiers: {rules: [{tier: key, self_care: [失能]}]}", "tier 'key'"),
    ("rhythm: {}", "needs a name"),
    (": : :", "not valid YAML"),
])
def test_validation_errors(text: str, needle: str) -> None:
    with pytest.raises(PolicyError, match=needle.replace("(", r"\(")):
        parse_policy(text, "test.yaml")


def test_policies_dir_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "custom-2030.yaml").write_text(
        "name: custom-2030\nrhythm: {ordinary: {rule: monthly, due_day: 10}}\n",
        encoding="utf-8")
    monkeypatch.setenv("VISITBOT_POLICIES_DIR", str(tmp_path))
    p = load_policy("custom-2030")
    assert next_window(p, "ordinary", None, date(2026, 5, 2))[1] == date(2026, 5, 10)
    with pytest.raises(PolicyError, match="no policy"):
        load_policy("nowhere-1999")
