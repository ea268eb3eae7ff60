"""The information networks (`information_networks`), registered once and never changed, and the records counted
for a network in a period."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.models import InformationNetwork, Lead
from leadnet_shared.pagination import PageOf, PageParams, fetch_page


async def register(session: AsyncSession, **values: Any) -> bool:
    """Insert the network unless its code is taken; whether it was inserted."""
    inserted = await session.execute(
        pg_insert(InformationNetwork).values(**values).on_conflict_do_nothing().returning(InformationNetwork.code)
    )
    return inserted.first() is not None


async def network(session: AsyncSession, code: str) -> InformationNetwork | None:
    return await session.get(InformationNetwork, code)


async def page(session: AsyncSession, *, owners: list[str] | None, params: PageParams) -> PageOf[InformationNetwork]:
    """A page of the networks (of these owners only, if named) by code; `updated_since` by registration time."""
    query = select(InformationNetwork)
    if owners is not None:
        query = query.where(InformationNetwork.owner.in_(owners))
    return await fetch_page(
        session, query, order=[InformationNetwork.code], params=params, changed_at=InformationNetwork.created_at
    )


async def codes_of(session: AsyncSession, owner: str) -> set[str]:
    """The codes of the owner's networks."""
    found = await session.execute(select(InformationNetwork.code).where(InformationNetwork.owner == owner))
    return set(found.scalars())


async def count_registered(session: AsyncSession, *, owner: str, kind: str, start: datetime, end: datetime) -> int:
    """The networks of this kind the owner registered in [start, end)."""
    found = await session.execute(
        select(func.count()).where(
            InformationNetwork.owner == owner,
            InformationNetwork.kind == kind,
            InformationNetwork.created_at >= start,
            InformationNetwork.created_at < end,
        )
    )
    return int(found.scalar_one())


async def count_records(session: AsyncSession, *, code: str, start: datetime, end: datetime) -> tuple[int, int]:
    """Records saved with the network's code in [start, end) (refused duplicates and records of entrants that may
    not name it apart), and how many of them were verified true."""
    records, verified = (
        await session.execute(
            select(func.count(), func.count(Lead.verified_at)).where(
                Lead.network_code == code,
                Lead.network_registered.is_(True),
                Lead.status != "rejected_duplicate",
                Lead.submitted_at >= start,
                Lead.submitted_at < end,
            )
        )
    ).one()
    return int(records), int(verified)
