"""`/v1/insights/*`: the JSON behind the console's pages, thin over the query modules (`insights`, `dealers`,
`regions`, `networks`, `customers`, `records`). Every endpoint takes the same period and filters and the same
bearer tokens as the other services; HQ roles see everything masked, regional HQ staff their regions, dealers 403."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from hq_console import customers, dealers, insights, networks, records, regions
from hq_console.filters import Filters, Scope
from hq_console.periods import Period, resolve
from leadnet_shared.app import runtime_of
from leadnet_shared.auth import Principal, bearer_principal
from leadnet_shared.pagination import Page, PageParams
from leadnet_shared.problems import Forbidden, InvalidCursor, Unauthenticated, ValidationFailed, problem_responses

RowT = TypeVar("RowT", bound=BaseModel)

router = APIRouter(prefix="/v1/insights", tags=["insights"])
_PROBLEMS = problem_responses(
    Unauthenticated, (Forbidden, "forbidden (a dealer token: the console is HQ's)"), ValidationFailed, InvalidCursor
)


@dataclass(frozen=True)
class Query_:
    """The period, the filters and the caller's scope of one request."""

    period: Period
    filters: Filters
    scope: Scope


async def console_query(
    request: Request,
    principal: Annotated[Principal, Depends(bearer_principal)],
    from_: Annotated[
        str | None, Query(alias="from", description="First business day (YYYY-MM-DD, Asia/Shanghai)")
    ] = None,
    to: Annotated[str | None, Query(description="Last business day, included")] = None,
    period: Annotated[str | None, Query(description="day | week | month | quarter (instead of from/to)")] = None,
    at: Annotated[str | None, Query(description="A day inside the period (default today)")] = None,
    region: Annotated[str | None, Query(description="Adcode prefix: province 2, city 4, county 6 digits")] = None,
    product_line: Annotated[str | None, Query()] = None,
    dealer: Annotated[str | None, Query()] = None,
    source: Annotated[str | None, Query()] = None,
    tier: Annotated[str | None, Query()] = None,
    network: Annotated[str | None, Query()] = None,
) -> Query_:
    scope = Scope.of(principal)  # 403 for dealers before anything else is read
    problems = []
    try:
        resolved = resolve(now=runtime_of(request).clock.now(), from_=from_, to=to, period=period, at=at)
    except ValidationFailed as exc:
        problems.extend(exc.errors)
    try:
        parsed = Filters.parse(
            region=region, product_line=product_line, dealer=dealer, source=source, tier=tier, network=network
        )
    except ValidationFailed as exc:
        problems.extend(exc.errors)
    if problems:
        raise ValidationFailed("The query has problems; see errors.", errors=problems)
    return Query_(period=resolved, filters=parsed, scope=scope)


ConsoleQuery = Annotated[Query_, Depends(console_query)]


async def session_of(request: Request) -> AsyncIterator[AsyncSession]:
    async with runtime_of(request).db.sessions() as session:
        yield session


Session = Annotated[AsyncSession, Depends(session_of)]


def _now(request: Request):  # type: ignore[no-untyped-def]
    return runtime_of(request).clock.now()


@router.get("/kpis", response_model=insights.Kpis, responses=_PROBLEMS)
async def get_kpis(request: Request, q: ConsoleQuery, session: Session) -> insights.Kpis:
    """The overview's tiles for the period and the previous one, with the change."""
    return await insights.kpis(session, q.period, q.filters, q.scope, now=_now(request))


class TrendOut(BaseModel):
    """A series, not a list of records: one object (not a bare array) so that it can grow fields (contract.md
    "Lists": no operation answers a bare array)."""

    points: list[insights.TrendPoint]


class Rows(BaseModel, Generic[RowT]):
    """A table of figures (one row per group), not a list of records to sync: no cursor, no `updated_since`."""

    rows: list[RowT]


@router.get("/trend", response_model=TrendOut, responses=_PROBLEMS)
async def get_trend(
    request: Request,
    q: ConsoleQuery,
    session: Session,
    bucket: Annotated[insights.Bucket | None, Query()] = None,
) -> TrendOut:
    """The overview's chart: figures per day, week or month of the period."""
    points = await insights.trend(session, q.period, q.filters, q.scope, now=_now(request), bucket=bucket)
    return TrendOut(points=points)


@router.get("/funnel", response_model=Rows[insights.FunnelRow], responses=_PROBLEMS)
async def get_funnel(
    request: Request,
    q: ConsoleQuery,
    session: Session,
    by: Annotated[insights.FunnelBy, Query()] = "none",
) -> Rows[insights.FunnelRow]:
    """received → accepted → verified → promoted → sold, by source, network, tier, product line, region or dealer."""
    return Rows(rows=await insights.funnel(session, q.period, q.filters, q.scope, now=_now(request), by=by))


@router.get("/dealers", response_model=Rows[dealers.DealerRow], responses=_PROBLEMS)
async def get_dealers(request: Request, q: ConsoleQuery, session: Session) -> Rows[dealers.DealerRow]:
    """Per dealer: collection, callback and promotion timeliness, overdue and escalated tasks, plan completion,
    cross-region sales, rewards."""
    return Rows(rows=await dealers.dealer_rows(session, q.period, q.filters, q.scope, now=_now(request)))


@router.get("/regions", response_model=Rows[regions.RegionRow], responses=_PROBLEMS)
async def get_regions(request: Request, q: ConsoleQuery, session: Session) -> Rows[regions.RegionRow]:
    """One level below the `region` filter (provinces without it, then cities, then counties)."""
    return Rows(rows=await regions.region_rows(session, q.period, q.filters, q.scope, now=_now(request)))


@router.get("/networks", response_model=networks.Networks, responses=_PROBLEMS)
async def get_networks(request: Request, q: ConsoleQuery, session: Session) -> networks.Networks:
    """Information networks: each network's records and authenticity in the period, and the quarterly evaluations
    (grade classes, authenticity, development completion) from `leadnet.network.evaluated`."""
    return await networks.network_view(session, q.period, q.filters, q.scope, now=_now(request))


@router.get("/customers", response_model=customers.CustomerFigures, responses=_PROBLEMS)
async def get_customers(request: Request, q: ConsoleQuery, session: Session) -> customers.CustomerFigures:
    """New, lost and upgraded customers and repeat purchases in the period, with the previous period's."""
    return await customers.customer_figures(session, q.period, q.filters, q.scope, now=_now(request))


@router.get("/records", response_model=Page[records.RecordItem], responses=_PROBLEMS)
async def get_records(
    request: Request,
    q: ConsoleQuery,
    session: Session,
    page: Annotated[PageParams, Depends()],
    metric: Annotated[records.Metric, Query(description="The figure whose rows to list")],
) -> Page[records.RecordItem]:
    """The masked rows behind any figure of the pages, keyset-paged (`next_cursor`, `total` on the first page)."""
    return await records.records(session, metric, q.period, q.filters, q.scope, now=_now(request), page=page)
