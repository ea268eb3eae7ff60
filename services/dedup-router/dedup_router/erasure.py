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

from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.repository.customers import customer_by_id
from dedup_router.repository.erasures import erasure_of, forget_customer
from dedup_router.repository.leads import close_open_leads, lead_ids_of_customer
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
    customer = await customer_by_id(session, customer_id, for_update=True)
    if customer is None:
        before = await erasure_of(session, customer_id)
        return None if before is None else ErasureResult(customer_id, erased_now=False, leads=before.leads)
    lead_ids = await lead_ids_of_customer(session, customer_id)
    await close_open_leads(session, customer_id)
    # The customer file goes with the customer: corrections hold old and new contact data unmasked, the profile
    # the vehicles and intent learnt, the timeline what happened to a person who asked to be forgotten. So do the
    # submissions of this number that a consumer parked: raw records, kept only to be replayed.
    await forget_customer(
        session,
        customer_id,
        phone_key=phone_partition_key(customer.phone),
        erased_at=now,
        erased_by=erased_by,
        leads=len(lead_ids),
    )
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
