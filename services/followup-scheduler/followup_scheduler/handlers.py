"""What followup-scheduler consumes: routed, reassigned and closed leads; dealers (who gets plan reminders)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from followup_scheduler.models import DEALERS, FollowedLead, Task
from followup_scheduler.tasks import OPEN_STATES, cancel_open_tasks, plan_first_task, plan_first_tasks
from leadnet_shared.app import Runtime
from leadnet_shared.consumer import BatchHandler
from leadnet_shared.dealer_directory import DEALER_TYPES, dealer_fact, record_dealer_facts
from leadnet_shared.events import (
    Envelope,
    FleetLine,
    LeadAccepted,
    LeadClosed,
    LeadFacts,
    LeadReassigned,
)

ACCEPTED, REASSIGNED, CLOSED = "leadnet.lead.accepted", "leadnet.lead.reassigned", "leadnet.lead.closed"
LEAD_TYPES = frozenset({ACCEPTED, REASSIGNED, CLOSED}) | DEALER_TYPES


def followed_lead(event: LeadFacts, *, routed_at: datetime, fleet: list[FleetLine] | None) -> FollowedLead:
    return FollowedLead(
        lead_id=event.lead_id,
        customer_id=event.customer_id,
        entered_by=event.entered_by,
        assigned_dealer=event.assigned_dealer,
        authorized_dealer=event.authorized_dealer,
        cross_region=event.cross_region,
        reward_eligible=event.reward_eligible,
        tier=event.tier,
        nature=event.nature,
        region_code=event.region_code,
        product_line=event.product_line,
        horizon=event.horizon,
        source=event.source,
        network_code=event.network_code,
        status="open",
        routed_at=routed_at,
        unreachable_streak=0,
        fleet_vehicles=_vehicles(fleet),
        lead_version=event.lead_version,
    )


def _vehicles(fleet: list[FleetLine] | None) -> int | None:
    return None if fleet is None else sum(max(line.quantity, 0) for line in fleet)


def lead_handler(runtime: Runtime) -> BatchHandler:
    """A poll's events in delivery order, each run of `lead.accepted` on distinct leads taken in at once.

    One at a time, a routed lead cost a savepoint, a lookup, two inserts and an outbox insert, too slow behind a
    bulk import (docs/performance.md, "Scheduler lead batches"). The other event types are rare and applied one by
    one in order. A lead's events may still arrive out of order (review M4): the router's `lead_version` decides, so
    an older fact never overwrites a newer one.
    """
    prefix = runtime.settings.topic_prefix

    async def accept(session: AsyncSession, events: list[LeadAccepted]) -> None:
        known = {
            lead.lead_id: lead
            for lead in (
                await session.execute(select(FollowedLead).where(FollowedLead.lead_id.in_([e.lead_id for e in events])))
            ).scalars()
        }
        for event in events:
            lead = known.get(event.lead_id)
            # Followed already: a redelivery (its first word stands), or a reassignment that overtook this
            # verdict; only the fleet, which no reassignment carries, is still the verdict's to give.
            if lead is not None and lead.fleet_vehicles is None:
                lead.fleet_vehicles = _vehicles(event.fleet)
        leads = [
            followed_lead(event, routed_at=event.accepted_at, fleet=event.fleet)
            for event in events
            if event.lead_id not in known
        ]
        if not leads:
            return
        session.add_all(leads)
        await session.flush()
        await plan_first_tasks(session, runtime.outbox, leads=leads, now=runtime.clock.now(), prefix=prefix)

    async def reassign(session: AsyncSession, event: LeadReassigned) -> None:
        lead = await session.get(FollowedLead, event.lead_id, with_for_update=True)
        if lead is None:
            # It overtook its lead.accepted: the facts every lead event repeats are enough to follow it from here.
            lead = followed_lead(event, routed_at=event.reassigned_at, fleet=None)
            session.add(lead)
            await session.flush()
            await plan_first_task(session, runtime.outbox, lead=lead, now=runtime.clock.now(), prefix=prefix)
            return
        if lead.lead_version > event.lead_version:
            return  # an older move than the one already applied
        was_unplaced = lead.assigned_dealer is None
        lead.assigned_dealer = event.to_dealer
        lead.lead_version = event.lead_version
        # Open work follows the customer to its new dealer.
        await session.execute(
            update(Task)
            .where(Task.lead_id == event.lead_id, Task.status.in_(OPEN_STATES))
            .values(dealer=event.to_dealer)
        )
        if was_unplaced and lead.status == "open":
            # A lead that waited in the HQ queue has no task yet: its first one starts now that it has a dealer.
            lead.routed_at = event.reassigned_at
            await plan_first_task(session, runtime.outbox, lead=lead, now=runtime.clock.now(), prefix=prefix)

    async def close(session: AsyncSession, event: LeadClosed) -> None:
        await session.execute(
            update(FollowedLead)
            .where(FollowedLead.lead_id == event.lead_id)
            .values(status="closed", closed_reason=event.reason)
        )
        await cancel_open_tasks(session, lead_id=event.lead_id, now=runtime.clock.now())

    async def on_lead_events(session: AsyncSession, envelopes: list[Envelope]) -> None:
        run: dict[str, LeadAccepted] = {}
        for envelope in envelopes:
            if envelope.type == ACCEPTED:
                event = LeadAccepted.model_validate(envelope.data)
                if event.lead_id in run:  # a lead's second word in one run: the first one is applied before it
                    await accept(session, list(run.values()))
                    run = {}
                run[event.lead_id] = event
                continue
            if run:
                await accept(session, list(run.values()))
                run = {}
            if envelope.type == REASSIGNED:
                await reassign(session, LeadReassigned.model_validate(envelope.data))
            elif envelope.type == CLOSED:
                await close(session, LeadClosed.model_validate(envelope.data))
            elif envelope.type in DEALER_TYPES:
                await record_dealer_facts(session, DEALERS, [dealer_fact(envelope)])
        if run:
            await accept(session, list(run.values()))

    return on_lead_events
