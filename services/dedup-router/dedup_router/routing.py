"""The routing rules' shared pieces: the lead row a decision writes, its warnings, the registry update (the pool
counts are `repository/pools.py`). The decision itself is `batch_routing.route_leads` (the only one: a single
record is a batch of one).
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from dedup_router.cross_region import Assignment
from dedup_router.models import Customer, DecidedLead
from dedup_router.possible_duplicates import DuplicateKeys, strongest_match
from leadnet_shared.events import LeadSubmitted, Warning_

HQ_ENTRANT = "hq"


class DealersChanged(RuntimeError):
    """A dealer chosen for this lead was withdrawn meanwhile: decide again with the current dealers."""


def customer_exists_warning() -> Warning_:
    """domain.md §3: another dealer entering an existing customer is told so, and the record is saved."""
    return Warning_(
        code="customer_exists", message="This customer already exists; the record was saved and linked to it."
    )


# The verdict's fields, every one kept by the lead row as it is.
_ASSIGNED = tuple(f.name for f in fields(Assignment))


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
        **{name: getattr(assignment, name) for name in _ASSIGNED},
        status="open",
        tier=customer["tier"],
        nature=customer["nature"],
        region_code=region,
        product_line=product_line,
        horizon=intent.get("horizon"),
        intent_quantity=intent.get("quantity"),
        source=submitted.source,
        network_code=submitted.network_code,
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
