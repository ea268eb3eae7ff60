"""The routing rules' shared pieces: the lead row a decision writes, its warnings, the registry update, the
pool counts. The decision itself is `batch_routing.route_leads` (the only one: a single record is a batch of one);
protection expiry and redistribution route single customers again with the pool helpers here.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.cross_region import Assignment
from dedup_router.fairness import PoolKey
from dedup_router.models import Customer, DecidedLead
from dedup_router.possible_duplicates import DuplicateKeys, strongest_match
from leadnet_shared.db import execute, fetch
from leadnet_shared.events import LeadSubmitted, Warning_

HQ_ENTRANT = "hq"
# Sent on the asyncpg connection in the caller's transaction (see `leadnet_shared.db.fetch`), arrays whatever the
# number of pools, so each text is prepared once per connection.
LOCK_POOLS_SQL = (
    "SELECT c.prefix, c.product_line, c.dealer, c.assigned FROM pool_counts AS c "
    "JOIN unnest(CAST($1 AS varchar[]), CAST($2 AS varchar[])) AS k(prefix, product_line) "
    "ON c.prefix = k.prefix AND c.product_line = k.product_line "
    "ORDER BY c.prefix, c.product_line, c.dealer FOR UPDATE OF c"
)
WRITE_POOLS_SQL = (
    "INSERT INTO pool_counts (prefix, product_line, dealer, assigned) "
    "SELECT * FROM unnest(CAST($1 AS varchar[]), CAST($2 AS varchar[]), CAST($3 AS varchar[]), "
    "CAST($4 AS integer[])) "
    "ON CONFLICT (prefix, product_line, dealer) DO UPDATE SET assigned = pool_counts.assigned + excluded.assigned"
)


class DealersChanged(RuntimeError):
    """A dealer chosen for this lead was withdrawn meanwhile: decide again with the current dealers."""


async def lock_pools(session: AsyncSession, pools: set[PoolKey]) -> dict[PoolKey, dict[str, int]]:
    """The pools' counts, their rows locked in key order for the rest of the transaction: decisions in one pool
    count one after the other."""
    counts: dict[PoolKey, dict[str, int]] = {pool: {} for pool in pools}
    if not pools:
        return counts
    ordered = sorted(pools)
    rows = await fetch(session, LOCK_POOLS_SQL, [p for p, _ in ordered], [line for _, line in ordered])
    for pool_prefix, line, dealer, assigned in rows:
        counts[(pool_prefix, line)][dealer] = assigned
    return counts


async def add_to_pool_counts(session: AsyncSession, added: Counter[tuple[str, str, str]]) -> None:
    """Count the leads given per (pool prefix, product line, dealer): the fairness rule's input."""
    if not added:
        return
    ordered = sorted(added.items())
    await execute(
        session,
        WRITE_POOLS_SQL,
        [p for (p, _, _), _ in ordered],
        [line for (_, line, _), _ in ordered],
        [d for (_, _, d), _ in ordered],
        [n for _, n in ordered],
    )


def customer_exists_warning() -> Warning_:
    """domain.md §3: another dealer entering an existing customer is told so, and the record is saved."""
    return Warning_(
        code="customer_exists", message="This customer already exists; the record was saved and linked to it."
    )


def decided_lead(
    *,
    submitted: LeadSubmitted,
    customer_id: str,
    entrant: str,
    assignment: Assignment,
    region: str,
    product_line: str | None,
    explanation: dict[str, Any],
) -> DecidedLead:
    """The lead row for a routed record."""
    record = submitted.record
    customer, intent = record["customer"], record.get("purchase_intent") or {}
    return DecidedLead(
        lead_id=submitted.lead_id,
        customer_id=customer_id,
        entered_by=submitted.entered_by,
        entrant_key=entrant,
        assigned_dealer=assignment.assigned_dealer,
        authorized_dealer=assignment.authorized_dealer,
        status="open",
        cross_region=assignment.cross_region,
        reward_eligible=assignment.reward_eligible,
        tier=customer["tier"],
        nature=customer["nature"],
        region_code=region,
        product_line=product_line,
        horizon=intent.get("horizon"),
        intent_quantity=intent.get("quantity"),
        source=submitted.source,
        network_code=submitted.network_code,
        protection_until=assignment.protection_until,
        rule=assignment.rule,
        explanation={**explanation, "assignment": assignment.as_dict()},
        entered_at=submitted.submitted_at,
        version=1,
    )


def possible_duplicate_warning(
    *, keys: DuplicateKeys, candidates: dict[str, DuplicateKeys]
) -> tuple[Warning_, dict[str, Any]] | None:
    """The strongest candidate as the warning and the audit entry a verdict carries (keys and strength, no PII)."""
    best = strongest_match(new=keys, candidates=candidates)
    if best is None:
        return None
    match_id, match = best
    if match.warning is None:
        return None
    warning = Warning_(
        code=match.warning["code"],
        message=match.warning["message"],
        matched=list(match.matched),
        strength=match.strength,
    )
    return warning, {"customer_id": match_id, "matched": list(match.matched), "strength": match.strength}


def _update_customer(
    customer: Customer, *, lead: DecidedLead, keys: DuplicateKeys, is_new: bool, now: datetime
) -> None:
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
    return [
        SimpleNamespace(brand=v.get("brand") or "", model=v.get("model") or "", quantity=v.get("quantity") or 0)
        for v in vehicles
    ]
