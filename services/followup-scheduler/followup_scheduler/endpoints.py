"""followup-scheduler HTTP API (`/v1/tasks`, `/v1/plans`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import ORJSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from followup_scheduler.models import DEALERS, TASK_IDEMPOTENCY_KEYS, Plan, Task
from followup_scheduler.plans import plan_report
from followup_scheduler.recheck import RECHECK, check_completion, complete_recheck
from followup_scheduler.repository.leads import lead_of
from followup_scheduler.repository.plans import sales_plan_of
from followup_scheduler.repository.tasks import page_of_tasks, task_actions, task_of
from followup_scheduler.schemas import (
    CompleteIn,
    CompleteOut,
    ListedTaskKind,
    PlanIn,
    PlanOut,
    TaskActionOut,
    TaskIn,
    TaskOut,
    TaskPage,
)
from followup_scheduler.tasks import (
    Actor,
    complete_task,
    new_task,
    public_content,
    record_action,
    schedule_task,
)
from followup_scheduler.visibility import LEADS, TASKS, in_regions, own_plan, tasks_condition
from leadnet_shared.app import runtime_of
from leadnet_shared.auth import DEALER_POSITIONS, Position, Principal, bearer_principal, require_roles
from leadnet_shared.dealer_directory import require_active_dealer
from leadnet_shared.idempotency import Answer, IdempotencyKeyHeader, IdempotencyKeys
from leadnet_shared.pagination import PageParams
from leadnet_shared.problems import (
    Conflict,
    DealerNotActive,
    FieldProblem,
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    ValidationFailed,
    problem_responses,
)

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])
plans_router = APIRouter(prefix="/v1/plans", tags=["plans"])
TASK_KEYS = IdempotencyKeys(TASK_IDEMPOTENCY_KEYS, route="tasks", dealers=DEALERS)
TaskStatus = Literal["open", "done", "overdue", "cancelled"]
Caller = Annotated[Principal, Depends(bearer_principal)]


# What a task's answer copies from its row as it is (same names); content is shown redacted, actions on request.
TASK_OUT_FIELDS = tuple(name for name in TaskOut.model_fields if name not in ("content", "accompany", "actions"))


def task_out(t: Task) -> TaskOut:
    copied = {name: getattr(t, name) for name in TASK_OUT_FIELDS}
    return TaskOut(**copied, content=_shown(t.content), accompany=list(t.accompany or []))


async def task_with_actions(session: AsyncSession, task: Task) -> TaskOut:
    shown = task_out(task)
    shown.actions = [
        TaskActionOut(action=a.action, by=a.actor, position=a.actor_position, at=a.acted_at, detail=a.detail)
        for a in await task_actions(session, task_id=task.task_id)
    ]
    return shown


def _shown(content: dict[str, Any] | None) -> dict[str, Any] | None:
    """A task's content as every reader sees it (HQ's analyst too): redacted like the public event."""
    shown = public_content(content)
    return shown.model_dump(mode="json", exclude_unset=True) if shown else None


MANUAL_DUE_GRACE = timedelta(minutes=5)
MANUAL_DUE_HORIZON = timedelta(days=366)


@router.post(
    "",
    status_code=201,
    response_model=TaskOut,
    summary="Plan a task by hand",
    responses=problem_responses(Forbidden, DealerNotActive, NotFound, IdempotencyKeyReused, ValidationFailed),
)
async def create_task(
    body: TaskIn, request: Request, principal: Caller, idempotency_key: IdempotencyKeyHeader = None
) -> ORJSONResponse:
    require_roles(principal, "dealer", "hq_admin")
    runtime = runtime_of(request)
    now = runtime.clock.now()
    # A task due in the past is overdue at birth (escalations, inflated "done" counts); one years ahead is no plan.
    if not now - MANUAL_DUE_GRACE <= body.due_at <= now + MANUAL_DUE_HORIZON:
        raise ValidationFailed(
            "The request has field problems; see errors.",
            errors=[
                FieldProblem(
                    "/due_at",
                    "out_of_range",
                    f"must be between now and {MANUAL_DUE_HORIZON.days} days ahead (5 minutes of clock skew allowed)",
                )
            ],
        )

    async def plan(session: AsyncSession) -> Answer:
        lead = LEADS.visible(principal, await lead_of(session, body.lead_id))
        at = runtime.clock.now()
        task = new_task(lead=lead, planned=None, kind=body.kind, due_at=body.due_at, reason="manual", now=at)
        await schedule_task(session, runtime.outbox, task, lead=lead, now=at)
        await record_action(session, task=task, action="created", actor=Actor.of(principal), now=runtime.clock.now())
        return Answer(201, task_out(task).model_dump(mode="json"))

    return await TASK_KEYS.create_once(runtime.db, principal, idempotency_key, body, plan)


@router.get("", response_model=TaskPage, summary="The caller's tasks, earliest due first")
async def list_tasks(
    request: Request,
    principal: Caller,
    status: TaskStatus | None = None,
    due_before: datetime | None = None,
    dealer: str | None = None,
    kind: ListedTaskKind | None = None,
    position: Annotated[
        Position | None,
        Query(
            description="A position's work list: a dealer position lists the tasks it works (the staff matrix); "
            "an HQ position the tasks it accompanies (參陪人)."
        ),
    ] = None,
    page: Annotated[PageParams, Depends()] = PageParams(),
) -> TaskPage:
    """The seed's order (domain.md §4 "Order and timing"): earliest due first, since the timing tables already put
    customers with demand, reachable customers and big customers earlier; among tasks due at the same instant:
    demand, then reachable, then big customers (gold/silver, general big, retail), then the task id."""
    works = position in DEALER_POSITIONS
    async with runtime_of(request).db.sessions() as session:
        found = await page_of_tasks(
            session,
            page,
            visible=tasks_condition(principal),
            dealer=dealer,
            status=status,
            due_before=due_before,
            kind=kind,
            works=position if works else None,
            accompanies=None if works else position,
        )
    return TaskPage(items=[task_out(t) for t in found.rows], next_cursor=found.next_cursor, total=found.total)


@router.get("/{task_id}", response_model=TaskOut)
async def get_task(task_id: str, request: Request, principal: Caller) -> TaskOut:
    async with runtime_of(request).db.sessions() as session:
        task = TASKS.visible(principal, await task_of(session, task_id))
        # Only HQ regional staff need the lead's region: everyone else's reach is TASKS' alone.
        if principal.is_regional and not in_regions(principal, await lead_of(session, task.lead_id)):
            raise NotFound("No such task.")  # outside a regional caller's regions: not there for it
        return await task_with_actions(session, task)


@router.post(
    "/{task_id}/complete",
    response_model=CompleteOut,
    summary="Report a task's outcome (a recheck: confirmed or invalid, with corrections)",
    responses=problem_responses(Forbidden, DealerNotActive, NotFound, Conflict, ValidationFailed),
)
async def complete(task_id: str, body: CompleteIn, request: Request, principal: Caller) -> CompleteOut:
    require_roles(principal, "dealer", "hq_admin")
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        await require_active_dealer(session, DEALERS, principal)
        task = TASKS.visible(principal, await task_of(session, task_id, lock=True))
        now = runtime.clock.now()
        check_completion(task=task, outcome=body.outcome, corrections=body.corrections)
        check_action_at(task=task, action_at=body.action_at, now=now)
        if task.kind == RECHECK:
            by = principal.dealer or principal.caller_key
            rechecked = await complete_recheck(
                session, runtime.outbox, task=task, report=body, by=by, now=now, actor=Actor.of(principal)
            )
            return CompleteOut(task=await task_with_actions(session, rechecked), next_task=None)
        done, follow_up = await complete_task(
            session,
            runtime.outbox,
            task=task,
            outcome=body.outcome,
            info_verified=body.info_verified,
            notes=body.notes,
            content=body.content.model_dump(mode="json", exclude_unset=True) if body.content else None,
            now=now,
            actor=Actor.of(principal),
            action_at=body.action_at,
        )
        shown = await task_with_actions(session, done)
    return CompleteOut(task=shown, next_task=task_out(follow_up) if follow_up else None)


# A promotion's action is reported after it happened: a little clock skew, and no further back than a year.
ACTION_SKEW = timedelta(minutes=5)
ACTION_LOOKBACK = timedelta(days=366)


def check_action_at(*, task: Task, action_at: datetime | None, now: datetime) -> None:
    """`action_at` completes a promotion only, and names a moment that has passed."""
    if action_at is None:
        return
    problem = None
    if task.kind != "promotion":
        problem = FieldProblem("/action_at", "not_allowed", "only a promotion's completion reports its action's time")
    elif not now - ACTION_LOOKBACK <= action_at <= now + ACTION_SKEW:
        problem = FieldProblem(
            "/action_at", "out_of_range", f"must be in the past {ACTION_LOOKBACK.days} days (not in the future)"
        )
    if problem is not None:
        raise ValidationFailed("The request has field problems; see errors.", errors=[problem])


# Years 1900-2199: any four digits passed the old pattern, and year 0000 or 9999-12 then failed the month's bounds
# with a 500 (found by schemathesis).
Month = Annotated[str, Path(pattern=r"^(19|20|21)\d{2}-(0[1-9]|1[0-2])$", description="yyyy-mm, Asia/Shanghai")]


@plans_router.put(
    "/{dealer}/{month}",
    response_model=PlanOut,
    summary="Set a dealer's monthly sales plan",
    responses=problem_responses(Forbidden, DealerNotActive, NotFound, ValidationFailed),
)
async def put_plan(dealer: str, month: Month, body: PlanIn, request: Request, principal: Caller) -> PlanOut:
    require_roles(principal, "dealer", "hq_admin")
    own_plan(principal, dealer)
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        await require_active_dealer(session, DEALERS, principal)
        plan = await sales_plan_of(session, dealer=dealer, month=month, lock=True)
        if plan is None:
            plan = Plan(dealer=dealer, month=month)
            session.add(plan)
        plan.sales_plan = body.sales_plan
        plan.callbacks_planned = body.callbacks_planned
        plan.promotions_planned = body.promotions_planned
        plan.updated_at = runtime.clock.now()
        plan.updated_by = principal.caller_key
        await session.flush()
        return await plan_report(session, plan=plan)


@plans_router.get("/{dealer}/{month}", response_model=PlanOut, summary="Quotas against what is planned and done")
async def get_plan(dealer: str, month: Month, request: Request, principal: Caller) -> PlanOut:
    own_plan(principal, dealer)
    async with runtime_of(request).db.sessions() as session:
        plan = await sales_plan_of(session, dealer=dealer, month=month)
        if plan is None:
            raise NotFound("No plan for this dealer and month.")
        return await plan_report(session, plan=plan)
