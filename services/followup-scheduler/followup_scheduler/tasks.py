"""Tasks: planning them from routed leads and outcomes, moving them, completing them, reminding of plans.

Their statements are in `repository.tasks`; the timers that fire them on time once (one set-based claim per batch
that also writes the events) in `repository.timers`, run by firing.py.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from followup_scheduler.business_calendar import default_calendar
from followup_scheduler.deadlines import promotion_result_due_at, task_deadlines
from followup_scheduler.models import FollowedLead, Task, TaskAction
from followup_scheduler.ordering import has_demand, tie_break_rank
from followup_scheduler.outcomes import next_step_after_outcome, outcomes_policy
from followup_scheduler.plan_approval import work_plans_policy
from followup_scheduler.quotas import PlanKind, due_plan_reminders
from followup_scheduler.relationship_maintenance import repurchase_reminder
from followup_scheduler.repository import leads as lead_rows
from followup_scheduler.repository import tasks as task_rows
from followup_scheduler.repository.sales import latest_sale_sold_at
from followup_scheduler.repository.tasks import OPEN_STATES, open_task_of_customer
from followup_scheduler.repository.timers import claim_plan_reminders
from followup_scheduler.repository.timers import next_due_at as next_due_at  # bench/scheduler_bench.py
from followup_scheduler.repository.timers import timer_event_id as timer_event_id  # tests import it from here
from followup_scheduler.sale_followup import SALE_REPORT, sale_already_known, sale_followup_policy, sale_report_task
from followup_scheduler.staffing import assignment_for, is_staffed, staffing_policy
from followup_scheduler.timing import PlannedTask, first_task_for_lead
from followup_scheduler.vocabulary import NATURES
from leadnet_shared.auth import Principal
from leadnet_shared.events import (
    CallbackContent,
    CustomerErased,
    EventData,
    LeadClosed,
    LeadFacts,
    LeadVerified,
    PlanReminder,
    TaskCompleted,
    TaskEvent,
    TaskScheduled,
)
from leadnet_shared.outbox import Outbox, Outgoing
from leadnet_shared.problems import Conflict
from leadnet_shared.redaction import redact_text

T = TypeVar("T", bound=TaskEvent)


# What a task event copies from the task row and from its lead row (same names there and in `TaskEvent`).
TASK_EVENT_FIELDS: tuple[str, ...] = ("task_id", "lead_id", "customer_id", "dealer", "kind", "due_at", "status")
TASK_EVENT_FIELDS += ("reason", "outcome", "position", "method", "escalate_at")
TASK_EVENT_LEAD_FACTS = ("region_code", "product_line", "horizon", "entered_by")


def task_event(task: Task, *, lead: FollowedLead | None, event: type[T], occurred_at: datetime) -> T:
    """A task event: the task, who works it and how, and the facts of its record (`lead`, the task's lead row,
    None only if the scheduler never knew it) a dashboard groups by. The timers build the same payload in SQL
    (`repository.timers`): both read the record's facts from the lead row, the tier falling back to the task's."""
    return event(
        **{name: getattr(task, name) for name in TASK_EVENT_FIELDS},
        **{name: getattr(lead, name) if lead else None for name in TASK_EVENT_LEAD_FACTS},
        tier=lead.tier if lead else task.tier,
        accompany=list(task.accompany or []),
        occurred_at=occurred_at,
    )


def tie_break(lead: FollowedLead) -> int:
    return tie_break_rank(
        has_demand=has_demand(horizon=lead.horizon),
        reachable=lead.unreachable_streak == 0,
        tier=lead.tier,  # type: ignore[arg-type]
    )


def new_task(
    *,
    lead: FollowedLead,
    planned: PlannedTask | None,
    kind: str | None = None,
    due_at: datetime | None = None,
    reason: str | None = None,
    now: datetime,
    dealer: str | None = None,
) -> Task:
    """A task of `lead`, from the timing tables (`planned`) or by hand, with its overdue and escalation deadlines;
    the lead's assigned dealer's unless `dealer` says whose (maintenance after a sale: the buying dealer's)."""
    due = planned.due_at if planned else due_at
    if due is None:
        raise ValueError("a task needs a due time")
    deadlines = task_deadlines(due_at=due)
    return Task(
        task_id=str(uuid.uuid4()),
        lead_id=lead.lead_id,
        customer_id=lead.customer_id,
        dealer=dealer or lead.assigned_dealer,
        kind=planned.kind if planned else kind,
        due_at=due,
        overdue_at=deadlines.overdue_at,
        escalate_at=deadlines.escalate_at,
        status="open",
        reason=(planned.reason if planned else reason) or "manual",
        policy_version=planned.policy_version if planned else None,
        tier=lead.tier,
        tie_break=tie_break(lead),
        unreachable_streak=lead.unreachable_streak,
        planned_at=now,
        **staffing_of(kind=planned.kind if planned else kind, lead=lead),
    )


def staffing_of(*, kind: str | None, lead: FollowedLead) -> dict[str, Any]:
    """The task's position, method and accompanying HQ positions from the staff and method matrices (staffing.py),
    for the customer's nature and tier and the record's purchase horizon; none for kinds the matrices do not staff.
    A nature the matrices do not know (an older record) reads as `new`, the contract's default."""
    rules = staffing_policy()
    if kind is None or not is_staffed(kind, policy=rules):
        return {"position": None, "method": None, "accompany": None}
    nature = lead.nature if lead.nature in NATURES else "new"
    got = assignment_for(kind=kind, nature=nature, tier=lead.tier, horizon=lead.horizon, policy=rules)
    return {"position": got.position, "method": got.method, "accompany": list(got.accompany)}


def restaff(task: Task, lead: FollowedLead) -> None:
    """The task's position, method and accompanying positions as the matrices give them for the record now."""
    for name, value in staffing_of(kind=task.kind, lead=lead).items():
        setattr(task, name, value)


def require_open(task: Task, *, to: str) -> None:
    """Only an open or overdue task can be `to` (completed, rescheduled): 409 `task_not_open` otherwise."""
    if task.status not in OPEN_STATES:
        raise Conflict(f"The task is {task.status}; only open or overdue tasks can be {to}.", code="task_not_open")


def task_outgoing(task: Task, *, lead: FollowedLead | None, event: type[TaskEvent], now: datetime) -> Outgoing:
    """A task event for `outbox.publish_many`, keyed and subjected by the task's customer."""
    data = task_event(task, lead=lead, event=event, occurred_at=now)
    return Outgoing(data, key=task.customer_id, subject=task.customer_id)


async def publish(session: AsyncSession, outbox: Outbox, event: EventData, *, key: str, now: datetime) -> None:
    """Publish an event keyed and subjected by `key` (a task's or lead's customer, as contract.md keys them, so one
    customer's lead and task events stay in order)."""
    await outbox.publish(session, event, key=key, subject=key, time=now)


async def schedule_tasks(
    session: AsyncSession, outbox: Outbox, planned: list[tuple[Task, FollowedLead]], *, now: datetime
) -> list[Task]:
    """Add tasks built by `new_task` (each with its lead) and publish their `task.scheduled`: one insert of the
    tasks, one of their events."""
    if planned:
        session.add_all([task for task, _ in planned])
        await session.flush()
        events = [task_outgoing(task, lead=lead, event=TaskScheduled, now=now) for task, lead in planned]
        await outbox.publish_many(session, events, time=now)
    return [task for task, _ in planned]


async def schedule_task(
    session: AsyncSession, outbox: Outbox, task: Task, *, lead: FollowedLead, now: datetime
) -> Task:
    """`schedule_tasks` for one task."""
    return (await schedule_tasks(session, outbox, [(task, lead)], now=now))[0]


async def reschedule_task(
    session: AsyncSession,
    outbox: Outbox,
    *,
    task: Task,
    due_at: datetime,
    actor: Actor,
    now: datetime,
    position: str | None = None,
    method: str | None = None,
    reason: str | None = None,
) -> Task:
    """Move an open or overdue task to `due_at` (an approved plan line's date, or a person's decision): its
    deadlines follow, its timers re-arm (a new `task.due` at the new time, with a new id), its position and method
    are the matrices' for the record as it is now unless given, the person is recorded, and `task.scheduled` says
    where it went. The caller holds the task's row lock."""
    require_open(task, to="rescheduled")
    lead = await lead_rows.lead_of(session, task.lead_id)
    previous = task.due_at
    deadlines = task_deadlines(due_at=due_at)
    task.due_at, task.overdue_at, task.escalate_at = due_at, deadlines.overdue_at, deadlines.escalate_at
    task.status, task.fired_at, task.overdue_fired_at, task.escalated_at = "open", None, None, None
    task.reschedules = (task.reschedules or 0) + 1
    if lead is not None:
        restaff(task, lead)
    if position is not None:
        task.position = position
    if method is not None:
        task.method = method
    if reason is not None:
        task.reason = reason
    detail = {"from": previous.isoformat(), "to": due_at.isoformat(), "position": task.position, "method": task.method}
    await record_action(session, task=task, action="rescheduled", actor=actor, now=now, detail=detail)
    await session.flush()
    scheduled = task_event(task, lead=lead, event=TaskScheduled, occurred_at=now)
    await publish(session, outbox, scheduled, key=task.customer_id, now=now)
    return task


async def restaff_open_tasks(session: AsyncSession, *, after: str, limit: int = 1000) -> str | None:
    """Give open callbacks and promotions planned before the matrices existed their position and method, `limit`
    at a time in task id order from `after`; the last id done, or None once none is left. Nothing is published:
    the tasks are what they were, now with the matrices' answer (and in their position's work list)."""
    rows = await task_rows.unstaffed_open_tasks(session, after=after, kinds=staffing_policy().kinds, limit=limit)
    for task, lead in rows:
        restaff(task, lead)
    return rows[-1][0].task_id if len(rows) == limit else None


def _first_planned(lead: FollowedLead) -> PlannedTask:
    return first_task_for_lead(
        tier=lead.tier,  # type: ignore[arg-type]
        horizon=lead.horizon,
        routed_at=lead.routed_at,
        calendar=default_calendar(),
    )


async def plan_first_tasks(
    session: AsyncSession, outbox: Outbox, *, leads: list[FollowedLead], now: datetime
) -> list[Task]:
    """The first task of each routed lead by its purchase horizon (none: "not yet reached"), from the routing time;
    none while a lead waits in the HQ queue (HQ plans by hand)."""
    planned = [
        (new_task(lead=lead, planned=_first_planned(lead), now=now), lead)
        for lead in leads
        if lead.assigned_dealer is not None
    ]
    return await schedule_tasks(session, outbox, planned, now=now)


# ---- plan reminders ----------------------------------------------------------------------------------------

PLAN_KINDS: tuple[PlanKind, ...] = ("callback", "promotion")


async def send_plan_reminders(session: AsyncSession, outbox: Outbox, *, now: datetime) -> int:
    """Remind every active dealer of the plan deadlines whose reminder time has come; each reminder once.

    Once per (dealer, plan, period, days before the deadline): the row in `plan_reminders` is the proof, so
    replicas racing on the same reminder send one. A dealer that already filed next month's callback counts
    (`PUT /v1/plans`) is not reminded of that plan.
    """
    events = []
    makers = sorted(work_plans_policy().makers)
    for plan in PLAN_KINDS:
        for reminder in due_plan_reminders(plan=plan, now=now):
            deadline = reminder.deadline
            claimed = await claim_plan_reminders(
                session, plan=plan, period=deadline.period, days_before=reminder.days_before, now=now
            )
            for dealer, event_id in claimed:
                # `positions`: who must act before the deadline (work_plans.toml)
                data = PlanReminder(**reminder.timetable(), dealer=dealer, occurred_at=now, positions=makers)
                events.append(Outgoing(data, key=dealer, subject=dealer, event_id=event_id))
    await outbox.publish_many(session, events, time=now)
    return len(events)


# ---- completing a task -----------------------------------------------------------------------------------------


# The facts every lead event repeats (the catalogue's `LeadFacts`), each a column of the lead row of the same
# name; the router's `lead_version` is the router's to state, not repeated by the scheduler's lead events.
LEAD_FACTS = tuple(name for name in LeadFacts.model_fields if name != "lead_version")


def lead_facts(lead: FollowedLead | LeadFacts) -> dict[str, Any]:
    """The lead facts of a lead row (for the lead events the scheduler publishes), or of a lead event."""
    return {name: getattr(lead, name) for name in LEAD_FACTS}


async def forget_customer(session: AsyncSession, event: CustomerErased, *, now: datetime) -> None:
    """HQ erased the customer (PIPL): its leads are closed, its open work cancelled (nothing fires for it again)
    and every note typed about it cleared; what the tasks were (ids, kinds, dates, outcomes) stays for the counts."""
    known = await lead_rows.lead_ids_of_customer(session, event.customer_id)
    lead_ids = sorted(set(known) | set(event.lead_ids))
    await lead_rows.close_leads(session, lead_ids, reason="customer_erased", only_open=True)
    await task_rows.erase_customer_tasks(session, customer_id=event.customer_id, lead_ids=lead_ids, now=now)


async def plan_repurchase(
    session: AsyncSession,
    outbox: Outbox,
    *,
    lead: FollowedLead,
    now: datetime,
    bought: int = 1,
    dealer: str | None = None,
) -> Task | None:
    """The customer's repurchase reminder, once per customer (an open one moves to `dealer`, the buyer's dealer)."""
    existing = await open_task_of_customer(session, customer_id=lead.customer_id, kind="repurchase")
    if existing is not None:
        if dealer is not None:
            existing.dealer = dealer
        return None
    # The fleet in use when the record was entered, plus the trucks just bought. Only the bought trucks' age is
    # known (acquired at the purchase); with no fleet data at all, the purchase is the fleet.
    fleet = (lead.fleet_vehicles or 0) + bought
    planned = repurchase_reminder(
        vehicles_in_use=fleet, oldest_vehicle_acquired_at=lead.purchased_at, as_of=now, calendar=default_calendar()
    )
    task = new_task(lead=lead, planned=planned, now=now, dealer=dealer)
    return await schedule_task(session, outbox, task, lead=lead, now=now)


def public_content(content: dict[str, Any] | None) -> CallbackContent | None:
    """A callback's content as the public topic may carry it: no contact values (the request takes none), the
    free-text suggestions with phone numbers and street addresses redacted."""
    if not content:
        return None
    public = dict(content)
    if public.get("suggestions"):
        public["suggestions"] = redact_text(public["suggestions"])
    return CallbackContent.model_validate(public)


@dataclass(frozen=True)
class Actor:
    """The person behind a task action: the token's sub and position (None for a token without one)."""

    sub: str
    position: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        """The person behind a request."""
        return cls(sub=principal.sub, position=principal.position)


async def record_action(
    session: AsyncSession,
    *,
    task: Task,
    action: str,
    actor: Actor,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """Who did `action` to `task`, with which position, when (`task_actions`)."""
    session.add(
        TaskAction(
            task_id=task.task_id,
            action=action,
            actor=actor.sub,
            actor_position=actor.position,
            acted_at=now,
            detail=detail,
        )
    )


def report_promotion_result(task: Task, *, action_at: datetime | None, now: datetime) -> None:
    """A promotion's completion is the report of its action's result (domain.md §5): stamp when the action was
    carried out (as the dealer says; else the task's due time, or now if it is done early), by when the result
    was due, and whether this report is late."""
    acted = action_at or min(task.due_at, now)
    task.action_at = acted
    task.result_due_at = promotion_result_due_at(action_at=acted)
    task.result_late = now > task.result_due_at


async def complete_task(
    session: AsyncSession,
    outbox: Outbox,
    *,
    task: Task,
    outcome: str,
    info_verified: bool,
    notes: str | None,
    now: datetime,
    content: dict[str, Any] | None = None,
    actor: Actor | None = None,
    action_at: datetime | None = None,
) -> tuple[Task, Task | None]:
    """Record the outcome (and what the callback learnt, or when a promotion's action was carried out), verify the
    lead once if confirmed true, and plan what the outcome table says."""
    require_open(task, to="completed")
    task.status, task.outcome, task.completed_at, task.notes = "done", outcome, now, notes
    task.content = content
    if task.kind == "promotion":
        report_promotion_result(task, action_at=action_at, now=now)
    if actor is not None:
        await record_action(session, task=task, action="completed", actor=actor, now=now, detail={"outcome": outcome})
    await session.flush()  # the rules below query the customer's open tasks: this one is no longer among them
    # The lead row lock serialises concurrent completions of one lead: the streak and "verified once" hold.
    lead = await lead_rows.lead_of(session, task.lead_id, lock=True, fresh=True)
    if lead is None:
        raise Conflict("The task's lead is unknown to the scheduler.", code="lead_unknown")
    completed = task_event(task, lead=lead, event=TaskCompleted, occurred_at=now)
    completed.content = public_content(content)
    completed.completed_by_position = actor.position if actor else None
    completed.action_at, completed.result_due_at, completed.result_late = (
        task.action_at,
        task.result_due_at,
        task.result_late,
    )
    await publish(session, outbox, completed, key=task.customer_id, now=now)
    if info_verified:
        await verify_lead(session, outbox, lead=lead, by="callback", now=now, task_id=task.task_id)
    if task.kind == SALE_REPORT:
        return task, None  # reported by hand: the sale itself, when it comes, is what the rules act on
    rules = outcomes_policy()
    in_maintenance = lead.purchased_at is not None
    step = next_step_after_outcome(
        outcome=outcome,  # type: ignore[arg-type]
        tier=lead.tier,  # type: ignore[arg-type]
        completed_at=now,
        unreachable_count=lead.unreachable_streak,
        calendar=default_calendar(),
        policy=rules,
        in_maintenance=in_maintenance,
    )
    lead.unreachable_streak = step.unreachable_streak
    said = rules.rules[outcome].horizon  # type: ignore[index]
    if said is not None:
        lead.horizon = said
    if outcome == "bought" and lead.purchased_at is None:
        lead.purchased_at = now  # the first purchase: the oldest truck whose age the scheduler knows
    if lead.status != "open":
        return task, None
    if step.close_lead_as_invalid:
        # Invalid-information handling: the lead is closed and the entering dealer learns it from lead.closed.
        lead.status, lead.closed_reason = "closed", "invalid_information"
        await task_rows.cancel_open_tasks(session, lead_ids=[lead.lead_id], now=now, except_task=task.task_id)
        closed = LeadClosed(**lead_facts(lead), reason="invalid_information", closed_at=now)
        await publish(session, outbox, closed, key=lead.customer_id, now=now)
        return task, None
    if outcome == "bought":
        await _after_bought(session, outbox, lead=lead, task_id=task.task_id, now=now)
    if step.task is None:
        return task, None
    if step.task.kind == "maintenance":
        # Relationship maintenance runs once per customer: a sale (or an earlier purchase) may have started it.
        existing = await open_task_of_customer(
            session, customer_id=lead.customer_id, kind="maintenance", other_than=task.task_id
        )
        if existing is not None:
            return task, existing
    follow_up = await schedule_task(
        session, outbox, new_task(lead=lead, planned=step.task, now=now), lead=lead, now=now
    )
    if outcome == "bought":
        await plan_repurchase(session, outbox, lead=lead, now=now)
    return task, follow_up


async def _after_bought(
    session: AsyncSession, outbox: Outbox, *, lead: FollowedLead, task_id: str, now: datetime
) -> None:
    """A callback heard of a purchase: the assigned dealer reports the sale, unless it is already known
    (sale_followup.toml); the sale closes the report when it arrives (sales.py)."""
    rules = sale_followup_policy()
    latest = await latest_sale_sold_at(session, customer_id=lead.customer_id)
    if sale_already_known(latest_sold_at=latest, bought_at=now, policy=rules):
        return
    if (
        await open_task_of_customer(session, customer_id=lead.customer_id, kind=SALE_REPORT, other_than=task_id)
        is not None
    ):
        return
    planned = sale_report_task(bought_at=now, calendar=default_calendar(), policy=rules)
    await schedule_task(session, outbox, new_task(lead=lead, planned=planned, now=now), lead=lead, now=now)


async def verify_lead(
    session: AsyncSession,
    outbox: Outbox,
    *,
    lead: FollowedLead,
    by: Literal["callback", "sale"],
    now: datetime,
    task_id: str | None = None,
    sale_id: str | None = None,
) -> bool:
    """Verify a record once (domain.md §3 "Verification": a confirming callback or a confirmed sale), publishing
    `lead.verified`, which releases the information fee; the caller holds the lead's row lock. False when the record
    was verified already (by either)."""
    if lead.verified_at is not None:
        return False
    lead.verified_at, lead.verified_by = now, by
    verified = LeadVerified(**lead_facts(lead), verified_at=now, task_id=task_id, by=by, sale_id=sale_id)
    await publish(session, outbox, verified, key=lead.customer_id, now=now)
    return True
