"""The routed leads: which are saved and open (the duplicate rule's reads), their insert, and the locks under which
withdrawal, protection expiry, the HQ queue and life-cycle facts move or close them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.models import DecidedLead, RoutedLead
from leadnet_shared.db import fetch

# The routing batch's reads, on the raw asyncpg lane like the registry's (see repository/customers.py).
SAVED_SQL = "SELECT lead_id FROM leads WHERE lead_id = ANY(CAST($1 AS varchar[]))"
OPEN_LEADS_SQL = (
    "SELECT lead_id, customer_id, entrant_key, assigned_dealer FROM leads "
    "WHERE customer_id = ANY(CAST($1 AS varchar[])) AND status = 'open' ORDER BY lead_id"
)
LEADS: Table = RoutedLead.__table__  # type: ignore[assignment]
INSERT_LEADS = LEADS.insert()  # built once, like the text statements: its cache key is computed on first use only


async def saved_lead_ids(session: AsyncSession, lead_ids: Sequence[str]) -> set[str]:
    """Which of these leads are saved (decided for good)."""
    return {row[0] for row in await fetch(session, SAVED_SQL, sorted(set(lead_ids)))}


async def open_leads_by_entrant(
    session: AsyncSession, customer_ids: Sequence[str]
) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(customer, entrant) -> the entrant's open lead (the lowest id) and its assigned dealer."""
    found: dict[tuple[str, str], tuple[str, str | None]] = {}
    for lead_id, customer_id, entrant, assigned in await fetch(session, OPEN_LEADS_SQL, sorted(customer_ids)):
        found.setdefault((customer_id, entrant), (lead_id, assigned))
    return found


async def insert_leads(session: AsyncSession, leads: Sequence[DecidedLead]) -> None:
    """One statement text whatever the batch: prepared once, sent as an executemany."""
    if leads:
        await session.execute(INSERT_LEADS, [lead.row() for lead in leads])


async def lead_by_id(session: AsyncSession, lead_id: str) -> RoutedLead | None:
    return await session.get(RoutedLead, lead_id)


async def customer_of_lead(session: AsyncSession, lead_id: str) -> str | None:
    customer_id: str | None = await session.scalar(select(RoutedLead.customer_id).where(RoutedLead.lead_id == lead_id))
    return customer_id


async def lead_ids_of_customer(session: AsyncSession, customer_id: str) -> list[str]:
    query = select(RoutedLead.lead_id).where(RoutedLead.customer_id == customer_id).order_by(RoutedLead.lead_id)
    return list((await session.execute(query)).scalars())


async def open_leads_of_customer(session: AsyncSession, customer_id: str) -> list[RoutedLead]:
    query = select(RoutedLead).where(RoutedLead.customer_id == customer_id, RoutedLead.status == "open")
    return list((await session.execute(query)).scalars())


async def close_open_leads(session: AsyncSession, customer_id: str) -> None:
    """Close a customer's open leads and end their protection (an erased customer's)."""
    await session.execute(
        update(RoutedLead)
        .where(RoutedLead.customer_id == customer_id, RoutedLead.status == "open")
        .values(status="closed", protection_until=None)
    )


async def _locked(session: AsyncSession, query: Select[RoutedLead]) -> list[RoutedLead]:
    return list((await session.execute(query.with_for_update())).scalars())


async def lock_open_leads_of_dealer(session: AsyncSession, code: str) -> list[RoutedLead]:
    """The open leads assigned to `code`, locked in id order (a withdrawal moves them)."""
    query = select(RoutedLead).where(RoutedLead.assigned_dealer == code, RoutedLead.status == "open")
    return await _locked(session, query.order_by(RoutedLead.lead_id))


async def lock_open_leads_held(session: AsyncSession, customer_id: str, holder: str | None) -> list[RoutedLead]:
    """One customer's open leads assigned to `holder`, locked in entry order (its protection ended)."""
    query = select(RoutedLead).where(
        RoutedLead.customer_id == customer_id, RoutedLead.status == "open", RoutedLead.assigned_dealer == holder
    )
    return await _locked(session, query.order_by(RoutedLead.entered_at, RoutedLead.lead_id))


async def lock_queued_leads(session: AsyncSession, customer_ids: list[str]) -> list[RoutedLead]:
    """The open leads of these customers that wait for a dealer, locked in id order."""
    query = select(RoutedLead).where(
        RoutedLead.customer_id.in_(customer_ids), RoutedLead.assigned_dealer.is_(None), RoutedLead.status == "open"
    )
    return await _locked(session, query.order_by(RoutedLead.lead_id))


async def lock_leads(session: AsyncSession, lead_ids: Sequence[str]) -> list[RoutedLead]:
    """These leads (those the router routed), locked in id order."""
    query = select(RoutedLead).where(RoutedLead.lead_id.in_(sorted(lead_ids)))
    return await _locked(session, query.order_by(RoutedLead.lead_id))
