"""What erasing a customer deletes (its registry row, its file, the parked raw records of its number), and the
erasures done (so a repeated request is answered the same)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.models import Customer, CustomerChange, CustomerErasure, CustomerProfile, TimelineEntry

_DROP_PARKED_SUBMISSIONS = text(
    "DELETE FROM consumer_failures WHERE event_key = :key AND event_type = 'leadnet.lead.submitted'"
)


async def erasure_of(session: AsyncSession, customer_id: str) -> CustomerErasure | None:
    return await session.get(CustomerErasure, customer_id)


async def forget_customer(
    session: AsyncSession, customer_id: str, *, phone_key: str, erased_at: datetime, erased_by: str, leads: int
) -> None:
    """Delete the customer and its file, drop the submissions of its number a consumer parked (`phone_key`, their
    event key), and keep the erasure."""
    await session.execute(_DROP_PARKED_SUBMISSIONS, {"key": phone_key})
    for table in (CustomerChange, CustomerProfile, TimelineEntry, Customer):
        await session.execute(delete(table).where(table.customer_id == customer_id))
    session.add(CustomerErasure(customer_id=customer_id, erased_at=erased_at, erased_by=erased_by, leads=leads))
