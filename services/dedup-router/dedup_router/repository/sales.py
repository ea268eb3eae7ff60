"""Reported sales and their sold vehicles (a VIN is sold once while a sale of it stands)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.models import Sale, SoldVehicle
from leadnet_shared.pagination import PageOf, PageParams, fetch_page


async def sale_by_id(session: AsyncSession, sale_id: str, *, for_update: bool = False) -> Sale | None:
    return await session.get(Sale, sale_id, with_for_update=True if for_update else None)


async def sold_vins(session: AsyncSession, vins: Sequence[str]) -> list[str]:
    """Which of these VINs are in a sale that was not cancelled or rejected, sorted."""
    query = select(SoldVehicle.vin).where(SoldVehicle.vin.in_(vins), SoldVehicle.cancelled.is_(False))
    return sorted((await session.execute(query)).scalars())


async def vehicles_in_standing_sales(session: AsyncSession, lead_id: str, *, standing: Sequence[str]) -> int:
    """Vehicles already in standing sales of one record."""
    count = await session.scalar(
        select(func.count())
        .select_from(SoldVehicle)
        .join(Sale, Sale.sale_id == SoldVehicle.sale_id)
        .where(Sale.attributed_lead_id == lead_id, Sale.status.in_(standing))
    )
    return int(count or 0)


async def leads_with_reward(
    session: AsyncSession, customer_id: str, *, kind: str, standing: Sequence[str]
) -> frozenset[str]:
    """The leads a standing sale of the customer already claims a reward of this kind for."""
    query = select(Sale.attributed_lead_id).where(
        Sale.customer_id == customer_id, Sale.status.in_(standing), Sale.rewards.contains([{"kind": kind}])
    )
    return frozenset(lead for lead in (await session.execute(query)).scalars() if lead is not None)


async def insert_sale(session: AsyncSession, sale: Sale, vehicles: Sequence[SoldVehicle]) -> None:
    """Write the sale and its vehicles now, in a savepoint: an `IntegrityError` (another sale of one of these VINs
    committed meanwhile) leaves the caller's transaction usable."""
    async with session.begin_nested():
        session.add(sale)
        session.add_all(vehicles)
        await session.flush()


async def vehicles_of_sale(session: AsyncSession, sale_id: str) -> list[SoldVehicle]:
    query = select(SoldVehicle).where(SoldVehicle.sale_id == sale_id).order_by(SoldVehicle.vin)
    return list((await session.execute(query)).scalars())


async def release_vehicles(session: AsyncSession, sale_id: str) -> int:
    """Free the sale's VINs (cancelled or rejected: sellable again); returns how many the sale had."""
    count = len((await session.execute(select(SoldVehicle.vin).where(SoldVehicle.sale_id == sale_id))).scalars().all())
    await session.execute(update(SoldVehicle).where(SoldVehicle.sale_id == sale_id).values(cancelled=True))
    await session.flush()
    return count


async def page_of_sales(
    session: AsyncSession,
    page: PageParams,
    *,
    status: str,
    dealer_as: Literal["confirmer", "seller"] | None = None,
    dealer: str | None = None,
) -> PageOf[Sale]:
    """One page of the sales in `status` by sale id (with `dealer_as`, only those whose confirmer or seller is
    `dealer`); `updated_since` reads a sale's last change: reported, confirmed or rejected, cancelled."""
    query = select(Sale).where(Sale.status == status)
    if dealer_as is not None:
        query = query.where((Sale.confirmer if dealer_as == "confirmer" else Sale.seller) == dealer)
    changed = func.greatest(Sale.created_at, Sale.decided_at, Sale.cancelled_at)
    return await fetch_page(session, query, order=[Sale.sale_id], params=page, changed_at=changed)
