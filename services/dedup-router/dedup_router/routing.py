"""route_lead: register the customer, apply the duplicate rule, route by territory, publish the verdict.

domain.md §3: the same dealer entering the same customer again is a duplicate and is not saved; another dealer
entering an existing customer is saved with the warning `customer_exists`; the lead goes to the dealer authorized
for the customer's region and product line, except that a big customer stays one calendar month with its first
cross-region entrant.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.cross_region import decide_assignment, needs_authorized_dealer
from dedup_router.events import publish_customer_upserted, publish_lead_accepted, publish_lead_rejected
from dedup_router.fairness import route_to_authorized_dealer
from dedup_router.models import Customer, Dealer, PoolCount, RoutedLead
from dedup_router.possible_duplicates import duplicate_keys
from dedup_router.territories import DealerProfile, TerritoryIndex
from leadnet_shared.events import LeadSubmitted, Warning_
from leadnet_shared.outbox import Outbox

HQ_ENTRANT = "hq"


def profile(dealer: Dealer) -> DealerProfile:
    return DealerProfile.build(code=dealer.code, territories=list(dealer.territories),
                               product_lines=list(dealer.product_lines), capability=dealer.capability,
                               withdrawn=dealer.status == "withdrawn")


async def load_index(session: AsyncSession) -> TerritoryIndex:
    dealers = (await session.execute(select(Dealer))).scalars().all()
    return TerritoryIndex.build([profile(d) for d in dealers if d.status == "active"])


async def pool_counts(session: AsyncSession, pool: tuple[str, str]) -> dict[tuple[str, str], dict[str, int]]:
    rows = (await session.execute(
        select(PoolCount.dealer, PoolCount.assigned).where(PoolCount.prefix == pool[0],
                                                           PoolCount.product_line == pool[1])
        .with_for_update()
    )).all()
    return {pool: {dealer: assigned for dealer, assigned in rows}}


async def count_assignment(session: AsyncSession, pool: tuple[str, str], dealer: str) -> None:
    await session.execute(
        pg_insert(PoolCount).values(prefix=pool[0], product_line=pool[1], dealer=dealer, assigned=1)
        .on_conflict_do_update(index_elements=["prefix", "product_line", "dealer"],
                               set_={"assigned": PoolCount.assigned + 1})
    )


async def route_lead(session: AsyncSession, outbox: Outbox, *, submitted: LeadSubmitted, now: datetime,
                     prefix: str) -> RoutedLead | None:
    """Decide one submitted record; returns the saved lead, or None when it was a duplicate."""
    if (await session.get(RoutedLead, submitted.lead_id)) is not None:
        return None  # already decided (a replay under a new event id): the verdict stands
    record = submitted.record
    c = record["customer"]
    intent = record.get("purchase_intent") or {}
    product_line = record.get("product_line") or intent.get("product_line")
    entrant = submitted.entered_by or HQ_ENTRANT

    # The registry row is locked for the rest of this transaction: two submissions of one customer (even on two
    # consumers during a rebalance) are decided one after the other.
    await session.execute(
        pg_insert(Customer).values(
            customer_id=str(uuid.uuid4()), phone=c["phone"], name=c["name"], address=c["address"],
            region_code=c["region_code"], tier=c["tier"], nature=c["nature"],
        ).on_conflict_do_nothing(index_elements=["phone"])
    )
    customer = (await session.execute(
        select(Customer).where(Customer.phone == c["phone"]).with_for_update()
    )).scalar_one()
    existing_open = (await session.execute(
        select(RoutedLead.lead_id, RoutedLead.entrant_key).where(RoutedLead.customer_id == customer.customer_id,
                                                                 RoutedLead.status == "open")
    )).all()
    customer_existed = bool(existing_open) or customer.assigned_dealer is not None
    own = [lead_id for lead_id, key in existing_open if key == entrant]
    if own:
        await publish_lead_rejected(session, outbox, prefix=prefix, lead_id=submitted.lead_id,
                                    customer_id=customer.customer_id, entered_by=submitted.entered_by,
                                    existing_lead_id=own[0], now=now)
        return None

    index = await load_index(session)
    entering = index.dealer(submitted.entered_by) if submitted.entered_by else None
    if submitted.entered_by and entering is None:
        entering = await _inactive_profile(session, submitted.entered_by)
    authorized = None
    explanation: dict[str, object] = {}
    line = product_line or "unknown"
    if needs_authorized_dealer(entering_dealer=entering, region_code=c["region_code"], product_line=line):
        pool_key = index.candidates(region_code=c["region_code"], product_line=line).pool
        counts = await pool_counts(session, pool_key) if pool_key else {}
        routed = route_to_authorized_dealer(index=index, region_code=c["region_code"], product_line=line,
                                            pool_counts=counts)
        authorized, explanation = routed.dealer, routed.explanation
        if routed.dealer is not None and routed.pool is not None:
            await count_assignment(session, routed.pool, routed.dealer.code)
    assignment = decide_assignment(entering_dealer=entering, region_code=c["region_code"], product_line=line,
                                   tier=c["tier"], entered_at=submitted.submitted_at, authorized_dealer=authorized)
    lead = RoutedLead(
        lead_id=submitted.lead_id, customer_id=customer.customer_id, entered_by=submitted.entered_by,
        entrant_key=entrant, assigned_dealer=assignment.assigned_dealer,
        authorized_dealer=assignment.authorized_dealer, status="open", cross_region=assignment.cross_region,
        reward_eligible=assignment.reward_eligible, tier=c["tier"], nature=c["nature"],
        region_code=c["region_code"], product_line=product_line, horizon=intent.get("horizon"),
        source=submitted.source, network_code=submitted.network_code,
        protection_until=assignment.protection_until, rule=assignment.rule,
        explanation={**explanation, "assignment": assignment.as_dict()}, entered_at=submitted.submitted_at,
    )
    session.add(lead)
    _update_customer(customer, record=record, assignment_dealer=assignment.assigned_dealer,
                     authorized=assignment.authorized_dealer, lead=lead, now=now)
    warnings = []
    if customer_existed:
        warnings.append(Warning_(code="customer_exists",
                                 message="This customer already exists; the record was saved and linked to it."))
    await session.flush()
    await publish_lead_accepted(session, outbox, prefix=prefix, lead=lead, customer=customer,
                                customer_existed=customer_existed, warnings=warnings, now=now)
    await publish_customer_upserted(session, outbox, prefix=prefix, customer=customer, now=now)
    return lead


def _update_customer(customer: Customer, *, record: dict[str, object], assignment_dealer: str | None,
                     authorized: str | None, lead: RoutedLead, now: datetime) -> None:
    if customer.assigned_dealer is None:
        customer.assigned_dealer = assignment_dealer
        customer.authorized_dealer = authorized
        if lead.protection_until is not None:
            customer.protected_by = lead.entered_by
            customer.protection_until = lead.protection_until
    c = record["customer"]
    assert isinstance(c, dict)
    keys = duplicate_keys(name=c["name"], region_code=c["region_code"], vehicles=_vehicles(record))
    customer.name_county_key = keys.name_county
    customer.fleet_city_key = keys.fleet_city
    customer.updated_at = now


def _vehicles(record: dict[str, object]) -> list[SimpleNamespace]:
    vehicles = record.get("vehicles_in_use") or []
    assert isinstance(vehicles, list)
    return [SimpleNamespace(brand=v.get("brand") or "", model=v.get("model") or "", quantity=v.get("quantity") or 0)
            for v in vehicles]


async def _inactive_profile(session: AsyncSession, code: str) -> DealerProfile | None:
    dealer = await session.get(Dealer, code)
    return profile(dealer) if dealer is not None else None
