"""The `alerts:` section of every packaged policy, and clear errors for bad ones."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scheduler.alert_policy import LEVELS
from scheduler.policy import PolicyError
from scheduler.policy_load import available_policies, load_policy, parse_policy

BASE = """
name: t
rhythm: {ordinary: {rule: monthly}}
"""


@pytest.mark.parametrize("name", available_policies())
def test_every_policy_routes_emergencies_to_township_and_county_and_digests_watch(
        name: str) -> None:
    routing = load_policy(name).alerts
    assert {"township", "county"} <= set(routing.levels("emergency"))
    assert "township" in routing.levels("high")
    assert routing.at_once("emergency") and routing.at_once("high")
    assert not routing.at_once("watch")
    assert all(lv in LEVELS for sev in ("watch", "high", "emergency")
               for lv in routing.levels(sev))
    assert routing.undelivered_after["emergency"] <= routing.undelivered_after["high"]


def test_jingdezhen_reports_problems_to_township_and_county() -> None:
    # 「应及时向乡镇人民政府（街道办事处）和县（市、区）民政部门报告」
    routing = load_policy("jingdezhen-2020").alerts
    for severity in ("watch", "high", "emergency"):
        assert {"township", "county"} <= set(routing.levels(severity))


def test_no_alerts_section_means_the_defaults() -> None:
    routing = parse_policy(BASE).alerts
    assert routing.levels("high") == ("village", "township")
    assert routing.undelivered_after["emergency"] == timedelta(minutes=10)


@pytest.mark.parametrize(("section", "where"), [
    ("alerts: [1]", "alerts"),
    ("alerts: {urgent: {to: [township]}}", "alerts"),
    ("alerts: {high: {to: [parish]}}", "alerts.high.to"),
    ("alerts: {high: {to: []}}", "alerts.high.to"),
    ("alerts: {high: {to: [township], digest: daily}}", "alerts.high.digest"),
    ("alerts: {watch: {digest: weekly}}", "alerts.watch.digest"),
    ("alerts: {watch: {when: later}}", "alerts.watch"),
    ("alerts: {undelivered_after_minutes: {emergency: 0}}",
     "alerts.undelivered_after_minutes.emergency"),
    ("alerts: {undelivered_after_minutes: {watch: 5}}", "alerts.undelivered_after_minutes"),
])
def test_bad_alerts_sections_name_the_key(section: str, where: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(BASE + section + "\n")
    assert f": {where}:" in str(err.value)
