"""What rewards-ledger consumes: the public lead events (eligibility, verification, the masked customer) and the
public sale events (attributions and cancellations). Each handler stores the fact, then settles the record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.app import Runtime
from leadnet_shared.consumer import Handler
from leadnet_shared.events import (
    Envelope,
    LeadAccepted,
    LeadFacts,
    LeadReassigned,
    LeadVerified,
    SaleAttributed,
    SaleCancelled,
)
from rewards_ledger.models import Lead, Sale, SaleCancellation, SaleVehicle
from rewards_ledger.settlement import lead_lock, lead_of_sale, lock, sale_lock, settle_lead


def _facts(event: LeadFacts) -> dict[str, Any]:
    return {"customer_id": event.customer_id, "entered_by": event.entered_by,
            "authorized_dealer": event.authorized_dealer, "reward_eligible": event.reward_eligible,
            "cross_region": event.cross_region, "tier": event.tier, "product_line": event.product_line}


async def record_lead(session: AsyncSession, event: LeadFacts, *, now: datetime) -> None:
    """Upsert the record's facts; the first verification and the accepted-time customer are kept once known."""
    values: dict[str, Any] = {"lead_id": event.lead_id, **_facts(event), "updated_at": now}
    update: dict[str, Any] = {**_facts(event), "updated_at": now}
    if isinstance(event, LeadAccepted):
        values |= {"customer_existed": event.customer_existed, "customer_name": event.customer.name,
                   "customer_phone": event.customer.phone}
        update |= {"customer_existed": event.customer_existed, "customer_name": event.customer.name,
                   "customer_phone": event.customer.phone}
    if isinstance(event, LeadVerified):
        values["verified_at"] = event.verified_at
    statement = pg_insert(Lead).values(**values)
    if isinstance(event, LeadVerified):  # the first verification counts: a later one keeps the original time
        update["verified_at"] = func.coalesce(Lead.verified_at, statement.excluded.verified_at)
    await session.execute(statement.on_conflict_do_update(index_elements=["lead_id"], set_=update))


async def record_sale(session: AsyncSession, event: SaleAttributed, *, now: datetime) -> None:
    """Store the attribution once (a sale's facts never change); a redelivered or replayed one adds nothing."""
    await session.execute(pg_insert(Sale).values(
        sale_id=event.sale_id, lead_id=event.attributed_lead_id, customer_id=event.customer_id, seller=event.seller,
        supplied_by=event.supplied_by, lead_entered_by=event.lead_entered_by, violation=event.violation,
        sold_at=event.sold_at, received_at=now,
    ).on_conflict_do_nothing(index_elements=["sale_id"]))
    if event.vehicles:
        await session.execute(pg_insert(SaleVehicle).values([
            {"sale_id": event.sale_id, "vin": v.vin, "product_line": v.product_line} for v in event.vehicles
        ]).on_conflict_do_nothing(index_elements=["sale_id", "vin"]))


def reward_handlers(runtime: Runtime) -> dict[str, Handler]:
    prefix = runtime.settings.topic_prefix

    async def on_lead(session: AsyncSession, event: LeadFacts) -> None:
        await lock(session, lead_lock(event.lead_id))
        await record_lead(session, event, now=runtime.clock.now())
        await settle_lead(session, runtime.outbox, lead_id=event.lead_id, now=runtime.clock.now(), prefix=prefix,
                          locked=True)

    async def on_lead_accepted(session: AsyncSession, envelope: Envelope) -> None:
        await on_lead(session, LeadAccepted.model_validate(envelope.data))

    async def on_lead_verified(session: AsyncSession, envelope: Envelope) -> None:
        await on_lead(session, LeadVerified.model_validate(envelope.data))

    async def on_lead_reassigned(session: AsyncSession, envelope: Envelope) -> None:
        await on_lead(session, LeadReassigned.model_validate(envelope.data))

    async def on_sale_attributed(session: AsyncSession, envelope: Envelope) -> None:
        event = SaleAttributed.model_validate(envelope.data)
        await lock(session, sale_lock(event.sale_id))
        await record_sale(session, event, now=runtime.clock.now())
        lead_id = await lead_of_sale(session, event.sale_id)  # the first attribution stands
        if lead_id is not None:
            await settle_lead(session, runtime.outbox, lead_id=lead_id, now=runtime.clock.now(), prefix=prefix)

    async def on_sale_cancelled(session: AsyncSession, envelope: Envelope) -> None:
        event = SaleCancelled.model_validate(envelope.data)
        await lock(session, sale_lock(event.sale_id))
        await session.execute(pg_insert(SaleCancellation).values(
            sale_id=event.sale_id, cancelled_at=event.cancelled_at,
        ).on_conflict_do_nothing(index_elements=["sale_id"]))
        lead_id = await lead_of_sale(session, event.sale_id)
        if lead_id is not None:  # else the attribution, when it comes, finds the sale cancelled and pays nothing
            await settle_lead(session, runtime.outbox, lead_id=lead_id, now=runtime.clock.now(), prefix=prefix)

    return {
        "leadnet.lead.accepted": on_lead_accepted,
        "leadnet.lead.verified": on_lead_verified,
        "leadnet.lead.reassigned": on_lead_reassigned,
        "leadnet.sale.attributed": on_sale_attributed,
        "leadnet.sale.cancelled": on_sale_cancelled,
    }
