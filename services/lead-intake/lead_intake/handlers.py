"""What lead-intake consumes: the router's verdicts on the records it saved."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.service import apply_verdict
from leadnet_shared.consumer import Handler
from leadnet_shared.events import Envelope, LeadAccepted, LeadReassigned, LeadRejected


async def on_lead_accepted(session: AsyncSession, envelope: Envelope) -> None:
    event = LeadAccepted.model_validate(envelope.data)
    await apply_verdict(
        session,
        lead_id=event.lead_id,
        status="accepted",
        customer_id=event.customer_id,
        assigned_dealer=event.assigned_dealer,
        verdict=envelope.data,
    )


async def on_lead_rejected(session: AsyncSession, envelope: Envelope) -> None:
    event = LeadRejected.model_validate(envelope.data)
    await apply_verdict(
        session,
        lead_id=event.lead_id,
        status="rejected_duplicate",
        customer_id=event.customer_id,
        assigned_dealer=None,
        verdict=envelope.data,
    )


async def on_lead_reassigned(session: AsyncSession, envelope: Envelope) -> None:
    from sqlalchemy import update

    from lead_intake.models import Lead

    event = LeadReassigned.model_validate(envelope.data)
    await session.execute(
        update(Lead)
        .where(Lead.lead_id == event.lead_id)
        .values(status="reassigned", assigned_dealer=event.to_dealer)
    )


def verdict_handlers() -> dict[str, Handler]:
    return {
        "leadnet.lead.accepted": on_lead_accepted,
        "leadnet.lead.rejected": on_lead_rejected,
        "leadnet.lead.reassigned": on_lead_reassigned,
    }
