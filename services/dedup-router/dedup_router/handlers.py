"""What dedup-router consumes: submitted records, to route them."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.dealer_index import DealerIndexCache
from dedup_router.routing import route_lead
from leadnet_shared.app import Runtime
from leadnet_shared.consumer import Handler
from leadnet_shared.events import Envelope, LeadSubmitted


class RoutingFailed(RuntimeError):
    """A routing failure reported by ids only: a database error's text repeats the statement's parameters
    (phone, name, address), and the consumer loop logs the error it gets."""


def lead_handlers(runtime: Runtime) -> dict[str, Handler]:
    dealers: DealerIndexCache = runtime.extras.setdefault("dealer_index", DealerIndexCache())

    async def on_lead_submitted(session: AsyncSession, envelope: Envelope) -> None:
        submitted = LeadSubmitted.model_validate(envelope.data)
        try:
            await route_lead(session, runtime.outbox, submitted=submitted, now=runtime.clock.now(),
                             prefix=runtime.settings.topic_prefix, dealers=dealers)
        except SQLAlchemyError as exc:
            code = getattr(getattr(exc, "orig", None), "sqlstate", None) or type(exc).__name__
            raise RoutingFailed(f"database error {code} routing lead {submitted.lead_id}") from None

    return {"leadnet.lead.submitted": on_lead_submitted}
