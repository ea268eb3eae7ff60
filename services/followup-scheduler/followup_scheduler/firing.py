"""The firing worker: publishes `task.due` at due time, marks overdue tasks, escalates late ones."""

from __future__ import annotations

import logging

from followup_scheduler.tasks import escalate_overdue_tasks, fire_due_tasks, mark_overdue_tasks, next_due_at
from leadnet_shared.app import Runtime

log = logging.getLogger(__name__)


async def run_timers(runtime: Runtime) -> None:
    settings = runtime.settings
    batch = getattr(settings, "fire_batch_size", 1000)
    idle = getattr(settings, "fire_idle_poll_seconds", 0.1)
    while not runtime.stopping:
        try:
            now = runtime.clock.now()
            async with runtime.db.transaction() as session:
                fired = await fire_due_tasks(session, runtime.outbox, now=now, prefix=settings.topic_prefix,
                                             limit=batch)
                await mark_overdue_tasks(session, runtime.outbox, now=now, prefix=settings.topic_prefix,
                                         limit=batch)
                await escalate_overdue_tasks(session, runtime.outbox, now=now, prefix=settings.topic_prefix,
                                             limit=batch)
            if fired >= batch:
                continue  # a burst: keep draining without sleeping
            async with runtime.db.sessions() as session:
                upcoming = await next_due_at(session)
            wait = idle if upcoming is None else min(idle, max(0.0, (upcoming - runtime.clock.now()).total_seconds()))
            await runtime.clock.sleep(wait)
        except Exception:
            log.exception("timer iteration failed; retrying")
            await runtime.clock.sleep(1.0)
