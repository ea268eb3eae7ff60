"""The customer registry: registration and the routing batch's lock and write-back, the possible-duplicate
candidates, the reads of protection, the HQ queue, withdrawal and the masking republish, and which customers a
caller may see (confidentiality.py holds the rules that read the rows)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, false, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.models import Customer, RoutedLead
from leadnet_shared.auth import Principal
from leadnet_shared.db import execute, fetch
from leadnet_shared.pagination import PageOf, PageParams, fetch_page

# Every statement of the routing batch has one text whatever the batch's size (arrays, not one parameter per row),
# so it is prepared once per connection by asyncpg. The plain-SQL ones (`$1`) are sent on the asyncpg connection in
# the batch's transaction (see `leadnet_shared.db.fetch`): a batch runs about fifteen statements, each cheaper there
# (docs/performance.md, "Raw asyncpg lane").
CUSTOMER_INSERT_COLUMNS = ("customer_id", "phone", "name", "address", "region_code", "tier", "nature", "product_line")
INSERT_CUSTOMERS_SQL = (
    f"INSERT INTO customers ({', '.join(CUSTOMER_INSERT_COLUMNS)}) "
    f"SELECT * FROM unnest({', '.join(f'CAST(${i} AS varchar[])' for i, _ in enumerate(CUSTOMER_INSERT_COLUMNS, 1))}) "
    "ON CONFLICT (phone) DO NOTHING RETURNING phone"
)
LOCK_CUSTOMERS_SQL = text(
    "SELECT * FROM customers WHERE phone = ANY(CAST(:phones AS varchar[])) ORDER BY phone FOR UPDATE"
)
# The first :n customers by id per key, read in (key, customer_id) index order: bounded whatever the registry size.
CANDIDATES_SQL = text(
    "SELECT 'n' AS kind, k.key, c.customer_id, c.name_county_key, c.fleet_city_key "
    "FROM unnest(CAST(:names AS varchar[])) AS k(key) CROSS JOIN LATERAL ("
    "  SELECT customer_id, name_county_key, fleet_city_key FROM customers"
    "  WHERE name_county_key = k.key ORDER BY customer_id LIMIT :n) c "
    "UNION ALL "
    "SELECT 'f', k.key, c.customer_id, c.name_county_key, c.fleet_city_key "
    "FROM unnest(CAST(:fleets AS varchar[])) AS k(key) CROSS JOIN LATERAL ("
    "  SELECT customer_id, name_county_key, fleet_city_key FROM customers"
    "  WHERE fleet_city_key = k.key ORDER BY customer_id LIMIT :n) c"
)
# The registry columns a decision changes, and one UPDATE of them over arrays.
_WRITTEN_COLUMNS = {
    "customer_id": "varchar",
    "assigned_dealer": "varchar",
    "authorized_dealer": "varchar",
    "protected_by": "varchar",
    "protection_until": "timestamptz",
    "name_county_key": "varchar",
    "fleet_city_key": "varchar",
    "product_line": "varchar",
    "tier": "varchar",
    "nature": "varchar",
    "updated_at": "timestamptz",
}
WRITE_CUSTOMERS_SQL = (
    "UPDATE customers AS c SET "
    + ", ".join(f"{name} = v.{name}" for name in _WRITTEN_COLUMNS if name != "customer_id")
    + " FROM unnest("
    + ", ".join(f"CAST(${i} AS {kind}[])" for i, kind in enumerate(_WRITTEN_COLUMNS.values(), start=1))
    + f") AS v({', '.join(_WRITTEN_COLUMNS)}) WHERE c.customer_id = v.customer_id"
)


async def register_customers(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Insert the rows whose phone no customer has (rows sorted by phone: two batches inserting the same phones
    wait, never deadlock); returns the phones inserted."""
    inserted = await fetch(
        session, INSERT_CUSTOMERS_SQL, *([row[name] for row in rows] for name in CUSTOMER_INSERT_COLUMNS)
    )
    return {row[0] for row in inserted}


async def lock_customers_by_phone(session: AsyncSession, phones: Sequence[str]) -> list[Customer]:
    """The customers of these phones, locked in phone order and detached: the batch changes them in memory and
    writes them back in one statement (`write_customers`), not row by row."""
    query = select(Customer).from_statement(LOCK_CUSTOMERS_SQL)
    customers = list((await session.execute(query, {"phones": sorted(phones)})).scalars().all())
    for customer in customers:
        session.expunge(customer)
    return customers


async def duplicate_candidates(
    session: AsyncSession, *, names: list[str], fleets: list[str], per_key: int
) -> Sequence[Any]:
    """The first `per_key` customers by id per name-county and per fleet-city key: (kind 'n' or 'f', key,
    customer id, its name-county key, its fleet-city key)."""
    return (await session.execute(CANDIDATES_SQL, {"names": names, "fleets": fleets, "n": per_key})).all()


async def write_customers(session: AsyncSession, customers: Sequence[Customer]) -> None:
    """What a batch changed, for every touched customer in one UPDATE."""
    if not customers:
        return
    await execute(
        session,
        WRITE_CUSTOMERS_SQL,
        *([getattr(customer, name) for customer in customers] for name in _WRITTEN_COLUMNS),
    )


async def customer_by_id(session: AsyncSession, customer_id: str, *, for_update: bool = False) -> Customer | None:
    return await session.get(Customer, customer_id, with_for_update=True if for_update else None)


async def customer_by_phone(session: AsyncSession, phone: str, *, for_update: bool = False) -> Customer | None:
    """The registered customer with this (normalized) phone, if any."""
    query = select(Customer).where(Customer.phone == phone)
    return (await session.execute(query.with_for_update() if for_update else query)).scalar_one_or_none()


async def phone_taken(session: AsyncSession, phone: str, *, by_other_than: str) -> bool:
    """Whether a customer other than `by_other_than` has this phone."""
    query = select(Customer.customer_id).where(Customer.phone == phone, Customer.customer_id != by_other_than)
    return (await session.execute(query)).first() is not None


async def _locked(session: AsyncSession, query: Select[Customer]) -> list[Customer]:
    return list((await session.execute(query.with_for_update())).scalars())


async def lock_customers_of_dealer(session: AsyncSession, code: str) -> list[Customer]:
    """The customers assigned to `code`, locked in id order (a withdrawal moves them)."""
    return await _locked(
        session, select(Customer).where(Customer.assigned_dealer == code).order_by(Customer.customer_id)
    )


async def claim_due_protections(session: AsyncSession, *, now: datetime, limit: int) -> list[Customer]:
    """The first `limit` customers whose protection ended by `now`, locked; rows another replica holds are
    skipped (it is moving them), so replicas share the work and a crash leaves them due."""
    query = (
        select(Customer)
        .where(Customer.protection_until.is_not(None), Customer.protection_until <= now)
        .order_by(Customer.protection_until, Customer.customer_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(query)).scalars())


async def lock_queued_customers(
    session: AsyncSession, *, customer_ids: list[str] | None = None, territories: list[str] | None = None
) -> list[Customer]:
    """Customers waiting in the HQ queue (no assigned dealer), by id or in these territories, locked in id order."""
    query = select(Customer).where(Customer.assigned_dealer.is_(None))
    if customer_ids is not None:
        query = query.where(Customer.customer_id.in_(customer_ids))
    if territories is not None:
        query = query.where(or_(false(), *(Customer.region_code.startswith(t, autoescape=True) for t in territories)))
    return await _locked(session, query.order_by(Customer.customer_id))


async def customers_after(session: AsyncSession, after: str, *, limit: int) -> list[Customer]:
    """The next `limit` customers by id after `after` (a job walking the whole registry)."""
    query = select(Customer).where(Customer.customer_id > after).order_by(Customer.customer_id).limit(limit)
    return list((await session.execute(query)).scalars())


def _visible_to(principal: Principal) -> ColumnElement[bool] | None:
    """The condition for what a dealer may see (assigned to it, or entered by it); None for HQ (everything)."""
    if principal.is_hq:
        return None
    dealer = principal.dealer or ""
    entered = exists().where(RoutedLead.customer_id == Customer.customer_id, RoutedLead.entered_by == dealer)
    return or_(Customer.assigned_dealer == dealer, entered)


def _where_visible(query: Select[Customer], principal: Principal) -> Select[Customer]:
    condition = _visible_to(principal)
    return query if condition is None else query.where(condition)


async def visible_customer(session: AsyncSession, customer_id: str, principal: Principal) -> Customer | None:
    """The customer, or None when there is none or the caller may not see it (the endpoint answers 404)."""
    query = _where_visible(select(Customer).where(Customer.customer_id == customer_id), principal)
    return (await session.execute(query)).scalar_one_or_none()


async def page_of_visible_customers(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    assigned_dealer: str | None = None,
    hq_queue: bool = False,
) -> PageOf[Customer]:
    """One page of the customers the caller may see, by customer id; optionally only those assigned to a dealer
    or only those waiting in the HQ queue (assigned to no dealer)."""
    query = _where_visible(select(Customer), principal)
    if assigned_dealer:
        query = query.where(Customer.assigned_dealer == assigned_dealer)
    if hq_queue:
        query = query.where(Customer.assigned_dealer.is_(None))
    return await fetch_page(session, query, order=[Customer.customer_id], params=page, changed_at=Customer.updated_at)


async def file_customer(
    session: AsyncSession, customer_id: str, principal: Principal, *, for_update: bool = False
) -> Customer | None:
    """One customer whose file (timeline, corrections) the caller may read and correct: HQ, or the dealer it is
    assigned to; else None (the endpoint answers 404)."""
    query = select(Customer).where(Customer.customer_id == customer_id)
    if not principal.is_hq:
        query = query.where(Customer.assigned_dealer.is_not(None), Customer.assigned_dealer == (principal.dealer or ""))
    return (await session.execute(query.with_for_update() if for_update else query)).scalar_one_or_none()
