"""What lead-intake consumes: the router's verdicts on the records it saved, and verifications (for networks)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.models import Lead
from lead_intake.service import Verdict, apply_verdicts, mark_verified
from leadnet_shared.consumer import BatchHandler, Handler, apply_in_runs
from leadnet_shared.events import Envelope, LeadAccepted, LeadReassigned, LeadRejected, LeadVerified


async def on_verdict(session: AsyncSession, envelope: Envelope) -> None:
    """An accepted or rejected verdict, one event at a time (the batch path's fallback)."""
    await apply_verdicts(session, [_verdict(envelope)])


async def on_lead_reassigned(session: AsyncSession, envelope: Envelope) -> None:
    event = LeadReassigned.model_validate(envelope.data)
    await session.execute(
        update(Lead)
        .where(Lead.lead_id == event.lead_id)
        .values(status="reassigned", assigned_dealer=event.to_dealer)
    )


async def on_lead_verified(session: AsyncSession, envelope: Envelope) -> None:
    """A verified record counts for its network's authenticity (domain.md §1)."""
    event = LeadVerified.model_validate(envelope.data)
    await mark_verified(session, lead_id=event.lead_id, verified_at=event.verified_at)


def verdict_handlers() -> dict[str, Handler]:
    return {
        "leadnet.lead.accepted": on_verdict,
        "leadnet.lead.rejected": on_verdict,
        "leadnet.lead.reassigned": on_lead_reassigned,
        "leadnet.lead.verified": on_lead_verified,
    }


def _verdict(envelope: Envelope) -> Verdict:
    if envelope.type == "leadnet.lead.accepted":
        accepted = LeadAccepted.model_validate(envelope.data)
        return Verdict(lead_id=accepted.lead_id, status="accepted", customer_id=accepted.customer_id,
                       assigned_dealer=accepted.assigned_dealer, verdict=envelope.data)
    rejected = LeadRejected.model_validate(envelope.data)
    return Verdict(lead_id=rejected.lead_id, status="rejected_duplicate", customer_id=rejected.customer_id,
                   assigned_dealer=None, verdict=envelope.data)


VERDICT_TYPES = frozenset({"leadnet.lead.accepted", "leadnet.lead.rejected"})


async def on_verdict_batch(session: AsyncSession, envelopes: list[Envelope]) -> None:
    """A poll's verdicts in as few statements as order allows; the outcome is the same as one at a time.

    Consecutive verdicts on distinct leads go out in one statement; a reassignment or a verification (or a second
    verdict on a lead already in the run) first applies the run before it, so each lead sees its events in order.
    """
    await apply_in_runs(session, envelopes, run_types=VERDICT_TYPES, parse=_verdict, key=lambda v: v.lead_id,
                        apply_run=apply_verdicts, handlers=verdict_handlers())


def verdict_batch_handler() -> BatchHandler:
    return on_verdict_batch
