"""The plans rolled up at the four management levels (domain.md §4: 客戶營銷部、銷售通路、大區市場部、經銷商 — HQ,
sales channel, region, dealer): per month for callback plans, per ISO week (the weeks whose Thursday falls in the
month) for promotion plans.

Figures of a unit and period:
- plans: the dealers' plans of the period (every active dealer has one once its deadline passed, work_plans.py);
  submitted: those submitted at least once; approved: those approved; late: those flagged late;
- planned: lines of the period's plans, whatever their status; approved_lines: lines of approved plans; a line
  whose task was cancelled (the lead closed, the customer bought and its open work was cancelled, erasure) has left
  the plan and counts in neither;
- done: tasks of the kind completed in the period (as plans.py counts them);
- unplanned: tasks of the kind due in the period, not cancelled, that no approved plan planned.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from followup_scheduler.plan_approval import work_plans_policy
from followup_scheduler.plan_drafts import month_days
from followup_scheduler.plan_schemas import RollupFigures
from followup_scheduler.repository.work_plans import TASK_FIGURES, dealer_units, plans_of_month, task_figures
from leadnet_shared.auth import Principal
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.problems import Forbidden

Level = Literal["dealer", "region", "channel", "hq"]
# The figures of a unit and period by name (the names and their order are the answer's, `RollupFigures`).
FIGURES = tuple(RollupFigures.model_fields)
Figures = Counter[str]


@dataclass
class UnitRollup:
    unit: str
    dealers: set[str] = field(default_factory=set)
    callbacks: Figures = field(default_factory=Counter)
    promotions: Figures = field(default_factory=Counter)
    weeks: dict[str, Figures] = field(default_factory=dict)


def weeks_of_month(month: str) -> list[str]:
    """The ISO weeks whose Thursday falls in the month (an ISO week belongs to the month of its Thursday)."""
    first, last = month_days(month)
    thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    weeks = []
    while thursday <= last:
        iso = thursday.isocalendar()
        weeks.append(f"{iso.year:04d}-W{iso.week:02d}")
        thursday += timedelta(days=7)
    return weeks


def _instant(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(UTC)


async def rollup(session: AsyncSession, *, month: str, level: Level, principal: Principal) -> list[UnitRollup]:
    """The month's figures per unit of `level` that the caller may see (a dealer: itself at the dealer level;
    HQ regional staff: the dealers of its regions)."""
    if principal.role == "dealer" and level != "dealer":
        raise Forbidden("A dealer reads the roll-up at the dealer level, its own figures.")
    first, last = month_days(month)
    weeks = weeks_of_month(month)
    month_start, month_end = _instant(first), _instant(last + timedelta(days=1))
    week_monday = date.fromisocalendar(int(weeks[0][:4]), int(weeks[0][6:]), 1)
    weeks_start, weeks_end = _instant(week_monday), _instant(week_monday + timedelta(days=7 * len(weeks)))
    units = await dealer_units(session)
    default_channel = work_plans_policy().default_channel

    def visible(dealer: str) -> bool:
        if principal.role == "dealer":
            return dealer == principal.dealer
        return not principal.is_regional or principal.covers_region(units.get(dealer, (None, ""))[0])

    def unit_of(dealer: str) -> str:
        region, channel = units.get(dealer, (None, default_channel))
        if level == "dealer":
            return dealer
        if level == "region":
            return region or "unknown"
        if level == "channel":
            return str(channel)
        return "hq"

    found: dict[str, UnitRollup] = {}

    def figures(dealer: str, kind: str, period: str) -> Figures | None:
        if not visible(dealer):
            return None
        unit = found.setdefault(unit_of(dealer), UnitRollup(unit=unit_of(dealer)))
        unit.dealers.add(dealer)
        if kind == "callback":
            return unit.callbacks
        return unit.weeks.setdefault(period, Counter())

    for row in await plans_of_month(session, month=month, weeks=weeks):
        target = figures(row.dealer, row.kind, row.period)
        if target is None:
            continue
        target["plans"] += 1
        target["submitted"] += int(row.submitted)
        target["approved"] += int(row.status == "approved")
        target["late"] += int(row.late)
        target["planned"] += row.lines
        target["approved_lines"] += row.lines if row.status == "approved" else 0
    for name in TASK_FIGURES:
        for kind, start, end in (("callback", month_start, month_end), ("promotion", weeks_start, weeks_end)):
            for row in await task_figures(session, name, start=start, end=end):
                if row.kind != kind or (kind == "promotion" and row.week not in weeks):
                    continue
                target = figures(row.dealer, row.kind, row.week)
                if target is not None:
                    target[name] += row.count
    for unit in found.values():
        for week in weeks:
            unit.promotions.update(unit.weeks.setdefault(week, Counter()))
        unit.weeks = dict(sorted(unit.weeks.items()))
    return sorted(found.values(), key=lambda unit: unit.unit)


def figures_dict(figures: Figures) -> dict[str, int]:
    return {name: figures[name] for name in FIGURES}


def units_out(units: Iterable[UnitRollup]) -> list[dict[str, object]]:
    return [
        {
            "unit": unit.unit,
            "dealers": len(unit.dealers),
            "callbacks": figures_dict(unit.callbacks),
            "promotions": figures_dict(unit.promotions),
            "weeks": [{"week": week, **figures_dict(f)} for week, f in unit.weeks.items()],
        }
        for unit in units
    ]
