"""The leads the scheduler follows (see the package docstring for the style) and the customers' current tiers."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from followup_scheduler.models import CustomerTier, FollowedLead
from leadnet_shared.events import CustomerTierChanged


async def lead_of(
    session: AsyncSession, lead_id: str, *, lock: bool = False, fresh: bool = False
) -> FollowedLead | None:
    """A followed lead (`lock`: its row lock, which serialises work on the lead; `fresh`: re-read from the row)."""
    return await session.get(FollowedLead, lead_id, with_for_update=lock, populate_existing=fresh)


async def leads_by_id(session: AsyncSession, lead_ids: Collection[str]) -> dict[str, FollowedLead]:
    """The followed leads among `lead_ids`, by lead id."""
    if not lead_ids:
        return {}
    rows = await session.execute(select(FollowedLead).where(FollowedLead.lead_id.in_(sorted(set(lead_ids)))))
    return {lead.lead_id: lead for lead in rows.scalars()}


async def lock_customer_leads(
    session: AsyncSession, customer_id: str, *, routed_by: datetime | None = None
) -> list[FollowedLead]:
    """The customer's leads (routed by `routed_by`, if given), locked in lead id order and re-read."""
    query = select(FollowedLead).where(FollowedLead.customer_id == customer_id)
    if routed_by is not None:
        query = query.where(FollowedLead.routed_at <= routed_by)
    query = query.order_by(FollowedLead.lead_id).with_for_update().execution_options(populate_existing=True)
    return list((await session.execute(query)).scalars())


async def lead_ids_of_customer(session: AsyncSession, customer_id: str) -> list[str]:
    query = select(FollowedLead.lead_id).where(FollowedLead.customer_id == customer_id)
    return list((await session.execute(query)).scalars())


async def close_leads(session: AsyncSession, lead_ids: Sequence[str], *, reason: str, only_open: bool) -> None:
    """Close the leads (`only_open`: those still open keep their first closing reason otherwise)."""
    query = update(FollowedLead).where(FollowedLead.lead_id.in_(lead_ids))
    if only_open:
        query = query.where(FollowedLead.status == "open")
    await session.execute(query.values(status="closed", closed_reason=reason))


async def dealers_open_leads(
    session: AsyncSession, *, dealer: str, customers: Sequence[str]
) -> dict[str, FollowedLead]:
    """Each customer's newest open lead assigned to `dealer`."""
    if not customers:
        return {}
    query = (
        select(FollowedLead)
        .where(
            FollowedLead.customer_id.in_(sorted(set(customers))),
            FollowedLead.assigned_dealer == dealer,
            FollowedLead.status == "open",
        )
        .order_by(FollowedLead.customer_id, FollowedLead.routed_at)
    )
    return {lead.customer_id: lead for lead in (await session.execute(query)).scalars().all()}


async def customer_tiers(session: AsyncSession, customer_ids: Collection[str]) -> dict[str, CustomerTier]:
    """The router's latest tier decision of each customer it has decided one for."""
    query = select(CustomerTier).where(CustomerTier.customer_id.in_(sorted(set(customer_ids))))
    return {row.customer_id: row for row in (await session.execute(query)).scalars()}


async def record_tier(session: AsyncSession, change: CustomerTierChanged) -> bool:
    """Store a tier decision unless a later one is stored already; whether it was stored."""
    values = {"tier": change.new_tier, "nature": change.new_nature, "changed_at": change.changed_at}
    statement = (
        insert(CustomerTier)
        .values(customer_id=change.customer_id, **values)
        .on_conflict_do_update(
            index_elements=[CustomerTier.customer_id], set_=values, where=CustomerTier.changed_at <= change.changed_at
        )
        .returning(CustomerTier.customer_id)
    )
    return (await session.execute(statement)).first() is not None
