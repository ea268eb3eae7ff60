"""What dedup-router publishes, always masked on public topics."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.models import Customer, Dealer, DecidedLead, RoutedLead, Sale
from dedup_router.models import SoldVehicle as SoldVehicleRow
from leadnet_shared.events import (
    CustomerTierChanged,
    CustomerUpserted,
    DealerUpserted,
    DealerWithdrawn,
    EventData,
    FleetLine,
    LeadAccepted,
    LeadFacts,
    LeadReassigned,
    LeadRejected,
    LeadSubmitted,
    MaskedCustomer,
    RewardClaim,
    SaleAttributed,
    SaleCancelled,
    SalePendingConfirmation,
    SaleRejected,
    SoldVehicle,
    Warning_,
)
from leadnet_shared.masking import mask_address, mask_name, mask_phone
from leadnet_shared.outbox import Outbox


def masked(customer: Customer) -> MaskedCustomer:
    return _masked(customer.name, customer.phone, customer.address, customer.region_code)


# A decision publishes its customer twice in a row (lead accepted, customer upserted): a small cache masks it once
# and keeps only the last few customers' data in memory.
@functools.lru_cache(maxsize=64)
def _masked(name: str, phone: str, address: str, region_code: str | None) -> MaskedCustomer:
    # model_construct: the masking functions return strings or None, there is nothing to validate. The model is
    # shared by the events that carry it and never changed.
    return MaskedCustomer.model_construct(
        name=mask_name(name), phone=mask_phone(phone), address=mask_address(address, region_code)
    )


def fleet_summary(record: Mapping[str, Any] | None) -> list[FleetLine] | None:
    """The vehicles in use without personal data: the scheduler plans repurchase reminders from them."""
    vehicles = (record or {}).get("vehicles_in_use")
    if not vehicles:
        return None
    return [
        FleetLine(brand=v.get("brand"), model=v.get("model"), quantity=int(v.get("quantity") or 0)) for v in vehicles
    ]


# The facts every lead event repeats (accepted, reassigned: the catalogue's LeadFacts), read off the lead row; the
# ledger and the scheduler keep the newest lead_version's (the row's `version`).
_LEAD_FACTS = tuple(name for name in LeadFacts.model_fields if name not in {"type", "lead_version"})
_SALE_PARTIES = ("sale_id", "customer_id", "seller", "supplied_by")
# The registry facts of a customer the customers topic carries beside its masked data.
_CUSTOMER_FACTS = ("customer_id", "region_code", "tier", "assigned_dealer", "protected_by", "protection_until")
# What a dealer is, as the API shows it and the dealers topic carries it.
DEALER_FIELDS = ("code", "name", "territories", "product_lines", "capability", "sales_level", "party_type", "status")


def lead_facts(lead: RoutedLead | DecidedLead) -> dict[str, Any]:
    return {name: getattr(lead, name) for name in _LEAD_FACTS} | {"lead_version": lead.version}


def dealer_fields(dealer: Dealer) -> dict[str, Any]:
    fields = {name: getattr(dealer, name) for name in DEALER_FIELDS}
    return fields | {"territories": list(dealer.territories), "product_lines": list(dealer.product_lines)}


async def _publish(session: AsyncSession, outbox: Outbox, data: EventData, *, key: str, now: datetime) -> None:
    """Every event of the router is about one aggregate, its key and its subject (contract.md "Events")."""
    await outbox.publish(session, data, key=key, subject=key, time=now)


async def publish_lead_accepted(
    session: AsyncSession,
    outbox: Outbox,
    *,
    lead: RoutedLead | DecidedLead,
    customer: Customer,
    customer_existed: bool,
    warnings: list[Warning_],
    now: datetime,
    record: Mapping[str, Any] | None = None,
) -> None:
    # The hot path of routing (twice per decision with customer.upserted): built from typed ORM values and
    # checked models, so pydantic's validation is skipped; the payload is serialized by the same schema.
    data = LeadAccepted.model_construct(
        **lead_facts(lead),
        customer_existed=customer_existed,
        protection_until=lead.protection_until,
        accepted_at=now,
        rule=lead.rule,
        warnings=warnings,
        customer=masked(customer),
        fleet=fleet_summary(record),
        customer_tier=customer.tier,
    )
    await _publish(session, outbox, data, key=lead.customer_id, now=now)


async def publish_customer_tier_changed(session: AsyncSession, outbox: Outbox, *, event: CustomerTierChanged) -> None:
    """The decision of `customer_tiers`: ids and tiers, nothing personal."""
    await _publish(session, outbox, event, key=event.customer_id, now=event.changed_at)


async def publish_lead_rejected(
    session: AsyncSession,
    outbox: Outbox,
    *,
    submitted: LeadSubmitted,
    customer_id: str,
    existing_lead_id: str,
    existing_assigned_dealer: str | None,
    product_line: str | None,
    now: datetime,
) -> None:
    """The entrant's own open lead refuses its record again. What the record said (county adcode, line, tier,
    source, network) rides along masked, and the holder of that earlier lead (the entrant already sees it there)."""
    customer = submitted.record["customer"]
    data = LeadRejected(
        lead_id=submitted.lead_id,
        customer_id=customer_id,
        entered_by=submitted.entered_by,
        reason="duplicate_lead",
        existing_lead_id=existing_lead_id,
        rejected_at=now,
        region_code=customer.get("region_code"),
        product_line=product_line,
        tier=customer.get("tier"),
        source=submitted.source,
        network_code=submitted.network_code,
        assigned_dealer=existing_assigned_dealer,
    )
    await _publish(session, outbox, data, key=customer_id, now=now)


async def publish_customer_upserted(
    session: AsyncSession, outbox: Outbox, *, customer: Customer, now: datetime
) -> None:
    facts = {name: getattr(customer, name) for name in _CUSTOMER_FACTS}
    data = CustomerUpserted.model_construct(**facts, customer=masked(customer), updated_at=now)
    await _publish(session, outbox, data, key=customer.customer_id, now=now)


async def publish_dealer_upserted(session: AsyncSession, outbox: Outbox, *, dealer: Dealer, now: datetime) -> None:
    await _publish(session, outbox, DealerUpserted(**dealer_fields(dealer), updated_at=now), key=dealer.code, now=now)


async def publish_lead_reassigned(
    session: AsyncSession, outbox: Outbox, *, lead: RoutedLead, from_dealer: str | None, reason: str, now: datetime
) -> None:
    """One event per moved lead, so the scheduler moves its tasks and the old dealer's view updates."""
    data = LeadReassigned(
        **lead_facts(lead), from_dealer=from_dealer, to_dealer=lead.assigned_dealer, reason=reason, reassigned_at=now
    )
    await _publish(session, outbox, data, key=lead.customer_id, now=now)


async def publish_dealer_withdrawn(
    session: AsyncSession, outbox: Outbox, *, code: str, reassigned: int, unplaced: int, now: datetime
) -> None:
    data = DealerWithdrawn(code=code, withdrawn_at=now, reassigned=reassigned, unplaced=unplaced)
    await _publish(session, outbox, data, key=code, now=now)


def _sale_parties(sale: Sale) -> dict[str, Any]:
    """Which sale, whose, and who sold and supplied it: every sale event names them."""
    return {name: getattr(sale, name) for name in _SALE_PARTIES}


async def publish_sale_attributed(
    session: AsyncSession,
    outbox: Outbox,
    *,
    sale: Sale,
    vehicles: list[SoldVehicleRow],
    lead: RoutedLead | None,
    region_code: str | None,
    now: datetime,
    confirmed_by: str | None = None,
) -> None:
    """What the ledger needs to post (or refuse) the rewards; ids, dealer codes and the customer's county adcode
    only, no personal data."""
    data = SaleAttributed(
        **_sale_parties(sale),
        attributed_lead_id=sale.attributed_lead_id,
        lead_entered_by=lead.entered_by if lead else None,
        lead_cross_region=lead.cross_region if lead else False,
        lead_tier=lead.tier if lead else None,
        lead_verified=False,  # the router does not learn verification; the ledger gates on its own knowledge
        credited_dealer=sale.credited_dealer,
        cross_region_exempt=sale.cross_region_exempt,
        violation=sale.violation,
        sold_at=sale.sold_at,
        vehicles=[SoldVehicle(vin=v.vin, model=v.model, product_line=v.product_line) for v in vehicles],
        rewards=[RewardClaim.model_validate(r) for r in sale.rewards],
        region_code=region_code,
        confirmed_by=confirmed_by,
        confirmed_at=sale.decided_at if confirmed_by else None,
    )
    await _publish(session, outbox, data, key=sale.customer_id, now=now)


async def publish_sale_cancelled(
    session: AsyncSession, outbox: Outbox, *, sale: Sale, now: datetime, was_pending: bool = False
) -> None:
    data = SaleCancelled(sale_id=sale.sale_id, customer_id=sale.customer_id, cancelled_at=now, was_pending=was_pending)
    await _publish(session, outbox, data, key=sale.customer_id, now=now)


async def publish_sale_pending_confirmation(
    session: AsyncSession,
    outbox: Outbox,
    *,
    sale: Sale,
    vehicles: list[SoldVehicleRow],
    region_code: str | None,
    now: datetime,
) -> None:
    """A sale waits for its confirmer (the supplying dealer, or HQ): ids, codes and counts, keyed by customer."""
    assert sale.confirmer is not None and sale.supplied_by is not None
    lines = sorted({v.product_line for v in vehicles if v.product_line})
    data = SalePendingConfirmation(
        **_sale_parties(sale),
        confirmer=sale.confirmer,
        attributed_lead_id=sale.attributed_lead_id,
        region_code=region_code,
        product_line=lines[0] if len(lines) == 1 else None,
        product_lines=lines,
        vehicle_count=len(vehicles),
        sold_at=sale.sold_at,
        reported_at=now,
    )
    await _publish(session, outbox, data, key=sale.customer_id, now=now)


async def publish_sale_rejected(
    session: AsyncSession,
    outbox: Outbox,
    *,
    sale: Sale,
    vehicle_count: int,
    region_code: str | None,
    rejected_by: str,
    now: datetime,
) -> None:
    """A pending sale rejected by its confirmer: nothing is paid on it; the dashboard closes it."""
    data = SaleRejected(
        **_sale_parties(sale),
        rejected_by=rejected_by,
        region_code=region_code,
        vehicle_count=vehicle_count,
        rejected_at=now,
    )
    await _publish(session, outbox, data, key=sale.customer_id, now=now)
