"""A customer's file besides its registry row: the profile blocks (vehicles in use, usage, intent), the corrections
kept field by field, and the timeline of facts read from the public topics."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.models import CustomerChange, CustomerProfile, TimelineEntry
from leadnet_shared.auth import Principal
from leadnet_shared.db import execute
from leadnet_shared.pagination import PageOf, PageParams, fetch_page

# One statement per routed batch (raw asyncpg lane, see repository/customers.py): the newest record's blocks, a
# block the record lacks left as it was.
UPSERT_PROFILES_SQL = (
    "INSERT INTO customer_profiles (customer_id, vehicles_in_use, usage, purchase_intent, updated_at) "
    "SELECT v.customer_id, CAST(v.vehicles AS jsonb), CAST(v.usage AS jsonb), CAST(v.intent AS jsonb), $5 "
    "FROM unnest(CAST($1 AS varchar[]), CAST($2 AS text[]), CAST($3 AS text[]), CAST($4 AS text[])) "
    "AS v(customer_id, vehicles, usage, intent) "
    "ON CONFLICT (customer_id) DO UPDATE SET "
    "vehicles_in_use = COALESCE(EXCLUDED.vehicles_in_use, customer_profiles.vehicles_in_use), "
    "usage = COALESCE(EXCLUDED.usage, customer_profiles.usage), "
    "purchase_intent = COALESCE(EXCLUDED.purchase_intent, customer_profiles.purchase_intent), "
    "updated_at = EXCLUDED.updated_at"
)


async def profile_of(session: AsyncSession, customer_id: str, *, for_update: bool = False) -> CustomerProfile | None:
    return await session.get(CustomerProfile, customer_id, with_for_update=True if for_update else None)


async def upsert_profiles(
    session: AsyncSession,
    customer_ids: list[str],
    *,
    vehicles: list[str | None],
    usage: list[str | None],
    intents: list[str | None],
    now: datetime,
) -> None:
    """The given blocks (JSON text, None: keep the stored one) per customer, in one statement; ids sorted by the
    caller, so two batches upserting the same customers wait, never deadlock."""
    await execute(session, UPSERT_PROFILES_SQL, customer_ids, vehicles, usage, intents, now)


def add_profile(session: AsyncSession, customer_id: str) -> CustomerProfile:
    """An empty profile, written with the transaction's next flush."""
    profile = CustomerProfile(customer_id=customer_id)
    session.add(profile)
    return profile


def add_changes(session: AsyncSession, changes: Iterable[CustomerChange]) -> None:
    """A correction's rows, written with the transaction's next flush."""
    session.add_all(changes)


async def corrections_by_change(session: AsyncSession, change_ids: list[str]) -> dict[str, list[CustomerChange]]:
    """The corrections' rows per change id, in the order they were kept."""
    query = select(CustomerChange).where(CustomerChange.change_id.in_(change_ids)).order_by(CustomerChange.seq)
    out: dict[str, list[CustomerChange]] = {}
    for row in (await session.execute(query)).scalars():
        out.setdefault(row.change_id, []).append(row)
    return out


async def record_timeline(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Keep facts once each (an event id already kept is left as it is)."""
    if rows:
        await session.execute(insert(TimelineEntry).on_conflict_do_nothing(index_elements=["event_id"]), rows)


async def page_of_timeline(
    session: AsyncSession, customer_id: str, principal: Principal, page: PageParams
) -> PageOf[TimelineEntry]:
    """A customer's facts the caller may read, by event time then id: HQ all; the assigned dealer all but other
    dealers' ledger postings (what another dealer is paid is that dealer's account)."""
    query = select(TimelineEntry).where(TimelineEntry.customer_id == customer_id)
    if not principal.is_hq:
        not_a_posting: ColumnElement[bool] = ~TimelineEntry.type.like("leadnet.ledger.%")
        query = query.where(or_(not_a_posting, TimelineEntry.dealer == principal.dealer))
    return await fetch_page(
        session,
        query,
        order=[TimelineEntry.occurred_at, TimelineEntry.event_id],
        params=page,
        changed_at=TimelineEntry.recorded_at,
    )
