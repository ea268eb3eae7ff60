"""What dedup-router consumes: submitted records, to route them (a poll at once, or one by one as fallback)."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.batch_routing import route_leads
from dedup_router.routing import route_lead
from dedup_router.state import dealer_cache
from leadnet_shared.app import Runtime
from leadnet_shared.consumer import BatchHandler, Handler
from leadnet_shared.events import Envelope, LeadSubmitted

SUBMITTED = "leadnet.lead.submitted"


class RoutingFailed(RuntimeError):
    """A routing failure reported by ids only: a database error's text repeats the statement's parameters
    (phone, name, address), and the consumer loop logs the error it gets."""


def _sqlstate(exc: SQLAlchemyError) -> str:
    return str(getattr(getattr(exc, "orig", None), "sqlstate", None) or type(exc).__name__)


def lead_handlers(runtime: Runtime) -> dict[str, Handler]:
    dealers = dealer_cache(runtime)

    async def on_lead_submitted(session: AsyncSession, envelope: Envelope) -> None:
        submitted = LeadSubmitted.model_validate(envelope.data)
        try:
            await route_lead(session, runtime.outbox, submitted=submitted, now=runtime.clock.now(),
                             prefix=runtime.settings.topic_prefix, dealers=dealers)
        except SQLAlchemyError as exc:
            raise RoutingFailed(f"database error {_sqlstate(exc)} routing lead {submitted.lead_id}") from None

    return {SUBMITTED: on_lead_submitted}


def lead_batch_handler(runtime: Runtime) -> BatchHandler:
    """A poll's submissions decided together; if the batch fails the loop falls back to on_lead_submitted."""
    dealers = dealer_cache(runtime)

    async def on_lead_submitted_batch(session: AsyncSession, envelopes: list[Envelope]) -> None:
        submissions = [LeadSubmitted.model_validate(e.data) for e in envelopes if e.type == SUBMITTED]
        if not submissions:
            return
        try:
            await route_leads(session, runtime.outbox, submissions=submissions, now=runtime.clock.now(),
                              prefix=runtime.settings.topic_prefix, dealers=dealers)
        except SQLAlchemyError as exc:
            raise RoutingFailed(f"database error {_sqlstate(exc)} routing a batch of "
                                f"{len(submissions)} leads") from None

    return on_lead_submitted_batch
