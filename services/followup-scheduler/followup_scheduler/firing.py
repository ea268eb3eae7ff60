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
from sqlalchemy import text

from followup_scheduler.settings import SchedulerSettings
from followup_scheduler.tasks import (
    fire_due_tasks,
    mark_overdue_tasks,
    next_due_at,
    restaff_open_tasks,
    send_overdue_digests,
    send_plan_reminders,
)
from followup_scheduler.work_plans import plan_timers
from leadnet_shared.app import Runtime
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


async def timer_tick(runtime: Runtime, *, now: datetime, batch: int) -> int:
    """One pass of every timer at `now`; returns how many `task.due` fired (== batch means: more are waiting)."""
    prefix = runtime.settings.topic_prefix
    async with runtime.db.transaction() as session:
        fired = await fire_due_tasks(session, runtime.outbox, now=now, prefix=prefix, limit=batch)
    FIRED.labels("due").inc(fired)
    async with runtime.db.transaction() as session:
        overdue = await mark_overdue_tasks(session, runtime.outbox, now=now, prefix=prefix, limit=batch)
    FIRED.labels("overdue").inc(overdue)
    async with runtime.db.transaction() as session:
        # HQ hears of overdue work once per dealer and day, not once per task (deadlines.toml [overdue_digest]).
        digests = await send_overdue_digests(session, runtime.outbox, now=now, prefix=prefix)
    FIRED.labels("overdue_digest").inc(digests)
    return fired


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
                FIRED.labels("plan_reminder").inc(
                    await send_plan_reminders(session, runtime.outbox, now=now, prefix=settings.topic_prefix)
                )
                # late plans and reminders to the approvers (work_plans.py)
                FIRED.labels("plan_timers").inc(await plan_timers(session, runtime.outbox, now=now))
                overdue = await session.execute(text("SELECT count(*) FROM tasks WHERE status = 'overdue'"))
                TASKS_OVERDUE.set(overdue.scalar_one())
            last_reminders = now
        if fired >= batch:
            return 0.0  # a burst: keep draining without sleeping
        async with runtime.db.sessions() as session:
            upcoming = await next_due_at(session)
        # Sleep until the next due time, but never longer than the poll: other replicas and requests add tasks.
        return idle if upcoming is None else min(idle, max(0.0, (upcoming - runtime.clock.now()).total_seconds()))

    return tick
