"""The policies as the roster import sees them: which names exist, and each row's tier.

store/ cannot import scheduler/ (imports point down), so the import is handed this book
(`store.roster.importer.PolicyBook`) by whoever calls it from bot/. The tier comes from
the same `derive_tier` the tick's SQL twin mirrors, so a subject keeps at the first tick
the tier the import gave it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from scheduler.policy import Policy, PolicyError, derive_tier, subject_facts
from scheduler.policy_load import available_policies, load_policy


class PolicyBook:
    """The policies that load (a file that exists but is broken is not one of them)."""

    def __init__(self) -> None:
        self._policies: dict[str, Policy] = {}
        self.broken: dict[str, str] = {}  # name → why it does not load
        for name in available_policies():
            try:
                self._policies[name] = load_policy(name)
            except PolicyError as exc:
                self.broken[name] = str(exc)

    def names(self) -> list[str]:
        return sorted(self._policies)

    def tier(self, name: str, facts: Mapping[str, Any], today: date) -> str:
        """facts: self_care, categories, lives_alone, disabled, birth_date."""
        return derive_tier(self._policies[name], subject_facts(
            self_care=facts.get("self_care"), categories=facts.get("categories"),
            lives_alone=facts.get("lives_alone"), disabled=facts.get("disabled"),
            birth_date=facts.get("birth_date"), today=today))
