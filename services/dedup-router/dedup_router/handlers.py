"""What dedup-router consumes: submitted records, routed a poll at a time (a poison event alone, as a batch of one);
a re-check's corrections of a customer's tier or nature; and the life-cycle facts other services decide about its
leads (closed, returned, reopened)."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.batch_routing import route_leads
from dedup_router.customer_file import remember_profiles
from dedup_router.customer_tiers import apply_recheck_corrections
from dedup_router.events import publish_customer_tier_changed
from dedup_router.life_cycle import apply_life_cycle
from dedup_router.state import dealer_cache
from leadnet_shared.app import Runtime
from leadnet_shared.consumer import BatchHandler
from leadnet_shared.events import Envelope, LeadCorrected, LeadSubmitted
from leadnet_shared.life_cycle import life_cycle_fact

SUBMITTED, CORRECTED = "leadnet.lead.submitted", "leadnet.lead.corrected"
LEAD_TYPES = frozenset({SUBMITTED, CORRECTED})
# Enough lead ids to find a failing batch in the logs without writing a poll's worth of them per failure.
_IDS_REPORTED = 5


class RoutingFailed(RuntimeError):
    """A routing failure reported by ids only: a database error's text repeats the statement's parameters
    (phone, name, address), and the consumer loop logs the error it gets."""


def _sqlstate(exc: SQLAlchemyError) -> str:
    return str(getattr(getattr(exc, "orig", None), "sqlstate", None) or type(exc).__name__)


def lead_handler(runtime: Runtime) -> BatchHandler:
    """A poll's submissions decided together by route_leads, the router's one decision path."""
    dealers = dealer_cache(runtime)

    async def on_leads_submitted(session: AsyncSession, envelopes: list[Envelope]) -> None:
        corrections = [LeadCorrected.model_validate(e.data) for e in envelopes if e.type == CORRECTED]
        for event in await apply_recheck_corrections(session, corrections, now=runtime.clock.now()):
            await publish_customer_tier_changed(session, runtime.outbox, event=event)
        submissions = [LeadSubmitted.model_validate(e.data) for e in envelopes if e.type == SUBMITTED]
        if not submissions:
            return
        try:
            decided = await route_leads(
                session,
                runtime.outbox,
                submissions=submissions,
                now=runtime.clock.now(),
                dealers=dealers,
            )
            await remember_profiles(session, submissions=submissions, decided=decided, now=runtime.clock.now())
        except SQLAlchemyError as exc:
            ids = ", ".join(s.lead_id for s in submissions[:_IDS_REPORTED])
            more = f" and {len(submissions) - _IDS_REPORTED} more" if len(submissions) > _IDS_REPORTED else ""
            raise RoutingFailed(f"database error {_sqlstate(exc)} routing leads {ids}{more}") from None

    return on_leads_submitted


def life_cycle_handler(_runtime: Runtime) -> BatchHandler:
    """Closed, returned and reopened leads (decided by the scheduler and intake) applied to the router's leads."""

    async def on_life_cycle(session: AsyncSession, envelopes: list[Envelope]) -> None:
        facts = [fact for fact in map(life_cycle_fact, envelopes) if fact is not None]
        await apply_life_cycle(session, facts)

    return on_life_cycle
