"""What followup-scheduler consumes: routed, reassigned and closed leads; customers' tier changes; confirmed sales
(sales.py); dealers (who gets plan reminders)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from followup_scheduler.models import DEALERS, FollowedLead
from followup_scheduler.recheck import RECHECK, plan_recheck
from followup_scheduler.repository import leads as lead_rows
from followup_scheduler.repository.tasks import cancel_open_tasks, update_open_tasks
from followup_scheduler.sales import apply_known_sales, record_sale
from followup_scheduler.staffing import staffing_policy
from followup_scheduler.tasks import (
    forget_customer,
    lead_facts,
    plan_first_tasks,
    staffing_of,
    tie_break,
)
from followup_scheduler.work_plans import record_dealer_units
from leadnet_shared.app import Runtime
from leadnet_shared.consumer import BatchHandler
from leadnet_shared.dealer_directory import DEALER_TYPES, DEALER_UPSERTED, dealer_fact, record_dealer_facts
from leadnet_shared.events import (
    CustomerErased,
    CustomerTierChanged,
    DealerUpserted,
    Envelope,
    FleetLine,
    LeadAccepted,
    LeadClosed,
    LeadFacts,
    LeadReassigned,
    LeadReturned,
    SaleAttributed,
)

ACCEPTED, REASSIGNED, CLOSED = "leadnet.lead.accepted", "leadnet.lead.reassigned", "leadnet.lead.closed"
RETURNED = "leadnet.lead.returned"
ERASED = "leadnet.customer.erased"
TIER_CHANGED, SALE_ATTRIBUTED = "leadnet.customer.tier_changed", "leadnet.sale.attributed"
LEAD_TYPES = frozenset({ACCEPTED, REASSIGNED, CLOSED, RETURNED, ERASED, TIER_CHANGED, SALE_ATTRIBUTED}) | DEALER_TYPES


def followed_lead(event: LeadFacts, *, routed_at: datetime, fleet: list[FleetLine] | None) -> FollowedLead:
    return FollowedLead(
        **lead_facts(event)
        # Timing follows the customer's current tier; the record's own tier is the router's `tier`.
        | {"tier": (event.customer_tier if isinstance(event, LeadAccepted) else None) or event.tier},
        status="open",
        routed_at=routed_at,
        unreachable_streak=0,
        fleet_vehicles=_vehicles(fleet),
        lead_version=event.lead_version,
    )


def _vehicles(fleet: list[FleetLine] | None) -> int | None:
    return None if fleet is None else sum(max(line.quantity, 0) for line in fleet)


async def _current_tiers(session: AsyncSession, leads: list[FollowedLead]) -> None:
    """A tier change the router decided after these leads were routed (it overtook their verdicts) stands."""
    known = await lead_rows.customer_tiers(session, {lead.customer_id for lead in leads})
    for lead in leads:
        row = known.get(lead.customer_id)
        if row is not None and row.changed_at >= lead.routed_at:
            lead.tier = row.tier
            lead.nature = row.nature or lead.nature


def lead_handler(runtime: Runtime) -> BatchHandler:
    """A poll's events in delivery order, each run of `lead.accepted` on distinct leads taken in at once.

    One at a time, a routed lead cost a savepoint, a lookup, two inserts and an outbox insert, too slow behind a
    bulk import (docs/performance.md, "Scheduler lead batches"). The other event types are rare and applied one by
    one in order. A lead's events may still arrive out of order (review M4): the router's `lead_version` decides, so
    an older fact never overwrites a newer one.
    """

    async def accept(session: AsyncSession, events: list[LeadAccepted]) -> None:
        known = await lead_rows.leads_by_id(session, [event.lead_id for event in events])
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
        await _current_tiers(session, leads)
        session.add_all(leads)
        await session.flush()
        now = runtime.clock.now()
        await plan_first_tasks(session, runtime.outbox, leads=leads, now=now)
        await apply_known_sales(session, runtime.outbox, leads=leads, now=now)

    async def reassign(session: AsyncSession, event: LeadReassigned) -> None:
        lead = await lead_rows.lead_of(session, event.lead_id, lock=True)
        if lead is None:
            # It overtook its lead.accepted: the facts every lead event repeats are enough to follow it from here.
            lead = followed_lead(event, routed_at=event.reassigned_at, fleet=None)
            await _current_tiers(session, [lead])
            session.add(lead)
            await session.flush()
            await plan_first_tasks(session, runtime.outbox, leads=[lead], now=runtime.clock.now())
            await apply_known_sales(session, runtime.outbox, leads=[lead], now=runtime.clock.now())
            return
        if lead.lead_version > event.lead_version:
            return  # an older move than the one already applied
        was_unplaced = lead.assigned_dealer is None
        lead.assigned_dealer = event.to_dealer
        lead.lead_version = event.lead_version
        # Open work follows the customer to its new dealer (a re-check stays with the dealer who entered it).
        await update_open_tasks(
            session, lead_ids=[event.lead_id], values={"dealer": event.to_dealer}, except_kind=RECHECK
        )
        if was_unplaced and lead.status == "open":
            # A lead that waited in the HQ queue has no task yet: its first one starts now that it has a dealer.
            lead.routed_at = event.reassigned_at
            await plan_first_tasks(session, runtime.outbox, leads=[lead], now=runtime.clock.now())

    async def close(session: AsyncSession, event: LeadClosed) -> None:
        await lead_rows.close_leads(session, [event.lead_id], reason=event.reason, only_open=False)
        await cancel_open_tasks(session, lead_ids=[event.lead_id], now=runtime.clock.now())

    async def change_tier(session: AsyncSession, event: CustomerTierChanged) -> None:
        """The router's decision of the customer's tier: its leads' next tasks are timed and ordered by it."""
        if not await lead_rows.record_tier(session, event):
            return  # an older change than the one applied
        for lead in await lead_rows.lock_customer_leads(session, event.customer_id, routed_by=event.changed_at):
            lead.tier = event.new_tier
            if event.new_nature:
                lead.nature = event.new_nature
            # Open work is ordered by the new tier at once ("big customers first"); its due time stays as planned.
            ranked = {"tier": lead.tier, "tie_break": tie_break(lead)}
            await update_open_tasks(session, lead_ids=[lead.lead_id], values=ranked)
            # And worked by the positions and methods the matrices give the new tier and nature (staffing.py),
            # except tasks an approved plan line placed: the approved plan named their position and method.
            for kind in sorted(staffing_policy().kinds):
                staffed = staffing_of(kind=kind, lead=lead)
                await update_open_tasks(
                    session, lead_ids=[lead.lead_id], values=staffed, kinds=[kind], unplanned_only=True
                )

    async def returned(session: AsyncSession, event: LeadReturned) -> None:
        """HQ returned a record: its entrant's re-check task (followed from here if its verdict is late)."""
        lead = await lead_rows.lead_of(session, event.lead_id, lock=True)
        if lead is None:
            lead = followed_lead(event, routed_at=event.returned_at, fleet=None)
            session.add(lead)
            await session.flush()
        await plan_recheck(session, runtime.outbox, event=event, lead=lead, now=runtime.clock.now())

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
            elif envelope.type == RETURNED:
                await returned(session, LeadReturned.of(envelope))
            elif envelope.type in DEALER_TYPES:
                await record_dealer_facts(session, DEALERS, [dealer_fact(envelope)])
                if envelope.type == DEALER_UPSERTED:  # its region and sales channel for the plans' roll-up
                    await record_dealer_units(session, DealerUpserted.model_validate(envelope.data))
            elif envelope.type == ERASED:
                await forget_customer(session, CustomerErased.model_validate(envelope.data), now=runtime.clock.now())
            elif envelope.type == TIER_CHANGED:
                await change_tier(session, CustomerTierChanged.model_validate(envelope.data))
            elif envelope.type == SALE_ATTRIBUTED:
                await record_sale(
                    session,
                    runtime.outbox,
                    sale=SaleAttributed.model_validate(envelope.data),
                    attributed_at=envelope.time,
                    now=runtime.clock.now(),
                )
        if run:
            await accept(session, list(run.values()))

    return on_lead_events
