"""Collection plans over HTTP (`/v1/collection-plans`): thin; the rules live in `collection_plans`."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.api import Caller, OwnerPath, small_body
from lead_intake.collection_plans import (
    check_breakdown,
    check_hq_plan,
    collection_rules,
    hand_on_due_by,
    parse_month,
)
from lead_intake.collection_rollups import DealerMonth, Line, dealer_months, month_rollup
from lead_intake.information_networks import HQ_OWNER
from lead_intake.repository import collection_plans, networks
from leadnet_shared.app import runtime_of
from leadnet_shared.auth import Principal, require_roles
from leadnet_shared.carry import carried
from leadnet_shared.events import CollectionPlanIssued
from leadnet_shared.problems import Forbidden, NotFound, ValidationFailed, problem_responses
from leadnet_shared.visibility import dealer_own

# Every route answers the same problems.
router = APIRouter(
    prefix="/v1/collection-plans",
    tags=["collection plans"],
    responses=problem_responses(Forbidden, NotFound, ValidationFailed),
)
MonthPath = Annotated[str, Path(max_length=7, description="2026-10")]


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
    region: str | None  # the province the dealer's territories lie in
    target: int  # from policy: sales level × the networks' grades
    graded_in: str | None  # the quarter whose evaluation gave the grades
    breakdown_networks: int  # Σ the breakdown per network
    breakdown_people: dict[str, int]
    collected: int  # records the dealer entered in the month (refused duplicates apart)
    verified: int
    handed_on: int  # of those, entered by the hand-on deadline
    hand_on_due_by: datetime  # the end of the 25th, Asia/Shanghai
    hand_on: str  # open | met | short
    hand_on_flagged: bool  # flagged after the deadline (leadnet.collection.hand_on_flagged)
    networks: list[NetworkPlanLine]
    policy_version: str


class RollupLine(BaseModel):
    key: str  # the industry, region (province adcode prefix) or national network code
    planned: int | None
    collected: int
    verified: int


class HqPlanOut(BaseModel):
    industries: dict[str, int]
    networks: dict[str, int]
    total: int
    issued_at: datetime
    updated_at: datetime


class MonthCollectionPlan(BaseModel):
    month: str
    plan: HqPlanOut | None  # HQ's plan; None until issued
    hand_on_due_by: datetime
    planned: int  # HQ's total plus every dealer's target
    collected: int
    verified: int
    hq_collected: int  # records HQ itself entered
    hq_verified: int
    industries: list[RollupLine]  # planned from HQ's plan; every record by its customer's industry
    national_networks: list[RollupLine]
    regions: list[RollupLine]  # planned: the targets of the dealers of the region
    dealers: list[DealerCollectionPlan]
    policy_version: str


def _dealer_out(d: DealerMonth) -> DealerCollectionPlan:
    return carried(
        DealerCollectionPlan,
        d,
        hand_on_flagged=d.flagged,
        networks=[carried(NetworkPlanLine, n) for n in d.networks],
        policy_version=collection_rules().version,
    )


async def _plan(session: AsyncSession, *, dealer: str, month: str, now: datetime) -> DealerCollectionPlan:
    (found,) = await dealer_months(session, month=month, now=now, codes=[dealer])
    return _dealer_out(found)


def _lines(lines: list[Line]) -> list[RollupLine]:
    return [carried(RollupLine, x) for x in lines]


async def _month(session: AsyncSession, *, month: str, principal: Principal, now: datetime) -> MonthCollectionPlan:
    rollup = await month_rollup(session, month=month, now=now)
    # HQ regional staff see the dealers and regions of their regions (a `regions` claim); other HQ roles all.
    dealers = [d for d in rollup.dealers if principal.covers_region(d.region)]
    regions = [r for r in rollup.regions if principal.covers_region(r.key)]
    plan = rollup.plan
    return MonthCollectionPlan(
        month=month,
        plan=HqPlanOut(**plan) if plan else None,
        hand_on_due_by=hand_on_due_by(month),
        planned=(plan["total"] if plan else 0) + sum(d.target for d in rollup.dealers),
        collected=rollup.hq_collected + sum(d.collected for d in rollup.dealers),
        verified=rollup.hq_verified + sum(d.verified for d in rollup.dealers),
        hq_collected=rollup.hq_collected,
        hq_verified=rollup.hq_verified,
        industries=_lines(rollup.industries),
        national_networks=_lines(rollup.national_networks),
        regions=_lines(regions),
        dealers=[_dealer_out(d) for d in dealers],
        policy_version=collection_rules().version,
    )


@router.put("/{month}", summary="HQ's monthly collection plan: fixed counts by industry (and per national network)")
async def put_month_plan(month: MonthPath, request: Request, principal: Caller) -> MonthCollectionPlan:
    """hq_admin. `{"industries": {"coal": 4000, ...}, "networks": {"NAT-1": 1000}}`; industries from the policy list.
    Publishes `leadnet.collection.plan_issued`."""
    require_roles(principal, "hq_admin")
    parse_month(month)
    runtime = runtime_of(request)
    body = await small_body(request)
    now = runtime.clock.now()
    async with runtime.db.transaction() as session:
        plan = check_hq_plan(body, national_networks=await networks.codes_of(session, HQ_OWNER))
        counts = {**asdict(plan), "total": plan.total}
        await collection_plans.save_hq_plan(
            session, month=month, **counts, issued_at=now, updated_at=now, updated_by=principal.caller_key
        )
        issued = CollectionPlanIssued(month=month, **counts, issued_by=principal.caller_key, issued_at=now)
        await runtime.outbox.publish(session, issued, key=month, subject=month, time=now)
        return await _month(session, month=month, principal=principal, now=now)


@router.get(
    "/{month}",
    summary="The month: HQ's plan and the dealers' targets against collected and verified, by dealer, region, industry",
)
async def get_month_plan(month: MonthPath, request: Request, principal: Caller) -> MonthCollectionPlan:
    """HQ roles (regional staff: their regions). A dealer reads its own plan at `/{month}/dealers/{code}`."""
    if not principal.is_hq:
        raise Forbidden("HQ roles only; a dealer reads /v1/collection-plans/{month}/dealers/{its code}.")
    parse_month(month)
    runtime = runtime_of(request)
    async with runtime.db.sessions() as session:
        return await _month(session, month=month, principal=principal, now=runtime.clock.now())


@router.get(
    "/{month}/dealers/{dealer}",
    summary="A dealer's monthly target, its breakdown, and what it collected and got verified",
)
async def get_dealer_plan(
    month: MonthPath, dealer: OwnerPath, request: Request, principal: Caller
) -> DealerCollectionPlan:
    dealer_own(principal, dealer, what="collection plan")
    parse_month(month)
    runtime = runtime_of(request)
    async with runtime.db.sessions() as session:
        return await _plan(session, dealer=dealer, month=month, now=runtime.clock.now())


@router.put(
    "/{month}/dealers/{dealer}", summary="The dealer's breakdown of its month's target per network and per person"
)
async def put_dealer_breakdown(
    month: MonthPath, dealer: OwnerPath, request: Request, principal: Caller
) -> DealerCollectionPlan:
    """The dealer itself, or hq_admin. Networks are the dealer's own regional networks."""
    require_roles(principal, "dealer", "hq_admin")
    dealer_own(principal, dealer, what="collection plan")
    parse_month(month)
    runtime = runtime_of(request)
    body = await small_body(request)
    async with runtime.db.transaction() as session:
        breakdown = check_breakdown(body, own_networks=await networks.codes_of(session, dealer))
        await collection_plans.save_breakdown(
            session,
            dealer=dealer,
            month=month,
            **asdict(breakdown),
            updated_at=runtime.clock.now(),
            updated_by=principal.caller_key,
        )
        return await _plan(session, dealer=dealer, month=month, now=runtime.clock.now())
