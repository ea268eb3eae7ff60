"""What rewards-ledger consumes: verified leads (and, later, sales) to post the rewards they earn."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.app import Runtime
from leadnet_shared.consumer import Handler
from leadnet_shared.events import Envelope, LeadVerified
from rewards_ledger.postings import post
from rewards_ledger.rewards import info_fee_for_verified_lead


def reward_handlers(runtime: Runtime) -> dict[str, Handler]:
    async def on_lead_verified(session: AsyncSession, envelope: Envelope) -> None:
        request = info_fee_for_verified_lead(LeadVerified.model_validate(envelope.data))
        if request is not None:
            await post(session, runtime.outbox, request, now=runtime.clock.now(),
                       prefix=runtime.settings.topic_prefix)

    return {"leadnet.lead.verified": on_lead_verified}
