"""The regions page: province → city → county drill-down. Without a region filter one row per province; with a
province (2 digits) one per city; with a city (4) one per county; with a county, that county alone. Facts of an
unknown region form their own row (key None), shown to callers who see every region."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from hq_console.filters import Filters, Scope
from hq_console.periods import Period
from hq_console.repository.figures import Counted, grouped
from hq_console.repository.measures import MEASURES, measure_where
from leadnet_shared.masking import region_label

_FIGURES = (
    ("records_received", "count(*)"),
    ("records_accepted", "count(*)"),
    ("cross_region", "count(*)"),
    ("verified", "count(*)"),
    ("sold", "count(*)"),
    ("rewards", "sum(e.amount_fen)"),
    ("tasks_overdue", "count(*)"),
)


class RegionRow(BaseModel):
    region_code: str | None  # adcode prefix of the level (2, 4 or 6 digits); None: unknown region
    name: str | None  # official names down to that level
    level: str  # province | city | county
    records_received: int
    records_accepted: int
    cross_region: int
    verified: int
    sold: int
    rewards_fen: int
    tasks_overdue: int


def _level(filters: Filters) -> int:
    return min(6, len(filters.region) + 2) if filters.region else 2


def _name(code: str | None) -> str | None:
    if not code:
        return None
    return region_label(code.ljust(6, "0")) if len(code) < 6 else region_label(code)


async def region_rows(
    session: AsyncSession, period: Period, filters: Filters, scope: Scope, *, now: datetime
) -> list[RegionRow]:
    digits = _level(filters)
    counted = [
        Counted.of(name, measure_where(name, period, filters, scope, now=now), value) for name, value in _FIGURES
    ]
    prefix = {name: f"substr({MEASURES[name].alias}.region_code, 1, :digits)" for name, _ in _FIGURES}
    rows = await grouped(session, counted, prefix, {"digits": digits})
    by_code: dict[str | None, dict[str, int]] = {}
    for figure, code, n in rows:
        key = code if code and len(code) == digits else None  # a code shorter than the level is not placeable
        cell = by_code.setdefault(key, {})
        cell[figure] = cell.get(figure, 0) + n
    level = {2: "province", 4: "city", 6: "county"}[digits]
    out = [
        RegionRow(
            region_code=code,
            name=_name(code),
            level=level,
            **{("rewards_fen" if name == "rewards" else name): got.get(name, 0) for name, _ in _FIGURES},
        )
        for code, got in by_code.items()
    ]
    out.sort(key=lambda r: (-r.records_received, r.region_code is None, r.region_code or ""))
    return out
