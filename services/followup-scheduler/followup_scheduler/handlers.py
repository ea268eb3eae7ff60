"""What followup-scheduler consumes: routed, reassigned and closed leads; dealers (who gets plan reminders)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from followup_scheduler.models import Dealer, FollowedLead, Task
from followup_scheduler.tasks import OPEN_STATES, cancel_open_tasks, plan_first_task, plan_first_tasks
from leadnet_shared.app import Runtime
from leadnet_shared.consumer import BatchHandler, Handler, apply_in_runs
from leadnet_shared.events import (
    DealerUpserted,
    DealerWithdrawn,
    Envelope,
    LeadAccepted,
    LeadClosed,
    LeadReassigned,
)


def followed_lead(event: LeadAccepted) -> FollowedLead:
    return FollowedLead(
        lead_id=event.lead_id, customer_id=event.customer_id, entered_by=event.entered_by,
        assigned_dealer=event.assigned_dealer, authorized_dealer=event.authorized_dealer,
        cross_region=event.cross_region, reward_eligible=event.reward_eligible,
        tier=event.tier, nature=event.nature, region_code=event.region_code, product_line=event.product_line,
        horizon=event.horizon, source=event.source, network_code=event.network_code, status="open",
        routed_at=event.accepted_at, unreachable_streak=0,
        fleet_vehicles=None if event.fleet is None else sum(max(line.quantity, 0) for line in event.fleet),
    )


def lead_batch_handler(runtime: Runtime) -> BatchHandler:
    """A poll's events in delivery order, each run of `lead.accepted` taken in with a few statements.

    One at a time, a routed lead cost a savepoint, a lookup, two inserts and an outbox insert, too slow behind a
    bulk import (docs/performance.md, "Scheduler lead batches"). The other event types (rare) go through their
    one-event handlers, in order, in the same transaction; if anything fails the kit rolls the batch back and takes
    it one event at a time."""
    handlers = lead_handlers(runtime)
    prefix = runtime.settings.topic_prefix

    async def accept_many(session: AsyncSession, events: list[LeadAccepted]) -> None:
        # Distinct leads (apply_in_runs ends a run at a repeat); one already followed keeps its first word.
        known = set((await session.execute(
            select(FollowedLead.lead_id).where(FollowedLead.lead_id.in_([e.lead_id for e in events])))).scalars())
        leads = [followed_lead(event) for event in events if event.lead_id not in known]
        if not leads:
            return
        session.add_all(leads)
        await session.flush()
        await plan_first_tasks(session, runtime.outbox, leads=leads, now=runtime.clock.now(), prefix=prefix)

    async def on_batch(session: AsyncSession, envelopes: list[Envelope]) -> None:
        await apply_in_runs(session, envelopes, run_types={"leadnet.lead.accepted"},
                            parse=lambda e: LeadAccepted.model_validate(e.data), key=lambda e: e.lead_id,
                            apply_run=accept_many, handlers=handlers)

    return on_batch


def lead_handlers(runtime: Runtime) -> dict[str, Handler]:
    prefix = runtime.settings.topic_prefix

    async def on_accepted(session: AsyncSession, envelope: Envelope) -> None:
        event = LeadAccepted.model_validate(envelope.data)
        if await session.get(FollowedLead, event.lead_id) is not None:
            return
        lead = followed_lead(event)
        session.add(lead)
        await session.flush()
        await plan_first_task(session, runtime.outbox, lead=lead, now=runtime.clock.now(), prefix=prefix)

    async def on_reassigned(session: AsyncSession, envelope: Envelope) -> None:
        event = LeadReassigned.model_validate(envelope.data)
        lead = await session.get(FollowedLead, event.lead_id, with_for_update=True)
        if lead is None:
            return
        was_unplaced = lead.assigned_dealer is None
        lead.assigned_dealer = event.to_dealer
        # Open work follows the customer to its new dealer.
        await session.execute(update(Task).where(Task.lead_id == event.lead_id, Task.status.in_(OPEN_STATES))
                              .values(dealer=event.to_dealer))
        if was_unplaced and lead.status == "open":
            # A lead that waited in the HQ queue has no task yet: its first one starts now that it has a dealer.
            lead.routed_at = event.reassigned_at
            await plan_first_task(session, runtime.outbox, lead=lead, now=runtime.clock.now(), prefix=prefix)

    async def on_closed(session: AsyncSession, envelope: Envelope) -> None:
        event = LeadClosed.model_validate(envelope.data)
        await session.execute(update(FollowedLead).where(FollowedLead.lead_id == event.lead_id)
                              .values(status="closed", closed_reason=event.reason))
        await cancel_open_tasks(session, lead_id=event.lead_id, now=runtime.clock.now())

    async def on_dealer(session: AsyncSession, envelope: Envelope) -> None:
        if envelope.type == "leadnet.dealer.withdrawn":
            withdrawn = DealerWithdrawn.model_validate(envelope.data)
            code, status, at = withdrawn.code, "withdrawn", withdrawn.withdrawn_at
        else:
            upserted = DealerUpserted.model_validate(envelope.data)
            code, status, at = upserted.code, upserted.status, upserted.updated_at
        statement = insert(Dealer).values(code=code, status=status, updated_at=at)
        # Compacted topic, redelivery, reordering across restarts: the newest fact wins.
        await session.execute(statement.on_conflict_do_update(
            index_elements=[Dealer.code], set_={"status": status, "updated_at": at},
            where=Dealer.updated_at <= at))

    return {
        "leadnet.lead.accepted": on_accepted,
        "leadnet.lead.reassigned": on_reassigned,
        "leadnet.lead.closed": on_closed,
        "leadnet.dealer.upserted": on_dealer,
        "leadnet.dealer.withdrawn": on_dealer,
    }
