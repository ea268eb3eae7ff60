"""Tasks: planning them from routed leads and outcomes, firing them on time once, completing them.

Firing is claimed in the database (`FOR UPDATE SKIP LOCKED`) and the `task.due` event is written to the outbox in
the same transaction, so with any number of replicas and any crash each task fires exactly once.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from followup_scheduler.business_calendar import default_calendar
from followup_scheduler.deadlines import overdue_escalation_at
from followup_scheduler.models import FollowedLead, Task
from followup_scheduler.ordering import has_demand, tie_break_rank
from followup_scheduler.outcomes import next_step_after_outcome
from followup_scheduler.timing import PlannedTask, first_task_for_lead
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.events import LEADS, TASKS, EventData, LeadClosed, LeadVerified, TaskEvent, make_envelope
from leadnet_shared.outbox import Outbox
from leadnet_shared.problems import Conflict

SOURCE = "/leadnet/scheduler"


def overdue_deadline(due_at: datetime) -> datetime:
    """A task may be done any time on its due day; it is overdue once that business day (Shanghai) has ended."""
    local = due_at.astimezone(SHANGHAI)
    end = datetime.combine(local.date() + timedelta(days=1), time(0, 0), tzinfo=SHANGHAI)
    return end.astimezone(due_at.tzinfo)


async def _publish(session: AsyncSession, outbox: Outbox, *, prefix: str, topic: str, key: str, event_type: str,
                   data: EventData, now: datetime, aggregate: str) -> None:
    envelope = make_envelope(data=data, event_type=event_type, source=SOURCE, time=now, subject=key)
    await outbox.add(session, topic=prefix + topic, key=key, envelope=envelope, aggregate_type=aggregate)


def task_event(task: Task, *, occurred_at: datetime) -> TaskEvent:
    return TaskEvent(task_id=task.task_id, lead_id=task.lead_id, customer_id=task.customer_id, dealer=task.dealer,
                     kind=task.kind, due_at=task.due_at, status=task.status, reason=task.reason,
                     outcome=task.outcome, occurred_at=occurred_at)


async def schedule_task(session: AsyncSession, outbox: Outbox, *, lead: FollowedLead, planned: PlannedTask | None,
                        kind: str | None = None, due_at: datetime | None = None, reason: str | None = None,
                        unreachable_streak: int = 0, now: datetime, prefix: str) -> Task:
    """Create one task (from the timing tables, or by hand) and publish `task.scheduled`."""
    due = planned.due_at if planned else due_at
    assert due is not None
    task = Task(
        task_id=str(uuid.uuid4()), lead_id=lead.lead_id, customer_id=lead.customer_id, dealer=lead.assigned_dealer,
        kind=planned.kind if planned else kind, due_at=due, overdue_at=overdue_deadline(due),
        escalate_at=overdue_escalation_at(due_at=overdue_deadline(due)), status="open",
        reason=(planned.reason if planned else reason) or "manual",
        policy_version=planned.policy_version if planned else None, tier=lead.tier,
        tie_break=tie_break_rank(has_demand=has_demand(horizon=lead.horizon), reachable=unreachable_streak == 0,
                                 tier=lead.tier),  # type: ignore[arg-type]
        unreachable_streak=unreachable_streak,
    )
    session.add(task)
    await session.flush()
    await _publish(session, outbox, prefix=prefix, topic=TASKS, key=task.customer_id,
                   event_type="leadnet.task.scheduled", data=task_event(task, occurred_at=now), now=now,
                   aggregate="task")
    return task


async def plan_first_task(session: AsyncSession, outbox: Outbox, *, lead: FollowedLead, now: datetime,
                          prefix: str) -> Task | None:
    if lead.assigned_dealer is None:
        return None  # waiting in the HQ queue: HQ plans by hand
    planned = first_task_for_lead(tier=lead.tier, horizon=lead.horizon, routed_at=lead.routed_at,  # type: ignore[arg-type]
                                  calendar=default_calendar())
    return await schedule_task(session, outbox, lead=lead, planned=planned, now=now, prefix=prefix)


async def fire_due_tasks(session: AsyncSession, outbox: Outbox, *, now: datetime, prefix: str,
                         limit: int = 1000) -> int:
    """Claim tasks due by `now` that have not fired, mark them fired and publish `task.due`: exactly once."""
    rows = (await session.execute(
        select(Task).where(Task.fired_at.is_(None), Task.status == "open", Task.due_at <= now)
        .order_by(Task.due_at, Task.tie_break).limit(limit).with_for_update(skip_locked=True)
    )).scalars().all()
    events = []
    for task in rows:
        task.fired_at = now
        data = task_event(task, occurred_at=now)
        envelope = make_envelope(data=data, event_type="leadnet.task.due", source=SOURCE, time=now,
                                 subject=task.customer_id)
        events.append((prefix + TASKS, task.customer_id, envelope, "task"))
    await outbox.add_many(session, events)
    return len(rows)


async def mark_overdue_tasks(session: AsyncSession, outbox: Outbox, *, now: datetime, prefix: str,
                             limit: int = 1000) -> int:
    rows = (await session.execute(
        select(Task).where(Task.overdue_fired_at.is_(None), Task.status == "open", Task.overdue_at <= now)
        .limit(limit).with_for_update(skip_locked=True)
    )).scalars().all()
    events = []
    for task in rows:
        task.status = "overdue"
        task.overdue_fired_at = now
        envelope = make_envelope(data=task_event(task, occurred_at=now), event_type="leadnet.task.overdue",
                                 source=SOURCE, time=now, subject=task.customer_id)
        events.append((prefix + TASKS, task.customer_id, envelope, "task"))
    await outbox.add_many(session, events)
    return len(rows)


async def escalate_overdue_tasks(session: AsyncSession, outbox: Outbox, *, now: datetime, prefix: str,
                                 limit: int = 1000) -> int:
    rows = (await session.execute(
        select(Task).where(Task.escalated_at.is_(None), Task.status == "overdue", Task.escalate_at <= now)
        .limit(limit).with_for_update(skip_locked=True)
    )).scalars().all()
    events = []
    for task in rows:
        task.escalated_at = now
        envelope = make_envelope(data=task_event(task, occurred_at=now), event_type="leadnet.task.escalated",
                                 source=SOURCE, time=now, subject=task.customer_id)
        events.append((prefix + TASKS, task.customer_id, envelope, "task"))
    await outbox.add_many(session, events)
    return len(rows)


async def next_due_at(session: AsyncSession) -> datetime | None:
    return (await session.execute(text(
        "SELECT min(due_at) FROM tasks WHERE fired_at IS NULL AND status = 'open'"))).scalar_one_or_none()


def lead_facts(lead: FollowedLead) -> dict[str, Any]:
    return dict(lead_id=lead.lead_id, customer_id=lead.customer_id, entered_by=lead.entered_by,
                assigned_dealer=lead.assigned_dealer, authorized_dealer=lead.authorized_dealer,
                cross_region=lead.cross_region, tier=lead.tier, nature=lead.nature, region_code=lead.region_code,
                product_line=lead.product_line, horizon=lead.horizon, source=lead.source,
                network_code=lead.network_code, reward_eligible=lead.reward_eligible)


async def complete_task(session: AsyncSession, outbox: Outbox, *, task: Task, outcome: str, info_verified: bool,
                        notes: str | None, now: datetime, prefix: str) -> tuple[Task, Task | None]:
    """Record the outcome, verify the lead once if confirmed true, and plan what the outcome table says."""
    if task.status not in ("open", "overdue"):
        raise Conflict(f"The task is {task.status}; only open or overdue tasks can be completed.",
                       code="task_not_open")
    task.status, task.outcome, task.completed_at, task.notes = "done", outcome, now, notes
    await _publish(session, outbox, prefix=prefix, topic=TASKS, key=task.customer_id,
                   event_type="leadnet.task.completed", data=task_event(task, occurred_at=now), now=now,
                   aggregate="task")
    lead = await session.get(FollowedLead, task.lead_id, with_for_update=True)
    assert lead is not None
    if info_verified and lead.verified_at is None:
        # A callback confirming the information is what verifies a record (and releases the 2 CNY fee): once.
        lead.verified_at = now
        await _publish(session, outbox, prefix=prefix, topic=LEADS, key=lead.customer_id,
                       event_type="leadnet.lead.verified",
                       data=LeadVerified(**lead_facts(lead), verified_at=now, task_id=task.task_id), now=now,
                       aggregate="lead")
    streak = task.unreachable_streak if outcome == "unreachable" else 0
    step = next_step_after_outcome(outcome=outcome, tier=lead.tier, completed_at=now,  # type: ignore[arg-type]
                                   unreachable_count=streak, calendar=default_calendar())
    if step.close_lead_as_invalid:
        lead.status = "closed"
        await _publish(session, outbox, prefix=prefix, topic=LEADS, key=lead.customer_id,
                       event_type="leadnet.lead.closed",
                       data=LeadClosed(**lead_facts(lead), reason="invalid_information", closed_at=now), now=now,
                       aggregate="lead")
        return task, None
    if step.task is None or lead.status != "open":
        return task, None
    follow_up = await schedule_task(session, outbox, lead=lead, planned=step.task,
                                    unreachable_streak=step.unreachable_streak, now=now, prefix=prefix)
    return task, follow_up
