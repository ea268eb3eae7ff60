"""Erasure (PIPL): the router erased a customer (`leadnet.customer.erased`); intake forgets its records of it.

Each of the customer's records keeps its ids, dealers, status and verdict (what the networks' counts and the
router's history name), and loses everything that identifies the person: the record as sent (`raw`, free text
included) is replaced by a marker, and the normalized record's and the verdict's name, phone and address are
nulled. The relayed `lead.submitted` rows of those records, raw records too, leave the outbox at once.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.repository import erasure
from leadnet_shared.events import CustomerErased


async def forget_customer(session: AsyncSession, event: CustomerErased) -> list[str]:
    """Anonymise the customer's records; returns their lead ids."""
    changed = await erasure.anonymise_leads(session, customer_id=event.customer_id, lead_ids=event.lead_ids)
    lead_ids = sorted(changed | set(event.lead_ids))
    if lead_ids:
        await erasure.drop_sent_submissions(session, lead_ids)
    return lead_ids
