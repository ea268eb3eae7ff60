"""Callback and promotion plans over HTTP (contract.md "Plans"): draft, save, submit, review, approve, reject, and
the roll-up at the four management levels. Thin: the rules are in work_plans.py, plan_approval.py, plan_rollup.py.

Registered before the `/v1/plans/{dealer}/{month}` routes of endpoints.py, so `/v1/plans/rollup/{month}` is not
read as the plan of a dealer called "rollup"."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from followup_scheduler.endpoints import Caller, Month
from followup_scheduler.models import DEALERS, WorkPlan
from followup_scheduler.plan_approval import chain_for, stage_named
from followup_scheduler.plan_rollup import Level, rollup, units_out
from followup_scheduler.plan_schemas import (
    DraftOut,
    PlanLineOut,
    PlanLinesIn,
    PlanStepOut,
    RejectIn,
    RollupOut,
    WorkPlanOut,
)
from followup_scheduler.repository.work_plans import find_plan, plan_lines, plan_steps
from followup_scheduler.work_plans import (
    LineIn,
    PlanKind,
    act_on_plan,
    draft_plan,
    period_checked,
    save_plan,
    submit_plan,
    visible_dealer,
)
from leadnet_shared.app import Runtime, runtime_of
from leadnet_shared.auth import Principal
from leadnet_shared.carry import carried
from leadnet_shared.dealer_directory import require_active_dealer
from leadnet_shared.problems import (
    Conflict,
    DealerNotActive,
    FieldProblem,
    Forbidden,
    NotFound,
    ValidationFailed,
    problem_responses,
)
from leadnet_shared.redaction import redact_text

work_plans_router = APIRouter(prefix="/v1/plans", tags=["plans"])
Week = Annotated[str, Path(pattern=r"^(19|20|21)\d{2}-W(0[1-9]|[1-4]\d|5[0-3])$", description="ISO week yyyy-Www")]
Dealer = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
Action = Literal["review", "approve", "reject"]
READ_PROBLEMS = problem_responses(NotFound, ValidationFailed)
WRITE_PROBLEMS = problem_responses(
    Forbidden,
    DealerNotActive,
    NotFound,
    (Conflict, "plan_not_editable"),
    (Conflict, "plan_not_submitted"),
    (Conflict, "plan_wrong_stage"),
    ValidationFailed,
    (ValidationFailed, "plan_under_quota"),
    (ValidationFailed, "plan_misses_demand_customers"),
)


def _period(kind: PlanKind, period: str) -> str:
    try:
        period_checked(kind, period)
    except ValueError as exc:  # 2026-W53 in a year of 52 weeks
        raise ValidationFailed(
            "The request has field problems; see errors.", errors=[FieldProblem("/period", "invalid_period", str(exc))]
        ) from exc
    return period


def _reason(text: str | None, principal: Principal) -> str | None:
    """A rejection's reason is free text: an analyst (personal data masked) reads it with phone numbers and street
    addresses redacted, like the public event."""
    return redact_text(text) if text and not principal.sees_personal_data and principal.is_hq else text


async def _plan_out(session: AsyncSession, plan: WorkPlan, principal: Principal) -> WorkPlanOut:
    lines = await plan_lines(session, plan.plan_id)
    stage = stage_named(chain_for(line.tier for line in lines), plan.stage) if plan.status == "submitted" else None
    # The plan row's own fields are carried as they are (same names).
    return carried(
        WorkPlanOut,
        plan,
        plan=plan.kind,
        waiting_for=sorted(stage.positions) if stage else [],
        rejected_reason=_reason(plan.rejected_reason, principal),
        lines=[PlanLineOut.model_validate(line, from_attributes=True) for line in lines],
        steps=[
            PlanStepOut.model_validate(step, from_attributes=True).model_copy(
                update={"reason": _reason(step.reason, principal)}
            )
            for step in await plan_steps(session, plan.plan_id)
        ],
    )


async def _draft(request: Request, principal: Caller, dealer: str, kind: PlanKind, period: str) -> DraftOut:
    runtime = runtime_of(request)
    async with runtime.db.sessions() as session:
        await visible_dealer(session, principal, dealer)
        draft = await draft_plan(
            session, dealer=dealer, kind=kind, period=_period(kind, period), now=runtime.clock.now()
        )
    return carried(
        DraftOut,
        draft,
        plan=draft.kind,
        lines=[PlanLineOut.model_validate(line, from_attributes=True) for line in draft.lines],
    )


async def _get(request: Request, principal: Caller, dealer: str, kind: PlanKind, period: str) -> WorkPlanOut:
    async with runtime_of(request).db.sessions() as session:
        await visible_dealer(session, principal, dealer)
        plan = await find_plan(session, dealer=dealer, kind=kind, period=_period(kind, period))
        if plan is None:
            raise NotFound("No such plan.")
        return await _plan_out(session, plan, principal)


# A step of a plan's life: the session, the runtime and the checked period in, the plan as it now stands out.
Change = Callable[[AsyncSession, Runtime, str], Awaitable[WorkPlan]]


async def _write(
    request: Request, principal: Principal, dealer: str, kind: PlanKind, period: str, change: Change
) -> WorkPlanOut:
    """Every write to a plan: the caller must see the dealer's plans and be an active dealer (if a dealer), the
    period is checked, then `change` runs in the same transaction."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        await visible_dealer(session, principal, dealer)
        await require_active_dealer(session, DEALERS, principal)
        plan = await change(session, runtime, _period(kind, period))
        return await _plan_out(session, plan, principal)


def _save(principal: Principal, dealer: str, kind: PlanKind, body: PlanLinesIn) -> Change:
    async def change(session: AsyncSession, runtime: Runtime, period: str) -> WorkPlan:
        lines = [LineIn(**line.model_dump()) for line in body.lines]
        now = runtime.clock.now()
        return await save_plan(
            session, dealer=dealer, kind=kind, period=period, lines=lines, principal=principal, now=now
        )

    return change


def _submit(principal: Principal, dealer: str, kind: PlanKind) -> Change:
    async def change(session: AsyncSession, runtime: Runtime, period: str) -> WorkPlan:
        now = runtime.clock.now()
        return await submit_plan(
            session, runtime.outbox, dealer=dealer, kind=kind, period=period, principal=principal, now=now
        )

    return change


def _act(principal: Principal, dealer: str, kind: PlanKind, action: Action, reason: str | None = None) -> Change:
    async def change(session: AsyncSession, runtime: Runtime, period: str) -> WorkPlan:
        return await act_on_plan(
            session,
            runtime.outbox,
            dealer=dealer,
            kind=kind,
            period=period,
            action=action,
            reason=reason,
            principal=principal,
            now=runtime.clock.now(),
        )

    return change


@work_plans_router.get(
    "/rollup/{month}",
    response_model=RollupOut,
    summary="Plans rolled up at the four management levels",
    responses=problem_responses(Forbidden, ValidationFailed),
)
async def get_rollup(request: Request, principal: Caller, month: Month, level: Level = "dealer") -> RollupOut:
    async with runtime_of(request).db.sessions() as session:
        units = await rollup(session, month=month, level=level, principal=principal)
    return RollupOut.model_validate({"month": month, "level": level, "units": units_out(units)})


# ---- monthly callback plans and weekly promotion plans: the same operations, by month or by ISO week ------------


def _month(month: Month) -> str:
    return month


def _week(week: Week) -> str:
    return week


@dataclass(frozen=True)
class PlanRoutes:
    """One kind of plan's operations: its paths start with `base`, the period comes from the `period` dependency
    (the path's `{month}` or `{week}`); `unit` and `due` complete the summaries."""

    kind: PlanKind
    base: str
    period: Callable[..., str]
    unit: str
    due: str


PLAN_ROUTES = (
    PlanRoutes("callback", "/{dealer}/{month}/callbacks", _month, "month", "due by the 30th; late is flagged"),
    PlanRoutes("promotion", "/{dealer}/weeks/{week}/promotions", _week, "week", "due on the Friday before the week"),
)


def _add_plan_routes(spec: PlanRoutes) -> None:
    """Register a kind's operations, named (operation ids) and ordered as they were when written out per kind."""
    kind, period_of, noun = spec.kind, spec.period, f"{spec.kind} plan"
    plan = f"the {noun}"

    def add(method: str, suffix: str, name: str, summary: str) -> Callable[[Any], Any]:
        problems = READ_PROBLEMS if method == "GET" else WRITE_PROBLEMS
        return work_plans_router.api_route(
            spec.base + suffix, methods=[method], name=name, summary=summary, responses=problems
        )

    @add("GET", "/draft", f"{kind}_draft", f"Next {spec.unit}'s {noun} as the rules would draw it")
    async def draft(request: Request, principal: Caller, dealer: Dealer, period: str = Depends(period_of)) -> DraftOut:
        return await _draft(request, principal, dealer, kind, period)

    @add("GET", "", f"{kind}_plan", f"The {noun}")
    async def get(request: Request, principal: Caller, dealer: Dealer, period: str = Depends(period_of)) -> WorkPlanOut:
        return await _get(request, principal, dealer, kind, period)

    @add("PUT", "", f"put_{kind}_plan", f"Save {plan}'s lines (the dealer's makers)")
    async def put(
        request: Request, principal: Caller, dealer: Dealer, body: PlanLinesIn, period: str = Depends(period_of)
    ) -> WorkPlanOut:
        return await _write(request, principal, dealer, kind, period, _save(principal, dealer, kind, body))

    @add("POST", "/submit", f"submit_{kind}_plan", f"Submit {plan} ({spec.due})")
    async def submit(
        request: Request, principal: Caller, dealer: Dealer, period: str = Depends(period_of)
    ) -> WorkPlanOut:
        return await _write(request, principal, dealer, kind, period, _submit(principal, dealer, kind))

    approvals: dict[Action, str] = {
        "review": "at its stage",
        "approve": "at its stage (the last approval plans the tasks)",
    }
    for action, when in approvals.items():
        add("POST", f"/{action}", f"{action}_{kind}_plan", f"{action.title()} {plan} {when}")(
            _approval(kind, action, period_of)
        )

    @add("POST", "/reject", f"reject_{kind}_plan", f"Reject {plan} with a reason (back to the makers)")
    async def reject(
        request: Request, principal: Caller, dealer: Dealer, body: RejectIn, period: str = Depends(period_of)
    ) -> WorkPlanOut:
        change = _act(principal, dealer, kind, "reject", body.reason)
        return await _write(request, principal, dealer, kind, period, change)


def _approval(kind: PlanKind, action: Action, period_of: Callable[..., str]) -> Callable[..., Awaitable[WorkPlanOut]]:
    """A review or an approval of a kind's plan (one function per action: the closure binds it)."""

    async def endpoint(
        request: Request, principal: Caller, dealer: Dealer, period: str = Depends(period_of)
    ) -> WorkPlanOut:
        return await _write(request, principal, dealer, kind, period, _act(principal, dealer, kind, action))

    return endpoint


for _spec in PLAN_ROUTES:
    _add_plan_routes(_spec)
