"""Erasure (PIPL): the router erased a customer (`leadnet.customer.erased`); intake forgets its records of it.

Each of the customer's records keeps its ids, dealers, status and verdict (what the networks' counts and the
router's history name), and loses everything that identifies the person: the record as sent (`raw`, free text
included) is replaced by a marker, and the normalized record's and the verdict's name, phone and address are
nulled. The relayed `lead.submitted` rows of those records, raw records too, leave the outbox at once.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.events import CustomerErased

ERASED_RAW = '{"erased": true}'
# The customer block keeps region, tier and nature (what counts and reports group by) and loses the person.
_ANONYMISE_LEADS = text(
    "UPDATE leads SET raw = CAST(:erased AS jsonb), "
    "normalized = CASE WHEN jsonb_typeof(normalized -> 'customer') = 'object' THEN jsonb_set(normalized, "
    "'{customer}', (normalized -> 'customer') || '{\"name\": null, \"phone\": null, \"address\": null}') "
    "ELSE normalized END, "
    "verdict = CASE WHEN jsonb_typeof(verdict -> 'customer') = 'object' THEN jsonb_set(verdict, '{customer}', "
    '\'{"name": null, "phone": null, "address": null}\') ELSE verdict END, '
    "updated_at = now() "
    "WHERE customer_id = :customer OR lead_id = ANY(CAST(:leads AS varchar[])) RETURNING lead_id"
)
_DROP_SENT_SUBMISSIONS = text(
    "DELETE FROM outbox WHERE event_type = 'leadnet.lead.submitted' AND sent_at IS NOT NULL "
    "AND CAST(payload AS jsonb) ->> 'subject' = ANY(CAST(:leads AS text[]))"
)


async def forget_customer(session: AsyncSession, event: CustomerErased) -> list[str]:
    """Anonymise the customer's records (and the ones the event names); returns their lead ids."""
    params = {"erased": ERASED_RAW, "customer": event.customer_id, "leads": event.lead_ids}
    lead_ids = sorted({str(row[0]) for row in await session.execute(_ANONYMISE_LEADS, params)} | set(event.lead_ids))
    if lead_ids:
        await session.execute(_DROP_SENT_SUBMISSIONS, {"leads": lead_ids})
    return lead_ids
