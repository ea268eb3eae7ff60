"""route_lead: register the customer, apply the duplicate rule, route by territory, publish the verdict.

domain.md §3: the same dealer entering the same customer again is a duplicate and is not saved; another dealer
entering an existing customer is saved with the warning `customer_exists`; the lead goes to the dealer authorized
for the customer's region and product line, except that a big customer stays one calendar month with its first
cross-region entrant. HQ-collected records (no entering dealer) are routed by the same rules; with no authorized
dealer a record waits in the HQ queue (`assigned_dealer` null).

Order and redelivery: a lead id already decided is never decided again; one customer's submissions are decided
one after the other under the registry row's lock, and the partial unique index on open (customer, entrant) leads
makes "one open lead per dealer and customer" hold even if two deciders raced past the lock.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.cross_region import Assignment, decide_assignment, first_entrant_rule, needs_authorized_dealer
from dedup_router.dealer_index import DealerIndexCache, load_index
from dedup_router.events import publish_customer_upserted, publish_lead_accepted, publish_lead_rejected
from dedup_router.fairness import route_to_authorized_dealer
from dedup_router.models import Customer, Dealer, DecidedLead, PoolCount, RoutedLead
from dedup_router.possible_duplicates import DuplicateKeys, candidate_limit, duplicate_keys, strongest_match
from leadnet_shared.events import LeadSubmitted, Warning_
from leadnet_shared.outbox import Outbox

HQ_ENTRANT = "hq"
# route_lead's possible-duplicate candidates: the lowest ids per key, each read from a (key, customer_id) index in
# order so the statement reads at most `limit` entries per key however many customers share it.
CANDIDATES_SQL = text(
    "SELECT customer_id, name_county_key, fleet_city_key FROM ("
    " (SELECT customer_id, name_county_key, fleet_city_key FROM customers"
    "  WHERE name_county_key = :name AND customer_id <> :me ORDER BY customer_id LIMIT :limit)"
    " UNION"
    " (SELECT customer_id, name_county_key, fleet_city_key FROM customers"
    "  WHERE fleet_city_key = :fleet AND customer_id <> :me ORDER BY customer_id LIMIT :limit)"
    ") AS c ORDER BY customer_id LIMIT :limit"
)


class DealersChanged(RuntimeError):
    """A dealer chosen for this lead was withdrawn meanwhile: decide again with the current dealers."""


async def pool_counts(session: AsyncSession, pool: tuple[str, str]) -> dict[tuple[str, str], dict[str, int]]:
    """The pool's assignment counts, locked so concurrent decisions in one pool count one after the other."""
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


def customer_exists_warning() -> Warning_:
    """domain.md §3: another dealer entering an existing customer is told so, and the record is saved."""
    return Warning_(code="customer_exists",
                    message="This customer already exists; the record was saved and linked to it.")


def decided_lead(*, submitted: LeadSubmitted, customer_id: str, entrant: str, assignment: Assignment,
                 region: str, product_line: str | None, explanation: dict[str, Any]) -> DecidedLead:
    """The lead row for a routed record (one place for the sequential and the batch path)."""
    record = submitted.record
    customer, intent = record["customer"], record.get("purchase_intent") or {}
    return DecidedLead(
        lead_id=submitted.lead_id, customer_id=customer_id, entered_by=submitted.entered_by,
        entrant_key=entrant, assigned_dealer=assignment.assigned_dealer,
        authorized_dealer=assignment.authorized_dealer, status="open", cross_region=assignment.cross_region,
        reward_eligible=assignment.reward_eligible, tier=customer["tier"], nature=customer["nature"],
        region_code=region, product_line=product_line, horizon=intent.get("horizon"),
        intent_quantity=intent.get("quantity"), source=submitted.source, network_code=submitted.network_code,
        protection_until=assignment.protection_until, rule=assignment.rule,
        explanation={**explanation, "assignment": assignment.as_dict()}, entered_at=submitted.submitted_at,
    )


def new_routed_lead(*, submitted: LeadSubmitted, customer_id: str, entrant: str, assignment: Assignment,
                    region: str, product_line: str | None, explanation: dict[str, Any]) -> RoutedLead:
    """decided_lead as an ORM row, for the one-by-one path."""
    return RoutedLead(**decided_lead(submitted=submitted, customer_id=customer_id, entrant=entrant,
                                     assignment=assignment, region=region, product_line=product_line,
                                     explanation=explanation).row())


async def route_lead(session: AsyncSession, outbox: Outbox, *, submitted: LeadSubmitted, now: datetime,
                     prefix: str, dealers: DealerIndexCache | None = None) -> RoutedLead | None:
    """Decide one submitted record; returns the saved lead, or None when it was a duplicate or already decided."""
    if (await session.get(RoutedLead, submitted.lead_id)) is not None:
        return None  # already decided (a replay under a new event id): the verdict stands
    record = submitted.record
    c = record["customer"]
    intent = record.get("purchase_intent") or {}
    product_line = record.get("product_line") or intent.get("product_line")
    entrant = submitted.entered_by or HQ_ENTRANT

    # The registry row is locked for the rest of this transaction: two submissions of one customer (even on two
    # consumers during a rebalance) are decided one after the other.
    inserted = await session.execute(
        pg_insert(Customer).values(
            customer_id=str(uuid.uuid4()), phone=c["phone"], name=c["name"], address=c["address"],
            region_code=c["region_code"], tier=c["tier"], nature=c["nature"], product_line=product_line,
        ).on_conflict_do_nothing(index_elements=["phone"]).returning(Customer.customer_id)
    )
    customer_is_new = inserted.first() is not None
    customer = (await session.execute(
        select(Customer).where(Customer.phone == c["phone"]).with_for_update()
    )).scalar_one()
    own = (await session.execute(
        select(RoutedLead.lead_id).where(RoutedLead.customer_id == customer.customer_id,
                                         RoutedLead.entrant_key == entrant, RoutedLead.status == "open")
    )).scalars().first()
    if own is not None:
        await publish_lead_rejected(session, outbox, prefix=prefix, lead_id=submitted.lead_id,
                                    customer_id=customer.customer_id, entered_by=submitted.entered_by,
                                    existing_lead_id=own, now=now)
        return None

    index = await dealers.get(session) if dealers is not None else await load_index(session)
    entering = index.dealer(submitted.entered_by) if submitted.entered_by else None
    region = c["region_code"]
    line = product_line or "unknown"
    authorized = None
    explanation: dict[str, Any] = {}
    if needs_authorized_dealer(entering_dealer=entering, region_code=region, product_line=line):
        pool_key = index.candidates(region_code=region, product_line=line).pool
        counts = await pool_counts(session, pool_key) if pool_key else {}
        routed = route_to_authorized_dealer(index=index, region_code=region, product_line=line,
                                            pool_counts=counts)
        authorized, explanation = routed.dealer, dict(routed.explanation)
        if routed.dealer is not None and routed.pool is not None:
            await count_assignment(session, routed.pool, routed.dealer.code)
    assignment = decide_assignment(entering_dealer=entering, region_code=region, product_line=line,
                                   tier=c["tier"], entered_at=submitted.submitted_at, authorized_dealer=authorized)
    assignment = first_entrant_rule(assignment, customer_is_new=customer_is_new,
                                    protected_by=customer.protected_by, protection_until=customer.protection_until,
                                    at=submitted.submitted_at)
    await _hold_dealers(session, {assignment.assigned_dealer, assignment.authorized_dealer}, dealers)

    keys = duplicate_keys(name=c["name"], region_code=region, vehicles=_vehicles(record))
    warnings: list[Warning_] = []
    if not customer_is_new:
        warnings.append(customer_exists_warning())
    possible = await _possible_duplicate(session, customer_id=customer.customer_id, keys=keys)
    if possible is not None:
        warning, found = possible
        warnings.append(warning)
        explanation["possible_duplicate"] = found

    lead = new_routed_lead(submitted=submitted, customer_id=customer.customer_id, entrant=entrant,
                           assignment=assignment, region=region, product_line=product_line, explanation=explanation)
    session.add(lead)
    _update_customer(customer, lead=lead, keys=keys, is_new=customer_is_new, now=now)
    await session.flush()
    await publish_lead_accepted(session, outbox, prefix=prefix, lead=lead, customer=customer,
                                customer_existed=not customer_is_new, warnings=warnings, now=now, record=record)
    await publish_customer_upserted(session, outbox, prefix=prefix, customer=customer, now=now)
    return lead


async def _hold_dealers(session: AsyncSession, codes: set[str | None], cache: DealerIndexCache | None) -> None:
    """Share-lock the chosen dealers so a withdrawal waits for this decision (and then takes the lead along)."""
    wanted = sorted(code for code in codes if code is not None)
    if not wanted:
        return
    statuses = (await session.execute(
        select(Dealer.code, Dealer.status).where(Dealer.code.in_(wanted)).with_for_update(read=True)
    )).all()
    if any(status != "active" for _, status in statuses):
        if cache is not None:
            cache.invalidate()
        raise DealersChanged("a dealer chosen for this lead is no longer active; deciding again")


async def _possible_duplicate(session: AsyncSession, *, customer_id: str,
                              keys: DuplicateKeys) -> tuple[Warning_, dict[str, Any]] | None:
    """Other customers sharing a name-in-county or fleet-in-city key: a warning naming keys and strength only."""
    if keys.name_county is None and keys.fleet_city is None:
        return None
    rows = (await session.execute(CANDIDATES_SQL, {"name": keys.name_county, "fleet": keys.fleet_city,
                                                   "me": customer_id, "limit": candidate_limit()})).all()
    candidates = {cid: DuplicateKeys(name_county=nk, fleet_city=fk) for cid, nk, fk in rows}
    return possible_duplicate_warning(keys=keys, candidates=candidates)


def possible_duplicate_warning(*, keys: DuplicateKeys, candidates: dict[str, DuplicateKeys]
                               ) -> tuple[Warning_, dict[str, Any]] | None:
    """The strongest candidate as the warning and the audit entry a verdict carries (keys and strength, no PII);
    shared by the one-by-one and the batch path so both word it the same."""
    best = strongest_match(new=keys, candidates=candidates)
    if best is None:
        return None
    match_id, match = best
    if match.warning is None:
        return None
    warning = Warning_(code=match.warning["code"], message=match.warning["message"], matched=list(match.matched),
                       strength=match.strength)
    return warning, {"customer_id": match_id, "matched": list(match.matched), "strength": match.strength}


def _update_customer(customer: Customer, *, lead: RoutedLead | DecidedLead, keys: DuplicateKeys, is_new: bool,
                     now: datetime) -> None:
    if customer.assigned_dealer is None:
        customer.assigned_dealer = lead.assigned_dealer
        customer.authorized_dealer = lead.authorized_dealer
    if is_new and lead.protection_until is not None:
        customer.protected_by = lead.entered_by
        customer.protection_until = lead.protection_until
    # The first record's keys stand; a later record only fills a key the customer did not have yet.
    customer.name_county_key = customer.name_county_key or keys.name_county
    customer.fleet_city_key = customer.fleet_city_key or keys.fleet_city
    customer.product_line = customer.product_line or lead.product_line
    customer.updated_at = now


def _vehicles(record: dict[str, Any]) -> list[SimpleNamespace]:
    vehicles = record.get("vehicles_in_use") or []
    return [SimpleNamespace(brand=v.get("brand") or "", model=v.get("model") or "", quantity=v.get("quantity") or 0)
            for v in vehicles]
