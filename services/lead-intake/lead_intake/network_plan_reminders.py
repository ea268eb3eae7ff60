"""Reminders before network development plans fall due (issue 19 §6): to HQ and every active dealer that has not
filed the plan, once per owner, period and reminder, as `leadnet.network.plan_reminder` for the notifier."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.information_networks import HQ_OWNER
from lead_intake.network_plans import due_reminders
from leadnet_shared.app import Runtime
from leadnet_shared.events import NetworkPlanReminder
from leadnet_shared.outbox import Outbox, Outgoing
from leadnet_shared.workers import Step

log = logging.getLogger(__name__)
POLL_SECONDS = 300.0

# Claim the reminder for every owner without the plan; the rows returned are the owners to remind now.
_CLAIM = text(
    """
    INSERT INTO network_plan_reminders (owner, period, days_before, sent_at)
    SELECT o.owner, CAST(:period AS varchar), :days, :now FROM (
        SELECT CAST(:hq AS varchar) AS owner UNION SELECT code FROM network_dealers WHERE status = 'active'
    ) o
    WHERE NOT EXISTS (
        SELECT 1 FROM network_development_plans p WHERE p.owner = o.owner AND p.period = CAST(:period AS varchar)
    )
    ON CONFLICT DO NOTHING
    RETURNING owner
    """
)


async def send_plan_reminders(session: AsyncSession, outbox: Outbox, *, now: datetime) -> int:
    events = []
    for due in due_reminders(now):
        params = {"period": due.period.period, "days": due.days_before, "now": now, "hq": HQ_OWNER}
        for (owner,) in (await session.execute(_CLAIM, params)).all():
            data = NetworkPlanReminder(
                owner=owner,
                plan=f"{due.period.kind}_network_development",
                period=due.period.period,
                due_by=due.period.due_by,
                days_before=due.days_before,
                remind_at=due.remind_at,
                occurred_at=now,
            )
            events.append(Outgoing(data, key=owner, subject=owner))
    await outbox.publish_many(session, events, time=now)
    return len(events)


def plan_reminder_timer(runtime: Runtime) -> Step:
    async def step() -> float:
        async with runtime.db.transaction() as session:
            sent = await send_plan_reminders(session, runtime.outbox, now=runtime.clock.now())
        if sent:
            log.info("sent %d network plan reminders", sent)
        return POLL_SECONDS

    return step
