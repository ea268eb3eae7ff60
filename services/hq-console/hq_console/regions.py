"""The regions page: province → city → county drill-down. Without a region filter one row per province; with a
province (2 digits) one per city; with a city (4) one per county; with a county, that county alone. Facts of an
unknown region form their own row (key None), shown to callers who see every region."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from hq_console.filters import Filters, Scope
from hq_console.insights import MEASURES, measure_where
from hq_console.periods import Period
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
    params: dict[str, object] = {"digits": digits}
    parts = []
    for name, value in _FIGURES:
        measure = MEASURES[name]
        where = measure_where(name, period, filters, scope, now=now)
        params.update(where.params)
        parts.append(
            f"SELECT '{name}' AS figure, substr({measure.alias}.region_code, 1, :digits) AS code, {value} AS n "
            f"FROM {measure.table} {measure.alias} WHERE {where.sql()} GROUP BY 2"
        )
    rows = (await session.execute(text(" UNION ALL ".join(parts)), params)).all()
    by_code: dict[str | None, dict[str, int]] = {}
    for figure, code, n in rows:
        key = code if code and len(code) == digits else None  # a code shorter than the level is not placeable
        cell = by_code.setdefault(key, {})
        cell[figure] = cell.get(figure, 0) + int(n or 0)
    level = {2: "province", 4: "city", 6: "county"}[digits]
    out = [
        RegionRow(
            region_code=code,
            name=_name(code),
            level=level,
            records_received=got.get("records_received", 0),
            records_accepted=got.get("records_accepted", 0),
            cross_region=got.get("cross_region", 0),
            verified=got.get("verified", 0),
            sold=got.get("sold", 0),
            rewards_fen=got.get("rewards", 0),
            tasks_overdue=got.get("tasks_overdue", 0),
        )
        for code, got in by_code.items()
    ]
    out.sort(key=lambda r: (-r.records_received, r.region_code is None, r.region_code or ""))
    return out
