"""Forgetting an erased customer (PIPL): its records keep their ids, dealers, status and verdict and lose the
person; the relayed `lead.submitted` rows of those records leave the outbox."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

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


async def anonymise_leads(session: AsyncSession, *, customer_id: str, lead_ids: list[str]) -> set[str]:
    """Anonymise the customer's records and the ones named; the ids of those changed."""
    rows = await session.execute(_ANONYMISE_LEADS, {"erased": ERASED_RAW, "customer": customer_id, "leads": lead_ids})
    return {str(row[0]) for row in rows}


async def drop_sent_submissions(session: AsyncSession, lead_ids: list[str]) -> None:
    """Delete the relayed `lead.submitted` outbox rows of these leads (they carry the raw record)."""
    await session.execute(_DROP_SENT_SUBMISSIONS, {"leads": lead_ids})
