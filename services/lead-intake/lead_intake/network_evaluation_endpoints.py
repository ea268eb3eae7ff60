"""Quarterly network evaluations over HTTP (`/v1/networks/evaluations`): thin; the rules live in
`network_evaluation`. Mounted before the `/v1/networks/{code}` routes so that `evaluations` is not read as a code."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from lead_intake.endpoints import read_json
from lead_intake.information_networks import parse_quarter, quarter_bounds, quarter_of
from lead_intake.models import InformationNetwork
from lead_intake.network_evaluation import evaluate_quarter, previous_quarter
from lead_intake.network_models import NetworkDevelopmentPlan, NetworkEvaluation
from lead_intake.network_plans import check_plan, plan_period
from lead_intake.settings import IntakeSettings
from leadnet_shared.app import runtime_of
from leadnet_shared.auth import Principal, bearer_principal, require_roles
from leadnet_shared.pagination import Page, PageParams, fetch_page
from leadnet_shared.problems import PROBLEM_JSON, FieldProblem, NotFound, ValidationFailed

router = APIRouter(prefix="/v1/networks", tags=["networks"])
PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}
Caller = Annotated[Principal, Depends(bearer_principal)]
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
    return EvaluationOut(
        owner=e.owner,
        quarter=e.quarter,
        scope=e.scope,
        evaluated_at=e.evaluated_at,
        trigger=e.trigger,
        networks=e.networks,
        networks_planned=e.networks_planned,
        networks_developed=e.networks_developed,
        development_completion=e.development_completion,
        development_rating=e.development_rating,
        records=e.records,
        verified=e.verified,
        authenticity_share=e.authenticity_share,
        authenticity_rating=e.authenticity_rating,
        sales_level=e.sales_level,
        kinds_expected=e.kinds_expected,
        kinds_present=present,
        kinds_missing=None if e.kinds_expected is None else max(0, e.kinds_expected - len(present)),
        class_counts=e.class_counts,
        lines=[NetworkLine(**line) for line in e.lines],
        policy_versions=e.policy_versions,
    )


def _quarter(value: str | None, now: datetime) -> str:
    quarter = value or previous_quarter(quarter_of(now))
    parse_quarter(quarter)
    return quarter


@router.get(
    "/evaluations",
    response_model=EvaluationList,
    responses={404: {"description": "not_found", **PROBLEM}, 422: {"description": "validation_failed", **PROBLEM}},
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
        if owner is not None and owner != principal.dealer:
            raise NotFound("No such evaluation.")
        owner = str(principal.dealer)
    query = select(NetworkEvaluation).where(NetworkEvaluation.quarter == quarter)
    if owner is not None:
        query = query.where(NetworkEvaluation.owner == owner)
    async with runtime.db.sessions() as session:
        found = await fetch_page(
            session, query, order=[NetworkEvaluation.owner], params=page, changed_at=NetworkEvaluation.evaluated_at
        )
    return EvaluationList(items=[_out(e) for e in found.rows], next_cursor=found.next_cursor, total=found.total)


@router.post(
    "/evaluations",
    response_model=EvaluationRunOut,
    responses={
        403: {"description": "forbidden", **PROBLEM},
        422: {"description": "validation_failed / quarter_not_over", **PROBLEM},
    },
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


def _plan_owner(principal: Principal, owner: str) -> None:
    """HQ roles see every owner's plans; a dealer its own only (another owner → 404, never revealed)."""
    if not principal.is_hq and owner != principal.dealer:
        raise NotFound("No such development plan.")


async def _plan_out(request: Request, plan: NetworkDevelopmentPlan) -> DevelopmentPlanOut:
    period = plan_period(plan.period)
    async with runtime_of(request).db.sessions() as session:
        developed = (
            await session.execute(
                select(func.count()).where(
                    InformationNetwork.owner == plan.owner,
                    InformationNetwork.kind == plan.kind,
                    InformationNetwork.created_at >= period.start,
                    InformationNetwork.created_at < period.end,
                )
            )
        ).scalar_one()
    return DevelopmentPlanOut(
        owner=plan.owner,
        period=plan.period,
        kind=plan.kind,
        planned_networks=plan.planned_networks,
        developed_networks=int(developed),
        responsible=plan.responsible,
        due_by=plan.due_by,
        first_submitted_at=plan.first_submitted_at,
        late=plan.late,
        updated_at=plan.updated_at,
        updated_by=plan.updated_by,
    )


PLAN_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "forbidden", **PROBLEM},
    404: {"description": "not_found", **PROBLEM},
    422: {"description": "validation_failed", **PROBLEM},
}
OwnerPath = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
PeriodPath = Annotated[str, Path(max_length=7)]


@router.put(
    "/plans/{owner}/{period}",
    response_model=DevelopmentPlanOut,
    responses=PLAN_ERRORS,
    summary="File or change a network development plan",
)
async def put_development_plan(
    owner: OwnerPath, period: PeriodPath, request: Request, principal: Caller
) -> DevelopmentPlanOut:
    """`2027Q1`: fixed networks for the quarter (due by the 5th of its first month); `2027-01`: temporary networks
    for the month (due by the 5th). A dealer files its own; hq_admin files HQ's and may file any dealer's. A plan
    first filed after its due day is kept and flagged `late`."""
    require_roles(principal, "dealer", "hq_admin")
    _plan_owner(principal, owner)
    runtime = runtime_of(request)
    settings: IntakeSettings = runtime.settings  # type: ignore[assignment]
    when = plan_period(period)
    _, body = await read_json(request, limit=settings.max_record_bytes)
    plan = check_plan(body)
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
    insert = pg_insert(NetworkDevelopmentPlan).values(values)
    async with runtime.db.transaction() as session:
        stored = (
            await session.execute(
                insert.on_conflict_do_update(
                    index_elements=[NetworkDevelopmentPlan.owner, NetworkDevelopmentPlan.period],
                    set_={
                        "planned_networks": insert.excluded.planned_networks,
                        "responsible": insert.excluded.responsible,
                        "updated_at": insert.excluded.updated_at,
                        "updated_by": insert.excluded.updated_by,
                    },
                ).returning(NetworkDevelopmentPlan)
            )
        ).scalar_one()
    return await _plan_out(request, stored)


@router.get(
    "/plans/{owner}/{period}",
    response_model=DevelopmentPlanOut,
    responses={404: {"description": "not_found", **PROBLEM}, 422: {"description": "validation_failed", **PROBLEM}},
    summary="A network development plan against the networks developed",
)
async def get_development_plan(
    owner: OwnerPath, period: PeriodPath, request: Request, principal: Caller
) -> DevelopmentPlanOut:
    _plan_owner(principal, owner)
    plan_period(period)
    async with runtime_of(request).db.sessions() as session:
        plan = await session.get(NetworkDevelopmentPlan, (owner, period))
    if plan is None:
        raise NotFound("No such development plan.")
    return await _plan_out(request, plan)
