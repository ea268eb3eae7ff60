"""Collection plans over HTTP (`/v1/collection-plans`): thin; the rules live in `collection_plans`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.collection_plans import check_breakdown, collection_rules, dealer_target, parse_month
from lead_intake.endpoints import read_json
from lead_intake.network_grades import grade_rules
from lead_intake.network_models import CollectionBreakdown
from lead_intake.settings import IntakeSettings
from leadnet_shared.app import runtime_of
from leadnet_shared.auth import Principal, bearer_principal, require_roles
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.problems import PROBLEM_JSON, NotFound

router = APIRouter(prefix="/v1/collection-plans", tags=["collection plans"])
PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}
Caller = Annotated[Principal, Depends(bearer_principal)]
MonthPath = Annotated[str, Path(max_length=7, description="2026-10")]
DealerPath = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "forbidden", **PROBLEM},
    404: {"description": "not_found", **PROBLEM},
    422: {"description": "validation_failed", **PROBLEM},
}


class NetworkPlanLine(BaseModel):
    code: str
    grade: str  # in the last evaluated quarter; the lowest grade when not yet graded
    planned: int | None  # the dealer's breakdown
    collected: int
    verified: int


class DealerCollectionPlan(BaseModel):
    dealer: str
    month: str
    sales_level: str | None
    target: int  # from policy: sales level × the networks' grades
    graded_in: str | None  # the quarter whose evaluation gave the grades
    breakdown_networks: int  # Σ the breakdown per network
    breakdown_people: dict[str, int]
    collected: int  # records the dealer entered in the month (refused duplicates apart)
    verified: int
    networks: list[NetworkPlanLine]
    policy_version: str


def _owner(principal: Principal, dealer: str) -> None:
    if not principal.is_hq and dealer != principal.dealer:
        raise NotFound("No such collection plan.")


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    year, m = parse_month(month)
    start = datetime.combine(date(year, m, 1), time(), tzinfo=SHANGHAI)
    end = datetime.combine(date(year + (m == 12), m % 12 + 1, 1), time(), tzinfo=SHANGHAI)
    return start.astimezone(UTC), end.astimezone(UTC)


async def _plan(session: AsyncSession, *, dealer: str, month: str) -> DealerCollectionPlan:
    start, end = _month_bounds(month)
    year, m = parse_month(month)
    quarter = f"{year}Q{(m - 1) // 3 + 1}"
    level = (
        await session.execute(text("SELECT sales_level FROM network_dealers WHERE code = :d"), {"d": dealer})
    ).scalar_one_or_none()
    evaluation = (
        await session.execute(
            text(
                "SELECT quarter, lines FROM network_evaluations WHERE owner = :d AND quarter < :q "
                "ORDER BY quarter DESC LIMIT 1"
            ),
            {"d": dealer, "q": quarter},
        )
    ).first()
    graded = {line["code"]: line["grade"] for line in evaluation[1]} if evaluation else {}
    codes = [
        code
        for (code,) in await session.execute(
            text("SELECT code FROM information_networks WHERE owner = :d AND created_at < :start ORDER BY code"),
            {"d": dealer, "start": start},
        )
    ]
    counts = {
        code: (int(n), int(v))
        for code, n, v in await session.execute(
            text(
                "SELECT coalesce(network_code, ''), count(*), count(verified_at) FROM leads "
                "WHERE entered_by = :d AND status <> 'rejected_duplicate' AND submitted_at >= :start "
                "AND submitted_at < :end GROUP BY 1"
            ),
            {"d": dealer, "start": start, "end": end},
        )
    }
    stored = await session.get(CollectionBreakdown, (dealer, month))
    planned = stored.networks if stored else {}
    lowest = grade_rules().grade["regional"].lowest
    grades = [graded.get(code, lowest) for code in codes]
    return DealerCollectionPlan(
        dealer=dealer,
        month=month,
        sales_level=level,
        target=dealer_target(sales_level=level, network_grades=grades),
        graded_in=evaluation[0] if evaluation else None,
        breakdown_networks=sum(planned.values()),
        breakdown_people=stored.people if stored else {},
        collected=sum(n for n, _ in counts.values()),
        verified=sum(v for _, v in counts.values()),
        networks=[
            NetworkPlanLine(
                code=code,
                grade=grade,
                planned=planned.get(code),
                collected=counts.get(code, (0, 0))[0],
                verified=counts.get(code, (0, 0))[1],
            )
            for code, grade in zip(codes, grades, strict=True)
        ],
        policy_version=collection_rules().version,
    )


@router.get(
    "/{month}/dealers/{dealer}",
    response_model=DealerCollectionPlan,
    responses=ERRORS,
    summary="A dealer's monthly target, its breakdown, and what it collected and got verified",
)
async def get_dealer_plan(
    month: MonthPath, dealer: DealerPath, request: Request, principal: Caller
) -> DealerCollectionPlan:
    _owner(principal, dealer)
    parse_month(month)
    async with runtime_of(request).db.sessions() as session:
        return await _plan(session, dealer=dealer, month=month)


@router.put(
    "/{month}/dealers/{dealer}",
    response_model=DealerCollectionPlan,
    responses=ERRORS,
    summary="The dealer's breakdown of its month's target per network and per person",
)
async def put_dealer_breakdown(
    month: MonthPath, dealer: DealerPath, request: Request, principal: Caller
) -> DealerCollectionPlan:
    """The dealer itself, or hq_admin. Networks are the dealer's own regional networks."""
    require_roles(principal, "dealer", "hq_admin")
    _owner(principal, dealer)
    parse_month(month)
    runtime = runtime_of(request)
    settings: IntakeSettings = runtime.settings  # type: ignore[assignment]
    _, body = await read_json(request, limit=settings.max_record_bytes)
    async with runtime.db.transaction() as session:
        own = {
            code
            for (code,) in await session.execute(
                text("SELECT code FROM information_networks WHERE owner = :d"), {"d": dealer}
            )
        }
        breakdown = check_breakdown(body, own_networks=own)
        insert = pg_insert(CollectionBreakdown).values(
            dealer=dealer,
            month=month,
            networks=breakdown.networks,
            people=breakdown.people,
            updated_at=runtime.clock.now(),
            updated_by=principal.caller_key,
        )
        await session.execute(
            insert.on_conflict_do_update(
                index_elements=[CollectionBreakdown.dealer, CollectionBreakdown.month],
                set_={k: insert.excluded[k] for k in ("networks", "people", "updated_at", "updated_by")},
            )
        )
        return await _plan(session, dealer=dealer, month=month)
