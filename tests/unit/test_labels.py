"""One Chinese label table: every kind a checklist or a device can raise, every status
and severity has its word, and no internal code reaches people."""

from __future__ import annotations

import pytest

from bot.web.signals import SEVERITY as DEVICE_KINDS
from conversations.checklist import available_checklists, load_checklist
from store.labels import (
    KIND_LABELS,
    NOT_FOR_FAMILY,
    SEVERITIES,
    SEVERITY_LABELS,
    STATUS_LABELS,
    STATUSES,
    for_family,
    kind_label,
    severity_label,
    status_label,
)


def _raised_kinds() -> set[str]:
    kinds = {"other", "emergency"}  # the engine's fallbacks
    for name in available_checklists():
        for q in load_checklist(name).questions:
            if q.kind:
                kinds.add(q.kind)
            kinds.update(o.kind for o in q.options if o.kind)
    kinds.update(kind for kind, _, _ in DEVICE_KINDS.values())
    kinds.add("device")
    return kinds


@pytest.mark.parametrize("kind", sorted(_raised_kinds()))
def test_every_raised_kind_has_a_chinese_label(kind: str) -> None:
    assert kind in KIND_LABELS
    label = kind_label(kind)
    assert label and label.isascii() is False and kind not in label


def test_statuses_and_severities_are_all_labelled_in_chinese() -> None:
    assert set(STATUS_LABELS) == set(STATUSES)
    assert set(SEVERITY_LABELS) == set(SEVERITIES)
    for code in (*STATUSES, *SEVERITIES):
        word = status_label(code) if code in STATUSES else severity_label(code)
        assert not any(ch.isascii() and ch.isalpha() for ch in word), word
    assert kind_label("no-such-kind") == KIND_LABELS["other"]


def test_cases_about_the_family_are_never_for_the_family() -> None:
    assert {"abuse", "caregiver", "caregiver_abuse"} <= NOT_FOR_FAMILY
    assert not any(for_family(k) for k in NOT_FOR_FAMILY)
    assert for_family("gas") and for_family(None)
