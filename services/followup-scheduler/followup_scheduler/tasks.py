"""Tasks: planning them from routed leads and outcomes, firing them on time once, completing them.

Firing is claimed in the database (`FOR UPDATE SKIP LOCKED`, one set-based UPDATE ... RETURNING per batch) and the
`task.due` events are written to the outbox in the same transaction, so with any number of replicas and any crash
each task fires exactly once. The due event's id is derived from the task id, so even a second claim could not put
a second `task.due` of one task in the outbox (the outbox's unique event id refuses it). The claim and the outbox
insert are one SQL statement per batch (UPDATE ... RETURNING feeding INSERT ... SELECT): no ORM objects, no Python
per task, which is what lets one replica drain tens of thousands of due tasks a second.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from followup_scheduler.business_calendar import default_calendar
from followup_scheduler.deadlines import overdue_digest_day, promotion_result_due_at, task_deadlines
from followup_scheduler.models import CustomerSale, FollowedLead, Task, TaskAction
from followup_scheduler.ordering import has_demand, tie_break_rank
from followup_scheduler.outcomes import next_step_after_outcome, outcomes_policy
from followup_scheduler.plan_approval import work_plans_policy
from followup_scheduler.quotas import PlanKind, due_plan_reminders
from followup_scheduler.relationship_maintenance import repurchase_reminder
from followup_scheduler.sale_followup import SALE_REPORT, sale_already_known, sale_followup_policy, sale_report_task
from followup_scheduler.staffing import assignment_for, is_staffed, staffing_policy
from followup_scheduler.timing import PlannedTask, first_task_for_lead
from followup_scheduler.vocabulary import NATURES
from leadnet_shared.events import (
    CallbackContent,
    CustomerErased,
    LeadClosed,
    LeadVerified,
    PlanReminder,
    TaskCompleted,
    TaskDue,
    TaskEvent,
    TaskOverdue,
    TaskOverdueDigest,
    TaskScheduled,
)
from leadnet_shared.outbox import Outbox, Outgoing, insert_select_sql
from leadnet_shared.problems import Conflict
from leadnet_shared.redaction import redact_text

OPEN_STATES = ("open", "overdue")
T = TypeVar("T", bound=TaskEvent)


def task_event(task: Task, *, lead: FollowedLead | None, event: type[T], occurred_at: datetime) -> T:
    """A task event: the task, who works it and how, and the facts of its record (`lead`, the task's lead row,
    None only if the scheduler never knew it) a dashboard groups by. The timers build the same payload in SQL
    (`_claim_sql`): both read the record's facts from the lead row, the tier falling back to the task's."""
    return event(
        task_id=task.task_id,
        lead_id=task.lead_id,
        customer_id=task.customer_id,
        dealer=task.dealer,
        kind=task.kind,
        due_at=task.due_at,
        status=task.status,
        reason=task.reason,
        outcome=task.outcome,
        occurred_at=occurred_at,
        position=task.position,
        method=task.method,
        accompany=list(task.accompany or []),
        region_code=lead.region_code if lead else None,
        product_line=lead.product_line if lead else None,
        tier=lead.tier if lead else task.tier,
        horizon=lead.horizon if lead else None,
        entered_by=lead.entered_by if lead else None,
        escalate_at=task.escalate_at,
    )


async def leads_of(session: AsyncSession, tasks: list[Task]) -> dict[str, FollowedLead]:
    """The lead rows of `tasks`, by lead id (for their events)."""
    ids = sorted({task.lead_id for task in tasks})
    if not ids:
        return {}
    rows = (await session.execute(select(FollowedLead).where(FollowedLead.lead_id.in_(ids)))).scalars()
    return {lead.lead_id: lead for lead in rows}


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


def _scheduled_event(task: Task, *, lead: FollowedLead, now: datetime) -> Outgoing:
    return Outgoing(
        task_event(task, lead=lead, event=TaskScheduled, occurred_at=now),
        key=task.customer_id,
        subject=task.customer_id,
    )


async def schedule_task(
    session: AsyncSession,
    outbox: Outbox,
    *,
    lead: FollowedLead,
    planned: PlannedTask | None,
    kind: str | None = None,
    due_at: datetime | None = None,
    reason: str | None = None,
    now: datetime,
    prefix: str,
    dealer: str | None = None,
) -> Task:
    """Create one task (from the timing tables, or by hand) and publish `task.scheduled`."""
    task = new_task(lead=lead, planned=planned, kind=kind, due_at=due_at, reason=reason, now=now, dealer=dealer)
    session.add(task)
    await session.flush()
    await outbox.publish_many(session, [_scheduled_event(task, lead=lead, now=now)], time=now)
    return task


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
    if task.status not in OPEN_STATES:
        raise Conflict(
            f"The task is {task.status}; only open or overdue tasks can be rescheduled.", code="task_not_open"
        )
    lead = await session.get(FollowedLead, task.lead_id)
    previous = task.due_at
    deadlines = task_deadlines(due_at=due_at)
    task.due_at, task.overdue_at, task.escalate_at = due_at, deadlines.overdue_at, deadlines.escalate_at
    task.status, task.fired_at, task.overdue_fired_at, task.escalated_at = "open", None, None, None
    task.reschedules = (task.reschedules or 0) + 1
    if lead is not None:
        staffed = staffing_of(kind=task.kind, lead=lead)
        task.position, task.method, task.accompany = staffed["position"], staffed["method"], staffed["accompany"]
    if position is not None:
        task.position = position
    if method is not None:
        task.method = method
    if reason is not None:
        task.reason = reason
    detail = {"from": previous.isoformat(), "to": due_at.isoformat(), "position": task.position, "method": task.method}
    await record_action(session, task=task, action="rescheduled", actor=actor, now=now, detail=detail)
    await session.flush()
    await outbox.publish(
        session,
        task_event(task, lead=lead, event=TaskScheduled, occurred_at=now),
        key=task.customer_id,
        subject=task.customer_id,
        time=now,
    )
    return task


async def restaff_open_tasks(session: AsyncSession, *, after: str, limit: int = 1000) -> str | None:
    """Give open callbacks and promotions planned before the matrices existed their position and method, `limit`
    at a time in task id order from `after`; the last id done, or None once none is left. Nothing is published:
    the tasks are what they were, now with the matrices' answer (and in their position's work list)."""
    rules = staffing_policy()
    query = (
        select(Task, FollowedLead)
        .join(FollowedLead, FollowedLead.lead_id == Task.lead_id)
        .where(
            Task.task_id > after,
            Task.position.is_(None),
            Task.kind.in_(sorted(rules.kinds)),
            Task.status.in_(OPEN_STATES),
        )
        .order_by(Task.task_id)
        .limit(limit)
        .with_for_update(of=Task, skip_locked=True)
    )
    rows = (await session.execute(query)).all()
    for task, lead in rows:
        staffed = staffing_of(kind=task.kind, lead=lead)
        task.position, task.method, task.accompany = staffed["position"], staffed["method"], staffed["accompany"]
    return rows[-1][0].task_id if len(rows) == limit else None


def _first_planned(lead: FollowedLead) -> PlannedTask:
    return first_task_for_lead(
        tier=lead.tier,  # type: ignore[arg-type]
        horizon=lead.horizon,
        routed_at=lead.routed_at,
        calendar=default_calendar(),
    )


async def plan_first_task(
    session: AsyncSession, outbox: Outbox, *, lead: FollowedLead, now: datetime, prefix: str
) -> Task | None:
    """The first task of a routed lead by its purchase horizon (none: "not yet reached"), from the routing time;
    None while the lead waits in the HQ queue (HQ plans by hand)."""
    tasks = await plan_first_tasks(session, outbox, leads=[lead], now=now, prefix=prefix)
    return tasks[0] if tasks else None


async def plan_first_tasks(
    session: AsyncSession, outbox: Outbox, *, leads: list[FollowedLead], now: datetime, prefix: str
) -> list[Task]:
    """`plan_first_task` for many new leads at once: one insert of the tasks, one of their `task.scheduled` events."""
    planned = [
        (new_task(lead=lead, planned=_first_planned(lead), now=now), lead)
        for lead in leads
        if lead.assigned_dealer is not None
    ]  # HQ-queue leads: HQ plans by hand
    if planned:
        session.add_all([task for task, _ in planned])
        await session.flush()
        await outbox.publish_many(
            session, [_scheduled_event(task, lead=lead, now=now) for task, lead in planned], time=now
        )
    return [task for task, _ in planned]


# ---- the timers: one statement per batch claims the tasks and writes their events to the outbox --------------


def timer_event_id(task_id: str, event_type: str, reschedules: int = 0) -> str:
    """The one id a timer event of a task can have: a repeat is refused by the outbox, deduped by consumers.

    md5 of "task id/event type" as a UUID (with "/n" after the n-th reschedule, which re-arms the timers); the SQL
    below computes the same (`md5(...)::uuid`).
    """
    suffix = f"/{reschedules}" if reschedules else ""
    return str(uuid.UUID(hashlib.md5(f"{task_id}/{event_type}{suffix}".encode()).hexdigest()))


# The events are written by the claim itself (the kit's `insert_select_sql`: envelope and `TaskEvent` payload
# built in SQL from the catalogue's model), so a batch costs one round trip and no Python per task.
_WRITE_TASK_EVENTS = insert_select_sql(
    TaskEvent,
    rows="events",
    event_id="event_id",
    key="customer_id",
    subject="customer_id",
    time="CAST(:now AS timestamptz)",
    data={"occurred_at": "CAST(:now AS timestamptz)"},
)


def _claim_sql(*, condition: str, order: str, assignments: str) -> Any:
    # The record's facts come from the lead row (LEFT JOIN: a task whose lead the scheduler lost still fires), as
    # `task_event` reads them in Python.
    return text(f"""
    WITH claimed AS (
        UPDATE tasks t SET {assignments}
        FROM (SELECT task_id FROM tasks WHERE {condition}
              ORDER BY {order} LIMIT :n FOR UPDATE SKIP LOCKED) c
        WHERE t.task_id = c.task_id
        RETURNING t.task_id, t.lead_id, t.customer_id, t.dealer, t.kind, t.due_at, t.status, t.reason, t.outcome,
                  t.position, t.method, t.accompany, t.tier AS task_tier, t.reschedules, t.escalate_at
    ), events AS (
        SELECT claimed.task_id, claimed.lead_id, claimed.customer_id, claimed.dealer, claimed.kind, claimed.due_at,
               claimed.status, claimed.reason, claimed.outcome, claimed.position, claimed.method,
               COALESCE(claimed.accompany, '[]'::jsonb) AS accompany,
               l.region_code, l.product_line, COALESCE(l.tier, claimed.task_tier) AS tier, l.horizon, l.entered_by,
               claimed.escalate_at,
               md5(claimed.task_id || '/' || CAST(:outbox_type AS text)
                   || CASE WHEN claimed.reschedules > 0 THEN '/' || claimed.reschedules ELSE '' END
               )::uuid::text AS event_id
        FROM claimed LEFT JOIN leads l ON l.lead_id = claimed.lead_id
    ), written AS (
        {_WRITE_TASK_EVENTS}
        RETURNING 1
    )
    SELECT count(*) FROM written""")


_FIRE_DUE = _claim_sql(
    condition="fired_at IS NULL AND status = 'open' AND due_at <= :now", order="due_at", assignments="fired_at = :now"
)
# Only a task that has announced itself as due can become overdue (a backlog never skips `task.due`).
_MARK_OVERDUE = _claim_sql(
    condition="overdue_fired_at IS NULL AND status = 'open' AND overdue_at <= :now AND fired_at IS NOT NULL",
    order="overdue_at",
    assignments="status = 'overdue', overdue_fired_at = :now",
)


async def _claim_and_publish(
    session: AsyncSession, outbox: Outbox, *, claim: Any, event: type[TaskEvent], now: datetime, limit: int
) -> int:
    return await outbox.publish_selected(session, claim, event=event, params={"now": now, "n": limit})


async def fire_due_tasks(
    session: AsyncSession, outbox: Outbox, *, now: datetime, prefix: str, limit: int = 1000
) -> int:
    """Claim up to `limit` tasks due by `now` that have not fired, mark them fired and publish `task.due`: once."""
    return await _claim_and_publish(session, outbox, claim=_FIRE_DUE, event=TaskDue, now=now, limit=limit)


async def mark_overdue_tasks(
    session: AsyncSession, outbox: Outbox, *, now: datetime, prefix: str, limit: int = 1000
) -> int:
    """Tasks past their overdue moment (deadlines policy) and not done become `overdue`: `task.overdue`, once."""
    return await _claim_and_publish(session, outbox, claim=_MARK_OVERDUE, event=TaskOverdue, now=now, limit=limit)


# ---- the daily overdue digest (issue 18 item 6) ----------------------------------------------------------------
# Once per Shanghai day (the `overdue_digest_days` row is the proof across replicas), from the policy's local time
# on: one `task.overdue_digest` per dealer with tasks overdue past their escalation moment, counts by kind and the
# oldest. A read only: "new" is an escalation moment since the previous digest ran, so the tasks are not written
# (writing 100,000 imported tasks' rows took seconds under their locks, and every one of them would have shown as
# changed to a dealer syncing with `?updated_since=`). `ix_tasks_overdue_by_dealer` holds the overdue set.
_DIGEST_DONE = text("SELECT 1 FROM overdue_digest_days WHERE day = :day")
_DIGEST_DAY = text("""
    INSERT INTO overdue_digest_days (day, ran_at, dealers)
    VALUES (:day, :now, 0)
    ON CONFLICT DO NOTHING
    RETURNING (SELECT max(ran_at) FROM overdue_digest_days WHERE day < :day)""")
_DIGEST = text("""
    WITH due AS (
        SELECT task_id, COALESCE(dealer, '') AS dealer, kind, due_at,
               (CAST(:since AS timestamptz) IS NULL OR escalate_at > :since) AS new
        FROM tasks WHERE status = 'overdue' AND escalate_at <= :now
    ), by_kind AS (
        SELECT dealer, kind, count(*) AS n, count(*) FILTER (WHERE new) AS new_n FROM due GROUP BY dealer, kind
    ), per_dealer AS (
        SELECT dealer, jsonb_object_agg(kind, n) AS by_kind, sum(new_n)::int AS new FROM by_kind GROUP BY dealer
    ), oldest AS (
        SELECT DISTINCT ON (dealer) dealer, task_id, due_at FROM due ORDER BY dealer, due_at, task_id
    )
    SELECT o.dealer, o.task_id, o.due_at, p.by_kind, p.new
    FROM oldest o JOIN per_dealer p ON p.dealer = o.dealer ORDER BY o.dealer""")


def digest_event_id(dealer: str | None, day: date) -> str:
    """The one id a dealer's digest of a day can have: a repeat is refused by the outbox."""
    return str(uuid.UUID(hashlib.md5(f"overdue_digest/{dealer or ''}/{day.isoformat()}".encode()).hexdigest()))


async def send_overdue_digests(session: AsyncSession, outbox: Outbox, *, now: datetime, prefix: str) -> int:
    """Today's overdue digests, if their time has come and they have not gone out: the number of dealers."""
    day = overdue_digest_day(now=now)
    if day is None:
        return 0
    # Every tick asks; a read answers it on all but the first tick of the day (no write per tick).
    if (await session.execute(_DIGEST_DONE, {"day": day})).first() is not None:
        return 0
    claimed = (await session.execute(_DIGEST_DAY, {"day": day, "now": now})).first()
    if claimed is None:
        return 0  # another replica has just run it
    since = claimed[0]  # the previous digest's run: what escalated after it is new
    events = []
    for dealer, task_id, due_at, by_kind, new in (await session.execute(_DIGEST, {"now": now, "since": since})).all():
        digest = TaskOverdueDigest(
            dealer=dealer or None,
            day=day,
            overdue=sum(by_kind.values()),
            overdue_by_kind=by_kind,
            newly_escalated=new,
            oldest_task_id=task_id,
            oldest_due_at=due_at,
            occurred_at=now,
        )
        key = dealer or "hq_queue"
        events.append(Outgoing(digest, key=key, subject=key, event_id=digest_event_id(dealer or None, day)))
    await session.execute(
        text("UPDATE overdue_digest_days SET dealers = :n WHERE day = :day"), {"n": len(events), "day": day}
    )
    await outbox.publish_many(session, events, time=now)
    return len(events)


async def next_due_at(session: AsyncSession) -> datetime | None:
    """The earliest due time still to fire (the partial index makes this one index probe)."""
    value: datetime | None = (
        await session.execute(text("SELECT min(due_at) FROM tasks WHERE fired_at IS NULL AND status = 'open'"))
    ).scalar_one_or_none()
    return value


_REMIND = text("""
    INSERT INTO plan_reminders (dealer, plan, period, days_before, event_id, sent_at)
    SELECT d.code, CAST(:plan AS varchar), CAST(:period AS varchar), :days_before, gen_random_uuid()::text, :now
    FROM dealers d
    WHERE d.status = 'active'
      AND NOT (CAST(:plan AS varchar) = 'callback' AND EXISTS (
          SELECT 1 FROM plans p WHERE p.dealer = d.code AND p.month = :period AND p.callbacks_planned IS NOT NULL))
      AND NOT EXISTS (SELECT 1 FROM work_plans w WHERE w.dealer = d.code AND w.kind = CAST(:plan AS varchar)
                      AND w.period = CAST(:period AS varchar) AND w.submitted_at IS NOT NULL)
    ON CONFLICT DO NOTHING
    RETURNING dealer, event_id""")

PLAN_KINDS: tuple[PlanKind, ...] = ("callback", "promotion")


async def send_plan_reminders(session: AsyncSession, outbox: Outbox, *, now: datetime, prefix: str) -> int:
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
            rows = (
                await session.execute(
                    _REMIND,
                    {
                        "plan": plan,
                        "period": deadline.period,
                        "days_before": reminder.days_before,
                        "now": now,
                    },
                )
            ).all()
            for dealer, event_id in rows:
                data = PlanReminder(
                    dealer=dealer,
                    plan=plan,
                    period=deadline.period,
                    deadline_day=deadline.deadline_day,
                    due_by=deadline.due_by,
                    days_before=reminder.days_before,
                    remind_at=reminder.at,
                    occurred_at=now,
                    positions=makers,  # who must act before the deadline (work_plans.toml)
                )
                events.append(Outgoing(data, key=dealer, subject=dealer, event_id=event_id))
    await outbox.publish_many(session, events, time=now)
    return len(events)


# ---- completing a task -----------------------------------------------------------------------------------------


def lead_facts(lead: FollowedLead) -> dict[str, Any]:
    return dict(
        lead_id=lead.lead_id,
        customer_id=lead.customer_id,
        entered_by=lead.entered_by,
        assigned_dealer=lead.assigned_dealer,
        authorized_dealer=lead.authorized_dealer,
        cross_region=lead.cross_region,
        tier=lead.tier,
        nature=lead.nature,
        region_code=lead.region_code,
        product_line=lead.product_line,
        horizon=lead.horizon,
        source=lead.source,
        network_code=lead.network_code,
        reward_eligible=lead.reward_eligible,
    )


async def cancel_open_tasks(
    session: AsyncSession, *, lead_id: str, now: datetime, except_task: str | None = None
) -> None:
    """A closed lead's remaining work stops: its open and overdue tasks are cancelled (they never fire)."""
    query = update(Task).where(Task.lead_id == lead_id, Task.status.in_(OPEN_STATES))
    if except_task is not None:
        query = query.where(Task.task_id != except_task)
    await session.execute(query.values(status="cancelled", cancelled_at=now))


async def forget_customer(session: AsyncSession, event: CustomerErased, *, now: datetime) -> None:
    """HQ erased the customer (PIPL): its leads are closed, its open work cancelled (nothing fires for it again)
    and every note typed about it cleared; what the tasks were (ids, kinds, dates, outcomes) stays for the counts."""
    lead_ids = list(
        (await session.execute(select(FollowedLead.lead_id).where(FollowedLead.customer_id == event.customer_id)))
        .scalars()
        .all()
    )
    lead_ids = sorted(set(lead_ids) | set(event.lead_ids))
    await session.execute(
        update(FollowedLead)
        .where(FollowedLead.lead_id.in_(lead_ids), FollowedLead.status == "open")
        .values(status="closed", closed_reason="customer_erased")
    )
    mine = or_(Task.customer_id == event.customer_id, Task.lead_id.in_(lead_ids))
    await session.execute(
        update(Task).where(mine, Task.status.in_(OPEN_STATES)).values(status="cancelled", cancelled_at=now)
    )
    await session.execute(update(Task).where(mine, Task.notes.is_not(None)).values(notes=None))


async def open_task_of_customer(
    session: AsyncSession, *, customer_id: str, kind: str, other_than: str | None = None
) -> Task | None:
    """The customer's open (or overdue) task of `kind`, if any (`other_than`: the task being completed, whose new
    status may not be flushed yet): maintenance and repurchase run once per customer."""
    query = select(Task).where(Task.customer_id == customer_id, Task.kind == kind, Task.status.in_(OPEN_STATES))
    if other_than is not None:
        query = query.where(Task.task_id != other_than)
    found: Task | None = (
        await session.execute(query.order_by(Task.due_at, Task.task_id).limit(1).with_for_update())
    ).scalar_one_or_none()
    return found


async def plan_repurchase(
    session: AsyncSession,
    outbox: Outbox,
    *,
    lead: FollowedLead,
    now: datetime,
    prefix: str,
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
    return await schedule_task(session, outbox, lead=lead, planned=planned, now=now, prefix=prefix, dealer=dealer)


async def latest_sale_sold_at(session: AsyncSession, *, customer_id: str) -> datetime | None:
    value: datetime | None = await session.scalar(
        select(func.max(CustomerSale.sold_at)).where(CustomerSale.customer_id == customer_id)
    )
    return value


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


async def task_actions(session: AsyncSession, *, task_id: str) -> list[TaskAction]:
    """A task's actions, oldest first."""
    query = select(TaskAction).where(TaskAction.task_id == task_id).order_by(TaskAction.action_id)
    return list((await session.execute(query)).scalars())


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
    prefix: str,
    content: dict[str, Any] | None = None,
    actor: Actor | None = None,
    action_at: datetime | None = None,
) -> tuple[Task, Task | None]:
    """Record the outcome (and what the callback learnt, or when a promotion's action was carried out), verify the
    lead once if confirmed true, and plan what the outcome table says."""
    if task.status not in OPEN_STATES:
        raise Conflict(f"The task is {task.status}; only open or overdue tasks can be completed.", code="task_not_open")
    task.status, task.outcome, task.completed_at, task.notes = "done", outcome, now, notes
    task.content = content
    if task.kind == "promotion":
        report_promotion_result(task, action_at=action_at, now=now)
    if actor is not None:
        await record_action(session, task=task, action="completed", actor=actor, now=now, detail={"outcome": outcome})
    await session.flush()  # the rules below query the customer's open tasks: this one is no longer among them
    # The lead row lock serialises concurrent completions of one lead: the streak and "verified once" hold.
    lead = await session.get(FollowedLead, task.lead_id, with_for_update=True, populate_existing=True)
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
    await outbox.publish(
        session,
        completed,
        key=task.customer_id,
        subject=task.customer_id,
        time=now,
    )
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
        await cancel_open_tasks(session, lead_id=lead.lead_id, now=now, except_task=task.task_id)
        await outbox.publish(
            session,
            LeadClosed(**lead_facts(lead), reason="invalid_information", closed_at=now),
            key=lead.customer_id,
            subject=lead.customer_id,
            time=now,
        )
        return task, None
    if outcome == "bought":
        await _after_bought(session, outbox, lead=lead, task_id=task.task_id, now=now, prefix=prefix)
    if step.task is None:
        return task, None
    if step.task.kind == "maintenance":
        # Relationship maintenance runs once per customer: a sale (or an earlier purchase) may have started it.
        existing = await open_task_of_customer(
            session, customer_id=lead.customer_id, kind="maintenance", other_than=task.task_id
        )
        if existing is not None:
            return task, existing
    follow_up = await schedule_task(session, outbox, lead=lead, planned=step.task, now=now, prefix=prefix)
    if outcome == "bought":
        await plan_repurchase(session, outbox, lead=lead, now=now, prefix=prefix)
    return task, follow_up


async def _after_bought(
    session: AsyncSession, outbox: Outbox, *, lead: FollowedLead, task_id: str, now: datetime, prefix: str
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
    await schedule_task(session, outbox, lead=lead, planned=planned, now=now, prefix=prefix)


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
    await outbox.publish(
        session,
        LeadVerified(**lead_facts(lead), verified_at=now, task_id=task_id, by=by, sale_id=sale_id),
        key=lead.customer_id,
        subject=lead.customer_id,
        time=now,
    )
    return True
