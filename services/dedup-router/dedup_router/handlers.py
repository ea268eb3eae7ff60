"""What dedup-router consumes: submitted records, to route them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.routing import route_lead
from leadnet_shared.app import Runtime
from leadnet_shared.consumer import Handler
from leadnet_shared.events import Envelope, LeadSubmitted


def lead_handlers(runtime: Runtime) -> dict[str, Handler]:
    async def on_lead_submitted(session: AsyncSession, envelope: Envelope) -> None:
        submitted = LeadSubmitted.model_validate(envelope.data)
        await route_lead(session, runtime.outbox, submitted=submitted, now=runtime.clock.now(),
                         prefix=runtime.settings.topic_prefix)

    return {"leadnet.lead.submitted": on_lead_submitted}
