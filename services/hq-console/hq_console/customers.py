"""New, lost and upgraded customers and repeat purchases (domain.md "Measures HQ watches"), for the period and the
previous one. Each figure counts distinct customers; its conditions are the `MEASURES` of `hq_console.insights`,
so the list behind a figure (`hq_console.records`) shows exactly its facts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from hq_console.filters import Filters, Scope
from hq_console.insights import PeriodOut
from hq_console.periods import Period
from hq_console.repository.figures import Counted, totals
from hq_console.repository.measures import MEASURES, measure_where

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
    counted = []
    for name in CUSTOMER_MEASURES:
        # each figure counts distinct customers, but repeat purchases count sales
        value = "count(*)" if name == "repeat_purchases" else f"count(DISTINCT {MEASURES[name].alias}.customer_id)"
        counted.append(Counted.of(name, measure_where(name, period, filters, scope, now=now), value))
    return CustomerValues(**await totals(session, counted))


async def customer_figures(
    session: AsyncSession, period: Period, filters: Filters, scope: Scope, *, now: datetime
) -> CustomerFigures:
    current = await customer_values(session, period, filters, scope, now=now)
    before = period.previous()
    previous = await customer_values(session, before, filters, scope, now=now)
    return CustomerFigures(
        **current.model_dump(), period=PeriodOut.of(period), previous_period=PeriodOut.of(before), previous=previous
    )
