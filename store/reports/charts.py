"""PNG charts (matplotlib, Agg): coverage by village over 12 months, cases by severity.

The same PNG bytes go into the PDF summary and, as a file, to chat.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.orm import Session

from store.models import Case, Person, Subject, Visit
from store.reports.period import DEFAULT_TZ, Month, last_months
from store.reports.queries import SEVERITIES, SEVERITY_LABELS, Scope, _in_scope

# Past this many villages a heat map is unreadable: show townships instead.
MAX_ROWS = 30
CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC")


@lru_cache(maxsize=1)
def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    have = {f.name for f in font_manager.fontManager.ttflist}
    family = [f for f in CJK_FONTS if f in have] + ["DejaVu Sans"]
    plt.rcParams["font.sans-serif"] = family
    plt.rcParams["font.family"] = "sans-serif"
    plt.rcParams["axes.unicode_minus"] = False
    return plt


def _bucket(col: Any, bounds: list[Any]) -> Any:
    """Index of the half-open range [bounds[i], bounds[i+1]) holding col, in SQL."""
    return case(*((col < b, literal(i - 1)) for i, b in enumerate(bounds) if i > 0),
                else_=literal(-1))


@dataclass
class CoverageHistory:
    months: list[Month]
    units: list[str]  # village (or township) labels
    rates: list[list[float | None]]  # units × months


def coverage_history(session: Session, scope: Scope, end: Month, n: int = 12) -> CoverageHistory:
    """Share of (currently active) subjects visited in each of the last n months.

    The denominator is today's roster: visitbot keeps no roster history, and counties
    compare this month against the same people's past coverage anyway."""
    months = last_months(end, n)
    bounds = [m.first for m in months] + [months[-1].next_first]
    in_scope = _in_scope(scope)
    jid = Person.jurisdiction_id
    idx = _bucket(Visit.visited_on, bounds).label("m")
    visited: dict[tuple[int | None, int], int] = {}
    for r in session.execute(
        select(jid, idx, func.count(Visit.subject_id.distinct()))
        .select_from(Visit).join(Person, Person.id == Visit.subject_id)
        .join(Subject, Subject.person_id == Visit.subject_id)
        .where(in_scope, Subject.status == "active", Visit.status == "filed",
               Visit.visited_on >= bounds[0], Visit.visited_on < bounds[-1])
        .group_by(jid, idx)
    ):
        visited[(r[0], int(r[1]))] = r[2]
    roster = dict(session.execute(
        select(jid, func.count()).select_from(Subject).join(Person, Person.id == Subject.person_id)
        .where(in_scope, Subject.status == "active").group_by(jid)).all())
    level_villages = sum(1 for nd in scope.nodes.values() if nd.level == "village") <= MAX_ROWS

    def unit(j: int | None) -> str:
        town, village = scope.path(j)
        return f"{town}·{village}" if level_villages and village else (town or village or "—")

    num: dict[str, list[int]] = {}
    den: dict[str, int] = {}
    for j, count in roster.items():
        den[unit(j)] = den.get(unit(j), 0) + count
        num.setdefault(unit(j), [0] * n)
    for (j, i), count in visited.items():
        if 0 <= i < n:
            num.setdefault(unit(j), [0] * n)[i] += count
    units = sorted(den)
    rates = [[(num[u][i] / den[u]) if den.get(u) else None for i in range(n)] for u in units]
    return CoverageHistory(months, units, rates)


@dataclass
class CaseHistory:
    months: list[Month]
    opened: dict[str, list[int]]  # severity → per month
    open_now: dict[str, int]


def case_history(session: Session, scope: Scope, end: Month, n: int = 12,
                 tz: str = DEFAULT_TZ, now: datetime | None = None) -> CaseHistory:
    months = last_months(end, n)
    # Month bounds as UTC instants, so a case opened at 07:00 Beijing time on the 1st
    # counts in that month, not the one before.
    bounds = [m.utc_bounds(tz)[0] for m in months] + [months[-1].utc_bounds(tz)[1]]
    idx = _bucket(Case.opened_at, bounds).label("m")
    opened = {s: [0] * n for s in SEVERITIES}
    for r in session.execute(
        select(Case.severity, idx, func.count()).select_from(Case)
        .join(Person, Person.id == Case.subject_id)
        .where(_in_scope(scope), Case.opened_at >= bounds[0], Case.opened_at < bounds[-1])
        .group_by(Case.severity, idx)
    ):
        if r[0] in opened and 0 <= int(r[1]) < n:
            opened[r[0]][int(r[1])] = r[2]
    end_at = bounds[-1] if now is None else min(bounds[-1], now)
    open_now = dict.fromkeys(SEVERITIES, 0)
    for r in session.execute(
        select(Case.severity, func.count()).select_from(Case)
        .join(Person, Person.id == Case.subject_id)
        .where(_in_scope(scope), Case.opened_at < end_at,
               and_(Case.resolved_at.is_(None) | (Case.resolved_at >= end_at)))
        .group_by(Case.severity)
    ):
        open_now[r[0]] = r[1]
    return CaseHistory(months, opened, open_now)


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def coverage_png(h: CoverageHistory, title: str = "月探访率（近12个月）") -> bytes:
    plt = _plt()
    import numpy as np

    rows = max(len(h.units), 1)
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.32 * rows))
    data = np.array([[np.nan if v is None else v * 100 for v in r] for r in h.rates] or
                    [[np.nan] * len(h.months)], dtype=float)
    im = ax.imshow(data, aspect="auto", cmap="RdYlGn", vmin=0, vmax=100)
    ax.set_xticks(range(len(h.months)), [f"{m.year % 100:02d}-{m.month:02d}" for m in h.months],
                  fontsize=8)
    ax.set_yticks(range(len(h.units)), h.units, fontsize=8)
    if rows * len(h.months) <= 400:
        for y in range(data.shape[0]):
            for x in range(data.shape[1]):
                if not np.isnan(data[y, x]):
                    ax.text(x, y, f"{data[y, x]:.0f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="%", fraction=0.03)
    ax.set_title(title)
    return _png(fig)


SEV_COLORS = {"watch": "#f2c14e", "high": "#f78154", "emergency": "#c81d25"}


def cases_png(h: CaseHistory, title: str = "风险案件（按严重程度）") -> bytes:
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.2), width_ratios=[3, 1])
    x = range(len(h.months))
    bottom = [0] * len(h.months)
    for s in SEVERITIES:
        ax.bar(x, h.opened[s], bottom=bottom, color=SEV_COLORS[s], label=SEVERITY_LABELS[s])
        bottom = [a + b for a, b in zip(bottom, h.opened[s], strict=True)]
    ax.set_xticks(list(x), [f"{m.month}月" for m in h.months], fontsize=8)
    ax.set_title("每月新增")
    ax.legend(fontsize=8)
    labels = [SEVERITY_LABELS[s] for s in SEVERITIES]
    values = [h.open_now[s] for s in SEVERITIES]
    ax2.bar(labels, values, color=[SEV_COLORS[s] for s in SEVERITIES])
    for i, v in enumerate(values):
        ax2.text(i, v, str(v), ha="center", va="bottom", fontsize=8)
    ax2.set_title("未结")
    # above the panels' own titles, which it overlapped at the default height
    fig.suptitle(title, y=1.04)
    return _png(fig)


def write_charts(session: Session, scope: Scope, end: Month, folder: Path,
                 tz: str = DEFAULT_TZ) -> list[Path]:
    """Both charts as PNG files (for chat), named by scope and month."""
    folder.mkdir(parents=True, exist_ok=True)
    cov = folder / f"coverage-{end.key}.png"
    cov.write_bytes(coverage_png(coverage_history(session, scope, end)))
    cases = folder / f"cases-{end.key}.png"
    cases.write_bytes(cases_png(case_history(session, scope, end, tz=tz)))
    return [cov, cases]
