"""What followup-scheduler consumes: routed, reassigned and closed leads."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from followup_scheduler.models import FollowedLead, Task
from followup_scheduler.tasks import plan_first_task
from leadnet_shared.app import Runtime
from leadnet_shared.consumer import Handler
from leadnet_shared.events import Envelope, LeadAccepted, LeadClosed, LeadReassigned


def lead_handlers(runtime: Runtime) -> dict[str, Handler]:
    prefix = runtime.settings.topic_prefix

    async def on_accepted(session: AsyncSession, envelope: Envelope) -> None:
        event = LeadAccepted.model_validate(envelope.data)
        if await session.get(FollowedLead, event.lead_id) is not None:
            return
        lead = FollowedLead(
            lead_id=event.lead_id, customer_id=event.customer_id, entered_by=event.entered_by,
            assigned_dealer=event.assigned_dealer, authorized_dealer=event.authorized_dealer,
            cross_region=event.cross_region, reward_eligible=event.reward_eligible,
            tier=event.tier, nature=event.nature, region_code=event.region_code, product_line=event.product_line,
            horizon=event.horizon, source=event.source, network_code=event.network_code, status="open",
            routed_at=event.accepted_at,
        )
        session.add(lead)
        await session.flush()
        await plan_first_task(session, runtime.outbox, lead=lead, now=runtime.clock.now(), prefix=prefix)

    async def on_reassigned(session: AsyncSession, envelope: Envelope) -> None:
        event = LeadReassigned.model_validate(envelope.data)
        await session.execute(update(FollowedLead).where(FollowedLead.lead_id == event.lead_id)
                              .values(assigned_dealer=event.to_dealer))
        # Open work follows the customer to its new dealer.
        await session.execute(update(Task).where(Task.lead_id == event.lead_id,
                                                 Task.status.in_(("open", "overdue")))
                              .values(dealer=event.to_dealer))

    async def on_closed(session: AsyncSession, envelope: Envelope) -> None:
        event = LeadClosed.model_validate(envelope.data)
        await session.execute(update(FollowedLead).where(FollowedLead.lead_id == event.lead_id)
                              .values(status="closed"))
        await session.execute(update(Task).where(Task.lead_id == event.lead_id,
                                                 Task.status.in_(("open", "overdue")))
                              .values(status="cancelled"))

    return {
        "leadnet.lead.accepted": on_accepted,
        "leadnet.lead.reassigned": on_reassigned,
        "leadnet.lead.closed": on_closed,
    }
