"""Callback and promotion plans over HTTP (contract.md "Plans"): draft, save, submit, review, approve, reject, and
the roll-up at the four management levels. Thin: the rules are in work_plans.py, plan_approval.py, plan_rollup.py.

Registered before the `/v1/plans/{dealer}/{month}` routes of endpoints.py, so `/v1/plans/rollup/{month}` is not
read as the plan of a dealer called "rollup"."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

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
from followup_scheduler.work_plans import (
    LineIn,
    PlanKind,
    act_on_plan,
    draft_plan,
    find_plan,
    period_checked,
    plan_lines,
    plan_steps,
    save_plan,
    submit_plan,
    visible_dealer,
)
from leadnet_shared.app import runtime_of
from leadnet_shared.auth import Principal, bearer_principal
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
Caller = Annotated[Principal, Depends(bearer_principal)]
Month = Annotated[str, Path(pattern=r"^(19|20|21)\d{2}-(0[1-9]|1[0-2])$", description="yyyy-mm, Asia/Shanghai")]
Week = Annotated[str, Path(pattern=r"^(19|20|21)\d{2}-W(0[1-9]|[1-4]\d|5[0-3])$", description="ISO week yyyy-Www")]
Dealer = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
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
    return WorkPlanOut(
        plan_id=plan.plan_id,
        dealer=plan.dealer,
        plan=plan.kind,
        period=plan.period,
        status=plan.status,
        stage=plan.stage,
        waiting_for=sorted(stage.positions) if stage else [],
        quota=plan.quota,
        line_count=plan.line_count,
        late=plan.late,
        due_by=plan.due_by,
        submitted_at=plan.submitted_at,
        approved_at=plan.approved_at,
        rejected_reason=_reason(plan.rejected_reason, principal),
        lines=[PlanLineOut.model_validate(line, from_attributes=True) for line in lines],
        steps=[
            PlanStepOut.model_validate(step, from_attributes=True).model_copy(
                update={"reason": _reason(step.reason, principal)}
            )
            for step in await plan_steps(session, plan.plan_id)
        ],
    )


async def _draft(request: Request, principal: Principal, dealer: str, kind: PlanKind, period: str) -> DraftOut:
    runtime = runtime_of(request)
    async with runtime.db.sessions() as session:
        await visible_dealer(session, principal, dealer)
        draft = await draft_plan(
            session, dealer=dealer, kind=kind, period=_period(kind, period), now=runtime.clock.now()
        )
    return DraftOut(
        dealer=draft.dealer,
        plan=draft.kind,
        period=draft.period,
        sales_plan=draft.sales_plan,
        quota=draft.quota,
        due_by=draft.due_by,
        lines=[PlanLineOut.model_validate(line, from_attributes=True) for line in draft.lines],
    )


async def _get(request: Request, principal: Principal, dealer: str, kind: PlanKind, period: str) -> WorkPlanOut:
    async with runtime_of(request).db.sessions() as session:
        await visible_dealer(session, principal, dealer)
        plan = await find_plan(session, dealer=dealer, kind=kind, period=_period(kind, period))
        if plan is None:
            raise NotFound("No such plan.")
        return await _plan_out(session, plan, principal)


async def _save(
    request: Request, principal: Principal, dealer: str, kind: PlanKind, period: str, body: PlanLinesIn
) -> WorkPlanOut:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        await visible_dealer(session, principal, dealer)
        await require_active_dealer(session, DEALERS, principal)
        plan = await save_plan(
            session,
            dealer=dealer,
            kind=kind,
            period=_period(kind, period),
            lines=[LineIn(**line.model_dump()) for line in body.lines],
            principal=principal,
            now=runtime.clock.now(),
        )
        return await _plan_out(session, plan, principal)


async def _submit(request: Request, principal: Principal, dealer: str, kind: PlanKind, period: str) -> WorkPlanOut:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        await visible_dealer(session, principal, dealer)
        await require_active_dealer(session, DEALERS, principal)
        plan = await submit_plan(
            session,
            runtime.outbox,
            dealer=dealer,
            kind=kind,
            period=_period(kind, period),
            principal=principal,
            now=runtime.clock.now(),
        )
        return await _plan_out(session, plan, principal)


async def _act(
    request: Request,
    principal: Principal,
    dealer: str,
    kind: PlanKind,
    period: str,
    action: Literal["review", "approve", "reject"],
    reason: str | None = None,
) -> WorkPlanOut:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        await visible_dealer(session, principal, dealer)
        await require_active_dealer(session, DEALERS, principal)
        plan = await act_on_plan(
            session,
            runtime.outbox,
            dealer=dealer,
            kind=kind,
            period=_period(kind, period),
            action=action,
            reason=reason,
            principal=principal,
            now=runtime.clock.now(),
            prefix=runtime.settings.topic_prefix,
        )
        return await _plan_out(session, plan, principal)


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


# ---- monthly callback plans ------------------------------------------------------------------------------------


@work_plans_router.get(
    "/{dealer}/{month}/callbacks/draft",
    response_model=DraftOut,
    summary="Next month's callback plan as the rules would draw it",
    responses=READ_PROBLEMS,
)
async def callback_draft(request: Request, principal: Caller, dealer: Dealer, month: Month) -> DraftOut:
    return await _draft(request, principal, dealer, "callback", month)


@work_plans_router.get(
    "/{dealer}/{month}/callbacks", response_model=WorkPlanOut, summary="The callback plan", responses=READ_PROBLEMS
)
async def callback_plan(request: Request, principal: Caller, dealer: Dealer, month: Month) -> WorkPlanOut:
    return await _get(request, principal, dealer, "callback", month)


@work_plans_router.put(
    "/{dealer}/{month}/callbacks",
    response_model=WorkPlanOut,
    summary="Save the callback plan's lines (the dealer's makers)",
    responses=WRITE_PROBLEMS,
)
async def put_callback_plan(
    request: Request, principal: Caller, dealer: Dealer, month: Month, body: PlanLinesIn
) -> WorkPlanOut:
    return await _save(request, principal, dealer, "callback", month, body)


@work_plans_router.post(
    "/{dealer}/{month}/callbacks/submit",
    response_model=WorkPlanOut,
    summary="Submit the callback plan (due by the 30th; late is flagged)",
    responses=WRITE_PROBLEMS,
)
async def submit_callback_plan(request: Request, principal: Caller, dealer: Dealer, month: Month) -> WorkPlanOut:
    return await _submit(request, principal, dealer, "callback", month)


@work_plans_router.post(
    "/{dealer}/{month}/callbacks/review",
    response_model=WorkPlanOut,
    summary="Review the callback plan at its stage",
    responses=WRITE_PROBLEMS,
)
async def review_callback_plan(request: Request, principal: Caller, dealer: Dealer, month: Month) -> WorkPlanOut:
    return await _act(request, principal, dealer, "callback", month, "review")


@work_plans_router.post(
    "/{dealer}/{month}/callbacks/approve",
    response_model=WorkPlanOut,
    summary="Approve the callback plan at its stage (the last approval plans the tasks)",
    responses=WRITE_PROBLEMS,
)
async def approve_callback_plan(request: Request, principal: Caller, dealer: Dealer, month: Month) -> WorkPlanOut:
    return await _act(request, principal, dealer, "callback", month, "approve")


@work_plans_router.post(
    "/{dealer}/{month}/callbacks/reject",
    response_model=WorkPlanOut,
    summary="Reject the callback plan with a reason (back to the makers)",
    responses=WRITE_PROBLEMS,
)
async def reject_callback_plan(
    request: Request, principal: Caller, dealer: Dealer, month: Month, body: RejectIn
) -> WorkPlanOut:
    return await _act(request, principal, dealer, "callback", month, "reject", body.reason)


# ---- weekly promotion plans ------------------------------------------------------------------------------------


@work_plans_router.get(
    "/{dealer}/weeks/{week}/promotions/draft",
    response_model=DraftOut,
    summary="Next week's promotion plan as the rules would draw it",
    responses=READ_PROBLEMS,
)
async def promotion_draft(request: Request, principal: Caller, dealer: Dealer, week: Week) -> DraftOut:
    return await _draft(request, principal, dealer, "promotion", week)


@work_plans_router.get(
    "/{dealer}/weeks/{week}/promotions",
    response_model=WorkPlanOut,
    summary="The promotion plan",
    responses=READ_PROBLEMS,
)
async def promotion_plan(request: Request, principal: Caller, dealer: Dealer, week: Week) -> WorkPlanOut:
    return await _get(request, principal, dealer, "promotion", week)


@work_plans_router.put(
    "/{dealer}/weeks/{week}/promotions",
    response_model=WorkPlanOut,
    summary="Save the promotion plan's lines (the dealer's makers)",
    responses=WRITE_PROBLEMS,
)
async def put_promotion_plan(
    request: Request, principal: Caller, dealer: Dealer, week: Week, body: PlanLinesIn
) -> WorkPlanOut:
    return await _save(request, principal, dealer, "promotion", week, body)


@work_plans_router.post(
    "/{dealer}/weeks/{week}/promotions/submit",
    response_model=WorkPlanOut,
    summary="Submit the promotion plan (due on the Friday before the week)",
    responses=WRITE_PROBLEMS,
)
async def submit_promotion_plan(request: Request, principal: Caller, dealer: Dealer, week: Week) -> WorkPlanOut:
    return await _submit(request, principal, dealer, "promotion", week)


@work_plans_router.post(
    "/{dealer}/weeks/{week}/promotions/review",
    response_model=WorkPlanOut,
    summary="Review the promotion plan at its stage",
    responses=WRITE_PROBLEMS,
)
async def review_promotion_plan(request: Request, principal: Caller, dealer: Dealer, week: Week) -> WorkPlanOut:
    return await _act(request, principal, dealer, "promotion", week, "review")


@work_plans_router.post(
    "/{dealer}/weeks/{week}/promotions/approve",
    response_model=WorkPlanOut,
    summary="Approve the promotion plan at its stage (the last approval plans the tasks)",
    responses=WRITE_PROBLEMS,
)
async def approve_promotion_plan(request: Request, principal: Caller, dealer: Dealer, week: Week) -> WorkPlanOut:
    return await _act(request, principal, dealer, "promotion", week, "approve")


@work_plans_router.post(
    "/{dealer}/weeks/{week}/promotions/reject",
    response_model=WorkPlanOut,
    summary="Reject the promotion plan with a reason (back to the makers)",
    responses=WRITE_PROBLEMS,
)
async def reject_promotion_plan(
    request: Request, principal: Caller, dealer: Dealer, week: Week, body: RejectIn
) -> WorkPlanOut:
    return await _act(request, principal, dealer, "promotion", week, "reject", body.reason)
