"""The timer worker: publishes `task.due` at due time, marks overdue tasks, digests late ones daily for HQ, reminds
of plans.

Every replica runs it; the claims in the database (`FOR UPDATE SKIP LOCKED`) share the work and the outbox row in
the same transaction makes each event exactly once. Each step is its own short transaction so a burst of due tasks
never waits behind overdue bookkeeping.
"""

from __future__ import annotations

import logging
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from followup_scheduler.deadlines import overdue_digest_day
from followup_scheduler.repository.timers import (
    claim_and_publish,
    claim_digest_day,
    count_overdue,
    digest_event_id,
    next_due_at,
    overdue_by_dealer,
    record_digest_dealers,
)
from followup_scheduler.settings import SchedulerSettings
from followup_scheduler.tasks import restaff_open_tasks, send_plan_reminders
from followup_scheduler.work_plans import plan_timers
from leadnet_shared.app import Runtime
from leadnet_shared.events import TaskDue, TaskOverdue, TaskOverdueDigest
from leadnet_shared.outbox import Outbox, Outgoing
from leadnet_shared.workers import Step

log = logging.getLogger(__name__)

FIRED = Counter("leadnet_scheduler_timer_events_total", "Timer events written to the outbox", ["event"])
# What the runbook's alert watches: work dealers owe customers and have not done.
TASKS_OVERDUE = Gauge("leadnet_tasks_overdue", "Follow-up tasks past their deadline and not done")
BATCH_SECONDS = Histogram(
    "leadnet_scheduler_fire_batch_seconds",
    "Time to claim and commit one batch of due tasks",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


async def send_overdue_digests(session: AsyncSession, outbox: Outbox, *, now: datetime) -> int:
    """Today's overdue digests, if their time has come and they have not gone out: the number of dealers."""
    day = overdue_digest_day(now=now)
    if day is None:
        return 0
    claimed, since = await claim_digest_day(session, day=day, now=now)
    if not claimed:
        return 0  # sent today already, or another replica has just claimed it
    events = []
    for dealer, task_id, due_at, by_kind, new in await overdue_by_dealer(session, now=now, since=since):
        digest = TaskOverdueDigest(
            dealer=dealer or None,
            day=day,
            overdue=sum(by_kind.values()),
            overdue_by_kind=by_kind,
            newly_escalated=new,  # escalated since the previous digest ran
            oldest_task_id=task_id,
            oldest_due_at=due_at,
            occurred_at=now,
        )
        key = dealer or "hq_queue"
        events.append(Outgoing(digest, key=key, subject=key, event_id=digest_event_id(dealer or None, day)))
    await record_digest_dealers(session, day=day, dealers=len(events))
    await outbox.publish_many(session, events, time=now)
    return len(events)


async def timer_tick(runtime: Runtime, *, now: datetime, batch: int) -> int:
    """One pass of every timer at `now`; returns how many `task.due` fired (== batch means: more are waiting)."""
    counts: dict[str, int] = {}
    for event, label in ((TaskDue, "due"), (TaskOverdue, "overdue")):
        async with runtime.db.transaction() as session:
            counts[label] = await claim_and_publish(session, runtime.outbox, event=event, now=now, limit=batch)
        FIRED.labels(label).inc(counts[label])
    async with runtime.db.transaction() as session:
        # HQ hears of overdue work once per dealer and day, not once per task (deadlines.toml [overdue_digest]).
        digests = await send_overdue_digests(session, runtime.outbox, now=now)
    FIRED.labels("overdue_digest").inc(digests)
    return counts["due"]


def timers(runtime: Runtime) -> Step:
    """The scheduler's timers as a `workers.periodic` step, sleeping on the service clock."""
    settings = runtime.settings
    assert isinstance(settings, SchedulerSettings)
    batch = settings.fire_batch_size
    idle = settings.fire_idle_poll_seconds
    last_reminders: datetime | None = None
    # Open tasks planned before the staff and method matrices: given their position once, a batch per tick after
    # each start (a no-op scan once all have one).
    restaff_after: str | None = ""

    async def tick() -> float:
        nonlocal last_reminders, restaff_after
        now = runtime.clock.now()
        if restaff_after is not None:
            async with runtime.db.transaction() as session:
                restaff_after = await restaff_open_tasks(session, after=restaff_after, limit=batch)
        fired = await timer_tick(runtime, now=now, batch=batch)
        if last_reminders is None or (now - last_reminders).total_seconds() >= settings.reminder_poll_seconds:
            async with runtime.db.transaction() as session:
                FIRED.labels("plan_reminder").inc(await send_plan_reminders(session, runtime.outbox, now=now))
                # late plans and reminders to the approvers (work_plans.py)
                FIRED.labels("plan_timers").inc(await plan_timers(session, runtime.outbox, now=now))
                TASKS_OVERDUE.set(await count_overdue(session))
            last_reminders = now
        if fired >= batch:
            return 0.0  # a burst: keep draining without sleeping
        async with runtime.db.sessions() as session:
            upcoming = await next_due_at(session)
        # Sleep until the next due time, but never longer than the poll: other replicas and requests add tasks.
        return idle if upcoming is None else min(idle, max(0.0, (upcoming - runtime.clock.now()).total_seconds()))

    return tick
