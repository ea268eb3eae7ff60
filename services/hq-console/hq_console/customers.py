"""New, lost and upgraded customers and repeat purchases (domain.md "Measures HQ watches"), for the period and the
previous one. Each figure counts distinct customers; its conditions are the `MEASURES` of `hq_console.insights`,
so the list behind a figure (`hq_console.records`) shows exactly its facts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from hq_console.filters import Filters, Scope
from hq_console.insights import MEASURES, PeriodOut, measure_where
from hq_console.periods import Period

CUSTOMER_MEASURES = ("new_customers", "lost_customers", "upgraded_customers", "repeat_purchases")


class CustomerValues(BaseModel):
    new_customers: int
    lost_customers: int
    upgraded_customers: int
    repeat_purchases: int  # sales to a customer who had bought before (counted per sale)


class CustomerFigures(CustomerValues):
    period: PeriodOut
    previous_period: PeriodOut
    previous: CustomerValues


async def customer_values(
    session: AsyncSession, period: Period, filters: Filters, scope: Scope, *, now: datetime
) -> CustomerValues:
    params: dict[str, object] = {}
    parts = []
    for name in CUSTOMER_MEASURES:
        measure = MEASURES[name]
        where = measure_where(name, period, filters, scope, now=now)
        params.update(where.params)
        counted = "*" if name == "repeat_purchases" else f"DISTINCT {measure.alias}.customer_id"
        parts.append(f"(SELECT count({counted}) FROM {measure.table} {measure.alias} WHERE {where.sql()}) AS {name}")
    row = (await session.execute(text("SELECT " + ", ".join(parts)), params)).mappings().one()
    return CustomerValues(**{name: int(row[name]) for name in CUSTOMER_MEASURES})


async def customer_figures(
    session: AsyncSession, period: Period, filters: Filters, scope: Scope, *, now: datetime
) -> CustomerFigures:
    current = await customer_values(session, period, filters, scope, now=now)
    before = period.previous()
    previous = await customer_values(session, before, filters, scope, now=now)
    return CustomerFigures(
        **current.model_dump(), period=PeriodOut.of(period), previous_period=PeriodOut.of(before), previous=previous
    )
