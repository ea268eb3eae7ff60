"""The overview: the KPI tiles with the previous period's values, the trend, and the funnel (received → accepted →
verified → promoted → sold). Definitions in docs/console-kpis.md; each figure is one SQL condition over one fact
table (`hq_console.repository.measures.MEASURES`), reused by the list behind it (`hq_console.records`)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from hq_console.filters import Filters, Scope
from hq_console.periods import Period, containing, zone
from hq_console.repository.figures import Counted, grouped, received_and_refused, totals
from hq_console.repository.measures import MEASURES, measure_where, scoped

# ---- KPIs -----------------------------------------------------------------------------------------------------


class PeriodOut(BaseModel):
    from_: date = Field(alias="from")  # "from" in JSON (a Python keyword here)
    to: date
    granularity: str
    label: str
    time_zone: str

    model_config = {"populate_by_name": True}

    @classmethod
    def of(cls, period: Period) -> PeriodOut:
        return cls(
            from_=period.first,
            to=period.last,
            granularity=period.granularity,
            label=period.label(),
            time_zone=str(zone()),
        )


class KpiValues(BaseModel):
    """The overview's tiles for one period (docs/console-kpis.md)."""

    records_received: int
    records_accepted: int
    duplicates_refused: int
    refused_at_intake: int
    cross_region: int
    verified: int
    authenticity_share: float | None  # accepted in the period and verified since / accepted in the period
    promoted: int
    sold: int
    vehicles_sold: int
    rewards_fen: int
    tasks_open: int
    tasks_overdue: int
    sales_pending: int  # reported sales waiting for their confirmation at the period's end (or now)
    sales_rejected: int  # reported sales their confirmer rejected in the period


class Kpis(KpiValues):
    period: PeriodOut
    previous_period: PeriodOut
    previous: KpiValues
    # current - previous per figure (None where a share is undefined)
    change: dict[str, float | int | None]


# The tiles counted as their figure (vehicles and rewards are sums), and the authenticity share's numerator.
_COUNTED = (*(name for name in KpiValues.model_fields if name in MEASURES), "accepted_verified")


async def kpi_values(
    session: AsyncSession, period: Period, filters: Filters, scope: Scope, *, now: datetime
) -> KpiValues:
    """Every tile of one period in one statement (each figure a scalar subquery on its indexed time column)."""
    counted = [
        Counted.of(name, scoped(MEASURES[name], condition, period, filters, scope, now=now))
        for name in _COUNTED
        for condition in MEASURES[name].parts or (MEASURES[name].condition,)
    ]
    sold = measure_where("sold", period, filters, scope, now=now)
    rewards = measure_where("rewards", period, filters, scope, now=now)
    counted.append(Counted.of("vehicles_sold", sold, "COALESCE(sum(s.vehicles), 0)", measure="sold"))
    counted.append(Counted.of("rewards_fen", rewards, "COALESCE(sum(e.amount_fen), 0)", measure="rewards"))
    row = await totals(session, counted)
    values: dict[str, Any] = {name: n for name, n in row.items() if name in KpiValues.model_fields}
    values["records_received"] = row["records_received"] + row["refused_at_intake"]
    accepted = row["records_accepted"]
    values["authenticity_share"] = round(row["accepted_verified"] / accepted, 4) if accepted else None
    return KpiValues(**values)


async def kpis(session: AsyncSession, period: Period, filters: Filters, scope: Scope, *, now: datetime) -> Kpis:
    """The tiles for `period` and its previous period, with the change."""
    current = await kpi_values(session, period, filters, scope, now=now)
    before = period.previous()
    previous = await kpi_values(session, before, filters, scope, now=now)
    change: dict[str, float | int | None] = {}
    for name, value in current.model_dump().items():
        old = getattr(previous, name)
        change[name] = None if value is None or old is None else round(value - old, 4)
    return Kpis(
        **current.model_dump(),
        period=PeriodOut.of(period),
        previous_period=PeriodOut.of(before),
        previous=previous,
        change=change,
    )


# ---- trend ----------------------------------------------------------------------------------------------------

Bucket = Literal["day", "week", "month"]


class TrendPoint(BaseModel):
    day: date  # the bucket's first business day
    records_received: int
    records_accepted: int
    verified: int
    sold: int
    rewards_fen: int


# The chart's figures (by their time column); an amount is summed, the rest counted.
_TREND = ("records_received", "records_accepted", "verified", "sold", "rewards")
_SUMMED = {"rewards": "sum(e.amount_fen)"}
_TREND_FIELDS = ("records_received", "records_accepted", "verified", "sold", "rewards_fen")


def bucket_for(period: Period) -> Bucket:
    return "day" if period.days <= 62 else ("week" if period.days <= 200 else "month")


async def trend(
    session: AsyncSession,
    period: Period,
    filters: Filters,
    scope: Scope,
    *,
    now: datetime,
    bucket: Bucket | None = None,
) -> list[TrendPoint]:
    """The overview's chart: the period's figures per day, week or month (Asia/Shanghai), every bucket present."""
    bucket = bucket or bucket_for(period)
    counted = [
        Counted.of(name, measure_where(name, period, filters, scope, now=now), _SUMMED.get(name, "count(*)"))
        for name in _TREND
    ]
    by_day = {
        name: f"date_trunc(:bucket, {MEASURES[name].alias}.{MEASURES[name].time} AT TIME ZONE :tz)::date"
        for name in _TREND
    }
    rows = await grouped(session, counted, by_day, {"tz": str(zone()), "bucket": bucket})
    points: dict[date, dict[str, int]] = {}
    for figure, day, n in rows:
        points.setdefault(day, {})["rewards_fen" if figure == "rewards" else figure] = n
    return [
        TrendPoint(day=day, **dict.fromkeys(_TREND_FIELDS, 0) | points.get(day, {})) for day in _buckets(period, bucket)
    ]


def _buckets(period: Period, bucket: Bucket) -> list[date]:
    days, day = [], containing(bucket, period.first).first
    while day <= period.last:
        days.append(day)
        day = containing(bucket, day).last + timedelta(days=1)
    return days


# ---- funnel ---------------------------------------------------------------------------------------------------

FunnelBy = Literal["none", "source", "network", "tier", "product_line", "region", "dealer"]
_FUNNEL_COLUMN = {
    "none": "NULL",
    "source": "l.source",
    "network": "l.network_code",
    "tier": "l.tier",
    "product_line": "l.product_line",
    "region": "substr(l.region_code, 1, 2)",
    "dealer": "l.entered_by",
}


_STAGES = ("received", "accepted", "verified", "promoted", "sold")


class FunnelRow(BaseModel):
    """One group's records received in the period and how far they have come since (a cohort)."""

    key: str | None  # the group's value (None: unknown, or the whole funnel for by=none)
    received: int
    accepted: int
    verified: int
    promoted: int
    sold: int


async def funnel(
    session: AsyncSession, period: Period, filters: Filters, scope: Scope, *, now: datetime, by: FunnelBy = "none"
) -> list[FunnelRow]:
    """received → accepted → verified → promoted → sold of the records received in the period, per group: each
    stage counts the records that reached it by now (records refused at intake count as received, never further)."""
    rows = await received_and_refused(
        session,
        key=_FUNNEL_COLUMN[by],
        leads=measure_where("records_received", period, filters, scope, now=now),
        refusals=measure_where("refused_at_intake", period, filters, scope, now=now),
        counts={"received": ("count(*)", "count(*)")} | {s: (f"count(l.{s}_at)", "0") for s in _STAGES[1:]},
    )
    return [
        FunnelRow(key=None if key is None else str(key), **{s: int(n) for s, n in zip(_STAGES, counts, strict=True)})
        for key, *counts in rows
    ]
