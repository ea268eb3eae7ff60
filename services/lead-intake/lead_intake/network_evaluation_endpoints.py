"""Quarterly network evaluations over HTTP (`/v1/networks/evaluations`): thin; the rules live in
`network_evaluation`. Mounted before the `/v1/networks/{code}` routes so that `evaluations` is not read as a code."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel

from lead_intake.api import Caller, OwnerPath, small_body
from lead_intake.information_networks import parse_quarter, quarter_bounds, quarter_of
from lead_intake.network_evaluation import evaluate_quarter, previous_quarter
from lead_intake.network_models import NetworkDevelopmentPlan, NetworkEvaluation
from lead_intake.network_plans import check_plan, plan_period
from lead_intake.repository import network_evaluations, network_plans, networks
from leadnet_shared.app import runtime_of
from leadnet_shared.auth import require_roles
from leadnet_shared.carry import carried
from leadnet_shared.pagination import Page, PageParams
from leadnet_shared.problems import FieldProblem, Forbidden, NotFound, ValidationFailed, problem_responses
from leadnet_shared.visibility import dealer_own

router = APIRouter(prefix="/v1/networks", tags=["networks"])
QuarterParam = Annotated[str | None, Query(description="2026Q4; default: the previous quarter", max_length=6)]


class NetworkLine(BaseModel):
    """One network's quarter: volume, frequency, quality, grade and authenticity level."""

    code: str
    kind: str
    network_kinds: list[str]
    records: int
    verified: int
    grade: str
    authenticity_share: float | None
    authenticity_level: int | None
    network_class: str | None
    collection_cycle: str
    management: str | None  # main (levels 1-2) | auxiliary (level 3)
    active_days: int  # business days (Asia/Shanghai) it supplied records on
    active_months: int
    complete_share: float | None  # records with all four information blocks
    duplicates_refused: int


class EvaluationOut(BaseModel):
    owner: str
    quarter: str
    scope: str
    evaluated_at: datetime
    trigger: str
    networks: int
    networks_planned: int | None
    networks_developed: int
    development_completion: float | None
    development_rating: str | None
    records: int
    verified: int
    authenticity_share: float | None
    authenticity_rating: str | None
    sales_level: str | None
    kinds_expected: int | None
    kinds_present: list[str]
    kinds_missing: int | None
    class_counts: dict[str, int]
    lines: list[NetworkLine]
    policy_versions: dict[str, str]


class EvaluationList(Page[EvaluationOut]):
    pass


class EvaluationRunOut(BaseModel):
    quarter: str
    evaluated: list[str]  # owners this request evaluated
    already_evaluated: int  # owners evaluated before (by the timer or an earlier request): left as they were


def _out(e: NetworkEvaluation) -> EvaluationOut:
    present = list(e.kinds_present)
    missing = None if e.kinds_expected is None else max(0, e.kinds_expected - len(present))
    return carried(EvaluationOut, e, kinds_present=present, kinds_missing=missing)


def _quarter(value: str | None, now: datetime) -> str:
    quarter = value or previous_quarter(quarter_of(now))
    parse_quarter(quarter)
    return quarter


@router.get(
    "/evaluations",
    responses=problem_responses(NotFound, ValidationFailed),
    summary="Quarterly network evaluations per owner",
)
async def list_evaluations(
    request: Request,
    principal: Caller,
    quarter: QuarterParam = None,
    owner: Annotated[str | None, Query(max_length=32)] = None,
    page: Annotated[PageParams, Depends()] = PageParams(),
) -> EvaluationList:
    """HQ sees every owner's; a dealer its own (another owner → 404). By owner; `updated_since` by evaluation time."""
    runtime = runtime_of(request)
    quarter = _quarter(quarter, runtime.clock.now())
    if not principal.is_hq:
        if owner is not None:
            dealer_own(principal, owner, what="evaluation")
        owner = str(principal.dealer)
    async with runtime.db.sessions() as session:
        found = await network_evaluations.page(session, quarter=quarter, owner=owner, params=page)
    return EvaluationList(items=[_out(e) for e in found.rows], next_cursor=found.next_cursor, total=found.total)


@router.post(
    "/evaluations",
    responses=problem_responses(Forbidden, ValidationFailed, (ValidationFailed, "quarter_not_over")),
    summary="Evaluate a past quarter now (HQ)",
)
async def run_evaluations(request: Request, principal: Caller, quarter: QuarterParam = None) -> EvaluationRunOut:
    """Evaluates every owner not yet evaluated for the quarter, as the timer would; an owner already evaluated is
    left as it was (one result and one event per owner and quarter), so repeating the request changes nothing."""
    require_roles(principal, "hq_admin")
    runtime = runtime_of(request)
    now = runtime.clock.now()
    quarter = _quarter(quarter, now)
    if quarter_bounds(quarter)[1] > now:
        raise ValidationFailed(
            f"{quarter} is not over yet; only a past quarter is evaluated.",
            errors=[FieldProblem("/quarter", "quarter_not_over", "must be a quarter that has ended")],
        )
    async with runtime.db.transaction() as session:
        run = await evaluate_quarter(session, runtime.outbox, quarter=quarter, now=now, trigger="on_demand")
    return EvaluationRunOut(quarter=quarter, evaluated=run.evaluated, already_evaluated=run.already)


# ---- development plans ------------------------------------------------------------------------------------------


class DevelopmentPlanOut(BaseModel):
    owner: str
    period: str
    kind: str  # fixed (a quarter's plan) | temporary (a month's)
    planned_networks: int
    developed_networks: int  # networks of that kind the owner registered in the period
    responsible: dict[str, str]
    due_by: datetime
    first_submitted_at: datetime
    late: bool
    updated_at: datetime
    updated_by: str


async def _plan_out(request: Request, plan: NetworkDevelopmentPlan) -> DevelopmentPlanOut:
    period = plan_period(plan.period)
    async with runtime_of(request).db.sessions() as session:
        developed = await networks.count_registered(
            session, owner=plan.owner, kind=plan.kind, start=period.start, end=period.end
        )
    return carried(DevelopmentPlanOut, plan, developed_networks=developed)


PeriodPath = Annotated[str, Path(max_length=7)]


@router.put(
    "/plans/{owner}/{period}",
    responses=problem_responses(Forbidden, NotFound, ValidationFailed),
    summary="File or change a network development plan",
)
async def put_development_plan(
    owner: OwnerPath, period: PeriodPath, request: Request, principal: Caller
) -> DevelopmentPlanOut:
    """`2027Q1`: fixed networks for the quarter (due by the 5th of its first month); `2027-01`: temporary networks
    for the month (due by the 5th). A dealer files its own; hq_admin files HQ's and may file any dealer's. A plan
    first filed after its due day is kept and flagged `late`."""
    require_roles(principal, "dealer", "hq_admin")
    dealer_own(principal, owner, what="development plan")
    runtime = runtime_of(request)
    when = plan_period(period)
    plan = check_plan(await small_body(request))
    now = runtime.clock.now()
    values = {
        "owner": owner,
        "period": period,
        "kind": when.kind,
        "quarter": when.quarter,
        "planned_networks": plan.planned_networks,
        "responsible": plan.responsible,
        "due_by": when.due_by,
        "first_submitted_at": now,
        "late": now >= when.due_by,
        "updated_at": now,
        "updated_by": principal.caller_key,
    }
    async with runtime.db.transaction() as session:
        stored = await network_plans.save_plan(session, values)
    return await _plan_out(request, stored)


@router.get(
    "/plans/{owner}/{period}",
    responses=problem_responses(NotFound, ValidationFailed),
    summary="A network development plan against the networks developed",
)
async def get_development_plan(
    owner: OwnerPath, period: PeriodPath, request: Request, principal: Caller
) -> DevelopmentPlanOut:
    dealer_own(principal, owner, what="development plan")
    plan_period(period)
    async with runtime_of(request).db.sessions() as session:
        plan = await network_plans.plan(session, owner=owner, period=period)
    if plan is None:
        raise NotFound("No such development plan.")
    return await _plan_out(request, plan)
