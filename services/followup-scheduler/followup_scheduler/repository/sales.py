"""The confirmed sales the scheduler has taken in (see the package docstring for the style)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from followup_scheduler.models import CustomerSale
from leadnet_shared.events import SaleAttributed


async def store_sale(session: AsyncSession, sale: SaleAttributed, *, attributed_at: datetime) -> CustomerSale | None:
    """Store a confirmed sale: its row, or None when it was known already."""
    stored = (
        await session.execute(
            insert(CustomerSale)
            .values(
                sale_id=sale.sale_id,
                customer_id=sale.customer_id,
                lead_id=sale.attributed_lead_id,
                seller=sale.seller,
                vehicles=len(sale.vehicles),
                sold_at=sale.sold_at,
                attributed_at=attributed_at,
            )
            .on_conflict_do_nothing(index_elements=[CustomerSale.sale_id])
            .returning(CustomerSale.sale_id)
        )
    ).first()
    if stored is None:
        return None
    return await session.get(CustomerSale, sale.sale_id)


async def sales_of_customers(session: AsyncSession, customer_ids: Collection[str]) -> list[CustomerSale]:
    """The customers' stored sales in the order they were attributed."""
    query = (
        select(CustomerSale)
        .where(CustomerSale.customer_id.in_(sorted(set(customer_ids))))
        .order_by(CustomerSale.attributed_at, CustomerSale.sale_id)
    )
    return list((await session.execute(query)).scalars())


async def latest_sale_sold_at(session: AsyncSession, *, customer_id: str) -> datetime | None:
    value: datetime | None = await session.scalar(
        select(func.max(CustomerSale.sold_at)).where(CustomerSale.customer_id == customer_id)
    )
    return value
