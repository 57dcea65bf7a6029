"""Who hears of a risk, and when: the `alerts:` section of a policy file.

    alerts:
      emergency: {to: [village, township, county]}    # at once
      high: {to: [village, township]}                 # at once
      watch: {to: [village, township], digest: daily} # one digest a day per officer
      undelivered_after_minutes: {emergency: 10, high: 60}

`to` names jurisdiction levels above the subject (the jurisdictions' `level`);
`digest: daily` gathers that severity into one message per officer a day, at the
policy's send time and outside its quiet hours. An alert still unsent after
`undelivered_after_minutes` goes one level further up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

LEVELS = ("village", "township", "county", "city", "province")
SEVERITIES = ("watch", "high", "emergency")


@dataclass(frozen=True)
class AlertRouting:
    to: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: {
        "emergency": ("village", "township", "county"),
        "high": ("village", "township"),
        "watch": ("village", "township"),
    })
    digest: frozenset[str] = frozenset({"watch"})
    undelivered_after: Mapping[str, timedelta] = field(default_factory=lambda: {
        "emergency": timedelta(minutes=10), "high": timedelta(minutes=60)})

    def levels(self, severity: str) -> tuple[str, ...]:
        return self.to.get(severity) or ("village", "township")

    def at_once(self, severity: str) -> bool:
        return severity not in self.digest


def parse_alerts(raw: Any, fail: Callable[[str, str], Exception]) -> AlertRouting:
    """The `alerts:` mapping (or None: the defaults); `fail(where, msg)` makes the error."""
    d = AlertRouting()
    if raw is None:
        return d
    if not isinstance(raw, dict):
        raise fail("alerts", f"expected a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - {*SEVERITIES, "undelivered_after_minutes"})
    if unknown:
        raise fail("alerts", f"unknown key(s) {', '.join(unknown)}; allowed: "
                             f"{', '.join((*SEVERITIES, 'undelivered_after_minutes'))}")
    to = dict(d.to)
    digest = set(d.digest)
    for sev in SEVERITIES:
        spec = raw.get(sev)
        if spec is None:
            continue
        where = f"alerts.{sev}"
        if not isinstance(spec, dict) or set(spec) - {"to", "digest"}:
            raise fail(where, "expected {to: [levels], digest: daily} (digest optional)")
        levels = spec.get("to", list(to[sev]))
        if (not isinstance(levels, list) or not levels
                or any(lv not in LEVELS for lv in levels)):
            raise fail(f"{where}.to", f"expected a list of {', '.join(LEVELS)}, got {levels!r}")
        to[sev] = tuple(levels)
        mode = spec.get("digest")
        if mode not in (None, "daily"):
            raise fail(f"{where}.digest", f"only 'daily' is known, got {mode!r}")
        if mode == "daily" and sev != "watch":
            raise fail(f"{where}.digest", "only watch-level findings may wait for a digest")
        if mode == "daily":
            digest.add(sev)
        elif "digest" in spec:
            digest.discard(sev)
    after: dict[str, timedelta] = dict(d.undelivered_after)
    minutes = raw.get("undelivered_after_minutes")
    if minutes is not None:
        if not isinstance(minutes, dict) or set(minutes) - {"emergency", "high"}:
            raise fail("alerts.undelivered_after_minutes",
                       "expected {emergency: N, high: N} (minutes)")
        for sev, n in minutes.items():
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise fail(f"alerts.undelivered_after_minutes.{sev}",
                           f"expected a whole number of minutes ≥ 1, got {n!r}")
            after[sev] = timedelta(minutes=n)
    return AlertRouting(to=to, digest=frozenset(digest), undelivered_after=after)


def officers_for(session: Any, subject_id: int, levels: tuple[str, ...], up: int = 0
                 ) -> list[int]:
    """Officers on duty at the named levels above the subject; `up` more levels above the
    highest of them (an unacknowledged or undelivered alert climbing)."""
    from sqlalchemy import select

    from store.models import Jurisdiction, Person, Role

    person = session.get(Person, subject_id)
    chain: list[Any] = []
    current = (session.get(Jurisdiction, person.jurisdiction_id)
               if person is not None and person.jurisdiction_id else None)
    while current is not None and len(chain) < 8:
        chain.append(current)
        current = current.parent
    picked = [i for i, j in enumerate(chain) if j.level in levels]
    if not picked:  # a tree without these level names: the two nearest, as before
        picked = list(range(min(2, len(chain))))
    top = max(picked, default=-1)
    picked += list(range(top + 1, min(len(chain), top + 1 + up)))
    ids = [chain[i].id for i in picked]
    if not ids:
        return []
    return list(session.scalars(
        select(Role.person_id).where(
            Role.role == "officer", Role.on_duty.is_(True), Role.jurisdiction_id.in_(ids)
        ).distinct().order_by(Role.person_id)
    ).all())
