"""Erasure (PIPL, domain.md §3 "Confidentiality"): HQ erases a customer on request; every service forgets it.

In the router, in one transaction: the registry row goes (name, phone, address and the dedup keys with it, so the
number no longer matches and can be entered again as a new customer), and the customer file with it (corrections,
profile, timeline); the customer's open records are closed
(they hold ids, dealers and the region, no personal data, and stay for the sales and postings that name them);
the failure book's raw records of the number are dropped; `leadnet.customer.erased` tells intake and the scheduler
(and any reader of the public leads topic) to forget theirs; and a tombstone on the compacted customers topic lets
compaction drop the masked state published before. The ledger keeps its history: it holds ids and amounts only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.models import Customer, CustomerChange, CustomerErasure, CustomerProfile, RoutedLead, TimelineEntry
from leadnet_shared.events import CUSTOMERS, CustomerErased
from leadnet_shared.outbox import Outbox
from leadnet_shared.phone import phone_partition_key


@dataclass(frozen=True, slots=True)
class ErasureResult:
    customer_id: str
    erased_now: bool  # False: it had been erased before (the request is answered the same, nothing is redone)
    leads: int


async def erase_customer(
    session: AsyncSession, outbox: Outbox, *, customer_id: str, erased_by: str, now: datetime
) -> ErasureResult | None:
    """Erase one customer; None when no such customer was ever known (the endpoint answers 404)."""
    customer = await session.get(Customer, customer_id, with_for_update=True)
    if customer is None:
        before = await session.get(CustomerErasure, customer_id)
        return None if before is None else ErasureResult(customer_id, erased_now=False, leads=before.leads)
    lead_ids = list(
        (
            await session.execute(
                select(RoutedLead.lead_id).where(RoutedLead.customer_id == customer_id).order_by(RoutedLead.lead_id)
            )
        ).scalars()
    )
    await session.execute(
        update(RoutedLead)
        .where(RoutedLead.customer_id == customer_id, RoutedLead.status == "open")
        .values(status="closed", protection_until=None)
    )
    # The submissions of this number that a consumer parked: raw records, kept only to be replayed.
    await session.execute(
        text("DELETE FROM consumer_failures WHERE event_key = :key AND event_type = 'leadnet.lead.submitted'"),
        {"key": phone_partition_key(customer.phone)},
    )
    # The customer file goes with the customer: corrections hold old and new contact data unmasked, the profile
    # the vehicles and intent learnt, the timeline what happened to a person who asked to be forgotten.
    for table in (CustomerChange, CustomerProfile, TimelineEntry):
        await session.execute(delete(table).where(table.customer_id == customer_id))
    await session.execute(delete(Customer).where(Customer.customer_id == customer_id))
    session.add(CustomerErasure(customer_id=customer_id, erased_at=now, erased_by=erased_by, leads=len(lead_ids)))
    await outbox.publish(
        session,
        CustomerErased(customer_id=customer_id, lead_ids=lead_ids, erased_at=now),
        key=customer_id,
        subject=customer_id,
        time=now,
    )
    await outbox.tombstone(session, topic=CUSTOMERS, key=customer_id, aggregate_type="customer")
    await session.flush()
    return ErasureResult(customer_id, erased_now=True, leads=len(lead_ids))
