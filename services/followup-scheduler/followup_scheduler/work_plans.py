"""Monthly callback plans and weekly promotion plans (domain.md §4-5, contract.md "Plans"): drafted by the rules
(plan_drafts.py), saved and submitted by the dealer's makers, reviewed and approved along the chain the lines'
tiers call for (plan_approval.py), or rejected with a reason and resubmitted. Every step records who (`sub`) and
in which position. The SQL of the plan aggregate lives in `repository.work_plans`.

Decisions (policy/work_plans.toml says which are data):
- A plan is late when it was not submitted by the end of its deadline day (the 30th of the month before; the
  Friday before the week). The timer flags every active dealer's missing plan once when that day ends (on the 1st
  for a 30-day month) with `leadnet.plan.late`; a first submission after the deadline is recorded late too. A
  resubmission after a rejection is judged by the first submission.
- A plan under its quota cannot pass an approve stage (422 `plan_under_quota`); a promotion plan missing customers
  with demand within one month cannot either (422 `plan_misses_demand_customers`).
- Approved lines plan the customer's open task of the plan's kind (its planned date, position and method; the due
  time moves to the planned date while the task has not fired yet), or create one; tasks of the period that no
  approved line planned are counted unplanned by the roll-up (plan_rollup.py).
- The sales plan comes from `PUT /v1/plans/{dealer}/{yyyy-mm}` (plans.py, unchanged): no sales plan, quota 0.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from followup_scheduler.models import Task, WorkPlan, WorkPlanLine, WorkPlanStep
from followup_scheduler.plan_approval import (
    Stage,
    WorkPlansPolicy,
    chain_for,
    dealer_channel,
    dealer_region,
    next_stage,
    require_actor,
    require_maker,
    stage_named,
    work_plans_policy,
)
from followup_scheduler.plan_drafts import (
    Candidate,
    DraftLine,
    callback_plan_due_by,
    callback_quota,
    draft_callback_plan,
    draft_promotion_plan,
    month_days,
    promotion_plan_due_by,
    promotion_week_quota,
    staff_lookup,
    week_days,
)
from followup_scheduler.quotas import quotas_policy
from followup_scheduler.repository import work_plans as plan_rows
from followup_scheduler.repository.leads import dealers_open_leads, lead_of
from followup_scheduler.repository.plans import sales_plan_of
from followup_scheduler.repository.tasks import lock_dealers_open_tasks
from followup_scheduler.repository.timers import claim_reminder
from followup_scheduler.repository.work_plans import demand_customers, find_plan, plan_lines
from followup_scheduler.tasks import Actor, new_task, record_action, reschedule_task, schedule_task
from leadnet_shared.auth import Principal
from leadnet_shared.clock import SHANGHAI, business_date
from leadnet_shared.events import (
    DealerUpserted,
    PlanApproved,
    PlanEvent,
    PlanLate,
    PlanRejected,
    PlanReminder,
    PlanSubmitted,
)
from leadnet_shared.outbox import Outbox, Outgoing
from leadnet_shared.problems import Conflict, FieldProblem, NotFound, ValidationFailed
from leadnet_shared.redaction import redact_text
from leadnet_shared.visibility import dealer_own

PlanKind = Literal["callback", "promotion"]
EDITABLE = ("draft", "rejected")
# A planned task falls due at this Shanghai time of its planned date when the plan creates it.
PLANNED_LOCAL_TIME = time(10, 0)


@dataclass(frozen=True)
class LineIn:
    customer_id: str
    target_date: date
    position: str | None = None
    method: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Draft:
    dealer: str
    kind: PlanKind
    period: str
    sales_plan: int
    quota: int
    lines: list[DraftLine]

    @property
    def due_by(self) -> datetime:
        """Follows from the kind and period (the plan row stores it; a draft need not)."""
        return due_by_of(self.kind, self.period)


# ---- the dealer's place in the four levels, and who sees a dealer's plans ------------------------------------


async def record_dealer_units(session: AsyncSession, event: DealerUpserted) -> None:
    """The dealer's region and sales channel for the roll-up and for regional staff (latest upsert wins)."""
    await plan_rows.record_dealer_unit(
        session,
        dealer=event.code,
        region=dealer_region(event.territories),
        channel=dealer_channel(sorted(event.product_lines)),
        updated_at=event.updated_at,
    )


async def dealer_unit(session: AsyncSession, dealer: str) -> tuple[str | None, str]:
    unit = await plan_rows.dealer_unit(session, dealer)
    if unit is None:
        return None, work_plans_policy().default_channel
    return unit.region, unit.channel


async def visible_dealer(session: AsyncSession, principal: Principal, dealer: str) -> tuple[str | None, str]:
    """The dealer's (region, channel) if the caller may see its plans: a dealer its own, HQ all, HQ regional staff
    the dealers in their regions; otherwise 404 (never reveal that a plan exists)."""
    dealer_own(principal, dealer, what="plan")
    region, channel = await dealer_unit(session, dealer)
    if principal.is_regional and not principal.covers_region(region):
        raise NotFound("No such plan.")
    return region, channel


# ---- periods, quotas, candidates -----------------------------------------------------------------------------


def period_checked(kind: PlanKind, period: str) -> tuple[date, date]:
    """The first and last day of the plan's period (ValueError for a malformed one)."""
    return month_days(period) if kind == "callback" else week_days(period)


def due_by_of(kind: PlanKind, period: str) -> datetime:
    return callback_plan_due_by(period) if kind == "callback" else promotion_plan_due_by(period)


def _month_of(kind: PlanKind, period: str) -> str:
    if kind == "callback":
        return period
    monday, _ = week_days(period)
    thursday = monday + timedelta(days=3)
    return f"{thursday.year:04d}-{thursday.month:02d}"


async def _sales_plan(session: AsyncSession, *, dealer: str, kind: PlanKind, period: str) -> int:
    plan = await sales_plan_of(session, dealer=dealer, month=_month_of(kind, period))
    return plan.sales_plan if plan is not None else 0


async def candidates(session: AsyncSession, *, dealer: str, kind: str) -> list[Candidate]:
    """The dealer's customers with an open task of `kind` (one query on the dealer's open-task index)."""
    return [Candidate(**row) for row in await plan_rows.open_task_customers(session, dealer=dealer, kind=kind)]


async def quota_of(session: AsyncSession, *, dealer: str, kind: PlanKind, period: str) -> tuple[int, int]:
    """(sales plan, quota) of a plan."""
    sales = await _sales_plan(session, dealer=dealer, kind=kind, period=period)
    if kind == "callback":
        return sales, callback_quota(sales_plan=sales)
    floor = len(await demand_customers(session, dealer=dealer))
    return sales, promotion_week_quota(sales_plan=sales, week=period, demand_customers=floor)


async def draft_plan(session: AsyncSession, *, dealer: str, kind: PlanKind, period: str, now: datetime) -> Draft:
    """The plan as the rules would draw it at `now`."""
    sales, quota = await quota_of(session, dealer=dealer, kind=kind, period=period)
    if kind == "callback":
        lines = draft_callback_plan(
            await candidates(session, dealer=dealer, kind="callback"),
            month=period,
            quota=quota,
            as_of=business_date(now).date(),
        )
    else:
        lines = draft_promotion_plan(
            await candidates(session, dealer=dealer, kind="promotion"),
            await candidates(session, dealer=dealer, kind="callback"),
            week=period,
            quota=quota,
        )
    return Draft(dealer=dealer, kind=kind, period=period, sales_plan=sales, quota=quota, lines=lines)


# ---- the plan and its steps ----------------------------------------------------------------------------------


def _step(
    plan: WorkPlan,
    *,
    action: str,
    principal: Principal | None,
    now: datetime,
    stage: str | None = None,
    reason: str | None = None,
) -> WorkPlanStep:
    return WorkPlanStep(
        plan_id=plan.plan_id,
        action=action,
        stage=stage,
        sub=principal.sub if principal else None,
        role=principal.role if principal else None,
        position=principal.position if principal else None,
        reason=reason,
        at=now,
    )


def _new_plan(*, dealer: str, kind: PlanKind, period: str) -> WorkPlan:
    """A draft without a stage, not late (the columns' defaults); `save_plan` sets its quota, lines and editor."""
    due_by = due_by_of(kind, period)
    return WorkPlan(plan_id=str(uuid.uuid4()), dealer=dealer, kind=kind, period=period, status="draft", due_by=due_by)


async def save_plan(
    session: AsyncSession,
    *,
    dealer: str,
    kind: PlanKind,
    period: str,
    lines: Sequence[LineIn],
    principal: Principal,
    now: datetime,
) -> WorkPlan:
    """The makers save the plan's lines (a draft or a rejected plan); customers must be the dealer's."""
    require_maker(principal)
    first, last = period_checked(kind, period)
    leads = await dealers_open_leads(session, dealer=dealer, customers=[line.customer_id for line in lines])
    problems: list[FieldProblem] = []
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if line.customer_id in seen:
            problems.append(FieldProblem(f"/lines/{index}/customer_id", "duplicate_customer", "one line per customer"))
        seen.add(line.customer_id)
        if line.customer_id not in leads:
            problems.append(
                FieldProblem(f"/lines/{index}/customer_id", "not_found", "not an open customer of this dealer")
            )
        if not first <= line.target_date <= last:
            problems.append(
                FieldProblem(f"/lines/{index}/target_date", "out_of_period", f"must be from {first} to {last}")
            )
    if problems:
        raise ValidationFailed("The plan's lines have problems; see errors.", errors=problems)
    _, quota = await quota_of(session, dealer=dealer, kind=kind, period=period)
    plan = await find_plan(session, dealer=dealer, kind=kind, period=period, lock=True)
    if plan is None:
        plan = _new_plan(dealer=dealer, kind=kind, period=period)
        session.add(plan)
    elif plan.status not in EDITABLE:
        raise Conflict(
            f"The plan is {plan.status}; only a draft or a rejected plan is edited.", code="plan_not_editable"
        )
    plan.quota, plan.line_count = quota, len(lines)
    plan.updated_at, plan.updated_by, plan.updated_position = now, principal.sub, principal.position
    await session.flush()
    rows = []
    staff = staff_lookup(kind)
    for number, line in enumerate(lines):
        lead = leads[line.customer_id]
        who = staff(lead.nature, lead.tier, lead.horizon)
        rows.append(
            WorkPlanLine(
                plan_id=plan.plan_id,
                line_no=number,
                customer_id=line.customer_id,
                lead_id=lead.lead_id,
                tier=lead.tier,
                reason=line.reason or "dealer",
                target_date=line.target_date,
                position=line.position or who.position,
                method=line.method or who.method,
            )
        )
    await plan_rows.replace_lines(session, plan.plan_id, rows)
    session.add(_step(plan, action="saved", principal=principal, now=now))
    await session.flush()
    return plan


async def _event(
    session: AsyncSession,
    plan: WorkPlan,
    model: type[PlanEvent],
    *,
    principal: Principal | None,
    now: datetime,
    stage: str | None = None,
    **extra: Any,
) -> Outgoing:
    region, channel = await dealer_unit(session, plan.dealer)
    tiers = await plan_rows.line_tiers(session, plan.plan_id)
    data = model(
        **{name: getattr(plan, name) for name in ("plan_id", "dealer", "period", "status", "quota", "late", "due_by")},
        region=region,
        channel=channel,
        plan=plan.kind,
        stage=stage if stage is not None else plan.stage,
        lines=plan.line_count,
        lines_by_tier=dict(sorted(tiers.items())),
        acted_by_role=principal.role if principal else None,
        acted_by_position=principal.position if principal else None,
        occurred_at=now,
        **extra,
    )
    return Outgoing(data, key=plan.dealer, subject=plan.dealer)


async def _plan_for_action(session: AsyncSession, *, dealer: str, kind: PlanKind, period: str) -> WorkPlan:
    plan = await find_plan(session, dealer=dealer, kind=kind, period=period, lock=True)
    if plan is None:
        raise NotFound("No such plan.")
    return plan


async def submit_plan(
    session: AsyncSession,
    outbox: Outbox,
    *,
    dealer: str,
    kind: PlanKind,
    period: str,
    principal: Principal,
    now: datetime,
) -> WorkPlan:
    """The makers submit the plan (報批): it waits at the chain's first stage; after the deadline it is late."""
    require_maker(principal)
    plan = await _plan_for_action(session, dealer=dealer, kind=kind, period=period)
    if plan.status not in EDITABLE:
        raise Conflict(
            f"The plan is {plan.status}; only a draft or a rejected plan is submitted.", code="plan_not_editable"
        )
    chain = chain_for(await plan_rows.line_tiers(session, plan.plan_id))
    first = next_stage(chain, None)
    assert first is not None  # the policy parser guarantees every tier's chain ends with an approve stage
    events = []
    if plan.submitted_at is None:
        plan.submitted_at = now
        if now >= plan.due_by and work_plans_policy().flag_late:
            plan.late = True
            if plan.late_flagged_at is None:  # else the timer flagged it already (step and event once)
                plan.late_flagged_at = now
                session.add(_step(plan, action="late", principal=None, now=now))
                events.append(await _event(session, plan, PlanLate, principal=None, now=now))
    plan.status, plan.stage, plan.rejected_reason = "submitted", first.name, None
    plan.updated_at, plan.updated_by, plan.updated_position = now, principal.sub, principal.position
    session.add(_step(plan, action="submitted", principal=principal, now=now, stage=first.name))
    await session.flush()
    events.append(await _event(session, plan, PlanSubmitted, principal=principal, now=now))
    await outbox.publish_many(session, events, time=now)
    return plan


async def act_on_plan(
    session: AsyncSession,
    outbox: Outbox,
    *,
    dealer: str,
    kind: PlanKind,
    period: str,
    action: Literal["review", "approve", "reject"],
    reason: str | None,
    principal: Principal,
    now: datetime,
) -> WorkPlan:
    """Review, approve or reject at the stage the plan waits at, as one of that stage's positions."""
    plan = await _plan_for_action(session, dealer=dealer, kind=kind, period=period)
    if plan.status != "submitted":
        raise Conflict(f"The plan is {plan.status}; only a submitted plan is reviewed.", code="plan_not_submitted")
    chain = chain_for(await plan_rows.line_tiers(session, plan.plan_id))
    stage = stage_named(chain, plan.stage)
    if stage is None:  # the policy changed under a waiting plan: it waits at the first stage of its chain
        stage = chain[0]
    require_actor(principal, stage)
    if action == "reject":
        plan.status, plan.rejected_reason, plan.stage = "rejected", reason, None
        session.add(_step(plan, action="rejected", principal=principal, now=now, stage=stage.name, reason=reason))
        await session.flush()
        event = await _event(
            session,
            plan,
            PlanRejected,
            principal=principal,
            now=now,
            stage=stage.name,
            reason=redact_text(reason or ""),
        )
        await outbox.publish_many(session, [event], time=now)
        return plan
    if action != stage.action:
        raise Conflict(
            f"The plan waits at stage {stage.name}, which is passed by {stage.action}, not {action}.",
            code="plan_wrong_stage",
        )
    if action == "approve":
        await _check_quota(session, plan)
    following = next_stage(chain, stage.name)
    session.add(
        _step(
            plan,
            action="reviewed" if action == "review" else "approved",
            principal=principal,
            now=now,
            stage=stage.name,
        )
    )
    if following is not None:
        plan.stage = following.name
        await session.flush()
        return plan
    plan.status, plan.stage, plan.approved_at = "approved", None, now
    await session.flush()
    await apply_approved_lines(session, outbox, plan=plan, principal=principal, now=now)
    event = await _event(session, plan, PlanApproved, principal=principal, now=now, stage=stage.name)
    await outbox.publish_many(session, [event], time=now)
    return plan


async def _check_quota(session: AsyncSession, plan: WorkPlan) -> None:
    """A plan under quota is not approved (domain.md §4-5: ≥ 3-5 x / 2-4 x the sales plan; every customer with
    demand within one month in the promotion plan)."""
    kind: PlanKind = "callback" if plan.kind == "callback" else "promotion"
    _, plan.quota = await quota_of(session, dealer=plan.dealer, kind=kind, period=plan.period)
    if plan.line_count < plan.quota:
        raise ValidationFailed(
            f"The plan has {plan.line_count} lines, under its quota of {plan.quota}.",
            code="plan_under_quota",
            extra={"quota": plan.quota, "lines": plan.line_count},
        )
    if kind == "promotion":
        planned = {line.customer_id for line in await plan_lines(session, plan.plan_id)}
        missing = await demand_customers(session, dealer=plan.dealer) - planned
        if missing:
            raise ValidationFailed(
                f"{len(missing)} customers with demand within one month are not in the plan.",
                code="plan_misses_demand_customers",
                extra={"missing": len(missing)},
            )


def _planned_due(target: date, *, old: datetime | None) -> datetime:
    clock = old.astimezone(SHANGHAI).timetz().replace(tzinfo=None) if old is not None else PLANNED_LOCAL_TIME
    return datetime.combine(target, clock, tzinfo=SHANGHAI).astimezone(UTC)


async def apply_approved_lines(
    session: AsyncSession, outbox: Outbox, *, plan: WorkPlan, principal: Principal, now: datetime
) -> None:
    """Each approved line plans its customer's open task of the plan's kind, or creates one (the function the
    approval applies to tasks): the planned date, position and method. A task that has not fired yet and whose
    planned date moves it is rescheduled (tasks.reschedule_task: timers re-armed, the approver recorded,
    `task.scheduled`); a task already due keeps its due time (a plan does not excuse a late callback)."""
    lines = await plan_lines(session, plan.plan_id)
    if not lines:
        return
    open_tasks = await lock_dealers_open_tasks(
        session, dealer=plan.dealer, kind=plan.kind, customers=[line.customer_id for line in lines]
    )
    task_of: dict[str, Task] = {}
    for open_task in open_tasks:
        task_of.setdefault(open_task.customer_id, open_task)
    actor = Actor.of(principal)
    for line in lines:
        found = task_of.get(line.customer_id)
        if found is None:
            lead = await lead_of(session, line.lead_id)
            if lead is None:
                continue
            due = max(_planned_due(line.target_date, old=None), now)
            task = new_task(
                lead=lead, planned=None, kind=plan.kind, due_at=due, reason="plan", now=now, dealer=plan.dealer
            )
            await schedule_task(session, outbox, task, lead=lead, now=now)
            await record_action(
                session, task=task, action="created", actor=actor, now=now, detail={"plan": plan.plan_id}
            )
        else:
            task = found
            due = _planned_due(line.target_date, old=task.due_at)
            if task.status == "open" and task.fired_at is None and due > now and due != task.due_at:
                await reschedule_task(
                    session,
                    outbox,
                    task=task,
                    due_at=due,
                    actor=actor,
                    now=now,
                    position=line.position,
                    method=line.method,
                )
        task.plan_id, task.planned_for = plan.plan_id, line.target_date
        task.position, task.method = line.position, line.method
        line.task_id = task.task_id
    await session.flush()


# ---- timers: late plans, reminders to the positions that must act ---------------------------------------------


def _open_periods(now: datetime) -> list[tuple[PlanKind, str]]:
    """The plans whose deadline may have just passed: this and next month's callback plans, this and next week's
    promotion plans."""
    today = business_date(now).date()
    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    periods: list[tuple[PlanKind, str]] = [
        ("callback", f"{today.year:04d}-{today.month:02d}"),
        ("callback", f"{next_month.year:04d}-{next_month.month:02d}"),
    ]
    for day in (today, today + timedelta(days=7)):
        iso = day.isocalendar()
        periods.append(("promotion", f"{iso.year:04d}-W{iso.week:02d}"))
    return periods


async def flag_late_plans(session: AsyncSession, outbox: Outbox, *, now: datetime) -> int:
    """Every active dealer's plan not submitted when its deadline day ended is flagged late, once (the row's
    `late_flagged_at` makes it once across replicas), with `leadnet.plan.late`."""
    if not work_plans_policy().flag_late:
        return 0
    events: list[Outgoing] = []
    for kind, period in _open_periods(now):
        due_by = due_by_of(kind, period)
        if due_by > now:
            continue
        for plan_id in await plan_rows.flag_late_plans(session, kind=kind, period=period, due_by=due_by, now=now):
            plan = await plan_rows.plan_by_id(session, plan_id)
            assert plan is not None
            session.add(_step(plan, action="late", principal=None, now=now))
            events.append(await _event(session, plan, PlanLate, principal=None, now=now))
    await outbox.publish_many(session, events, time=now)
    return len(events)


async def send_approval_reminders(session: AsyncSession, outbox: Outbox, *, now: datetime) -> int:
    """Submitted plans waiting at a stage shortly before their period starts: the stage's positions are reminded
    (`leadnet.plan.reminder` with `positions` and `stage`), once per plan and reminder day."""
    rules: WorkPlansPolicy = work_plans_policy()
    at_time = quotas_policy().callback_deadline.reminder_local_time
    events: list[Outgoing] = []
    for kind, period in _open_periods(now):
        first, _ = period_checked(kind, period)
        waiting = await plan_rows.submitted_plans(session, kind=kind, period=period)
        for days_before in rules.approval_reminder_days_before:
            remind_at = datetime.combine(first - timedelta(days=days_before), at_time, tzinfo=SHANGHAI).astimezone(UTC)
            start = datetime.combine(first, time(0), tzinfo=SHANGHAI).astimezone(UTC)
            if not remind_at <= now < start:
                continue
            for plan in waiting:
                stage: Stage | None = stage_named(
                    chain_for(await plan_rows.line_tiers(session, plan.plan_id)), plan.stage
                )
                if stage is None:
                    continue
                event_id = await claim_reminder(
                    session,
                    dealer=plan.dealer,
                    plan=f"{kind}_approval",
                    period=period,
                    days_before=days_before,
                    now=now,
                )
                if event_id is None:
                    continue
                data = PlanReminder(
                    dealer=plan.dealer,
                    plan=kind,
                    period=period,
                    deadline_day=first - timedelta(days=1),
                    due_by=start,
                    days_before=days_before,
                    remind_at=remind_at,
                    occurred_at=now,
                    positions=sorted(stage.positions),
                    stage=stage.name,
                )
                events.append(Outgoing(data, key=plan.dealer, subject=plan.dealer, event_id=event_id))
    await outbox.publish_many(session, events, time=now)
    return len(events)


async def plan_timers(session: AsyncSession, outbox: Outbox, *, now: datetime) -> int:
    """The plans' timer step (firing.py runs it with the plan reminders)."""
    return await flag_late_plans(session, outbox, now=now) + await send_approval_reminders(session, outbox, now=now)
