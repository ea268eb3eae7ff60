"""Reported sales: find the buyer by phone, sell each VIN once, attribute, announce; cancel; Idempotency-Key.

The attribution rules themselves are `sales_attribution.py`; this module does the reads and writes around them in
the caller's transaction. Decisions on what the contract leaves open:
- an invalid phone → 422 `validation_failed` (`/customer_phone` `invalid_phone`); a valid phone of no registered
  customer → 422 (`/customer_phone` `unknown_customer`): the buyer must be entered as a record first, and a 404
  would read as "the sale does not exist";
- `supplied_by` defaults to the seller; an unknown dealer code → 422 (`/supplied_by` `unknown_dealer`);
- a VIN already in a standing sale → 409 `vin_already_sold` (`vins` lists them); a cancelled sale frees its VINs.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.dealer_index import DealerIndexCache, load_index
from dedup_router.events import publish_sale_attributed, publish_sale_cancelled
from dedup_router.models import Customer, Dealer, RoutedLead, Sale, SaleIdempotencyKey, SoldVehicle
from dedup_router.phone import InvalidPhone, normalize_phone
from dedup_router.sales_attribution import PURCHASE_REWARD, LeadView, VehicleView, attribute_sale
from dedup_router.schemas import SaleIn
from leadnet_shared.idempotency import IdempotencyKeys
from leadnet_shared.outbox import Outbox
from leadnet_shared.problems import Conflict, FieldProblem, NotFound, ValidationFailed

VIN_ALREADY_SOLD = "vin_already_sold"
SALE_KEYS = IdempotencyKeys(SaleIdempotencyKey.__table__)  # type: ignore[arg-type]


def sale_body(sale: Sale) -> dict[str, Any]:
    """The 201 body (and GET /v1/sales/{id}); ids and dealer codes only."""
    return {
        "sale_id": sale.sale_id, "customer_id": sale.customer_id, "attributed_lead_id": sale.attributed_lead_id,
        "seller": sale.seller, "supplied_by": sale.supplied_by, "sold_at": sale.sold_at.isoformat(),
        "credited_dealer": sale.credited_dealer, "cross_region_exempt": sale.cross_region_exempt,
        "violation": sale.violation, "rewards": list(sale.rewards), "status": sale.status,
        "cancelled_at": sale.cancelled_at.isoformat() if sale.cancelled_at else None,
    }


def _lead_view(lead: RoutedLead) -> LeadView:
    return LeadView(lead_id=lead.lead_id, entered_by=lead.entered_by, assigned_dealer=lead.assigned_dealer,
                    authorized_dealer=lead.authorized_dealer, cross_region=lead.cross_region,
                    reward_eligible=lead.reward_eligible, protection_until=lead.protection_until,
                    entered_at=lead.entered_at, product_line=lead.product_line)


async def record_sale(session: AsyncSession, outbox: Outbox, *, seller: str, body: SaleIn, now: datetime,
                      prefix: str, dealers: DealerIndexCache | None = None) -> dict[str, Any]:
    """Save and attribute one sale; returns the 201 body."""
    problems: list[FieldProblem] = []
    phone = None
    try:
        phone = normalize_phone(body.customer_phone)
    except InvalidPhone as exc:
        problems.append(FieldProblem("/customer_phone", "invalid_phone", str(exc)))
    supplied_by = body.supplied_by or seller
    if await session.get(Dealer, supplied_by) is None:
        problems.append(FieldProblem("/supplied_by", "unknown_dealer", "No dealer has this code."))
    customer = None
    if phone is not None:
        # Locked: two sales of one customer are attributed one after the other (one purchase reward per lead).
        customer = (await session.execute(
            select(Customer).where(Customer.phone == phone).with_for_update())).scalar_one_or_none()
        if customer is None:
            problems.append(FieldProblem("/customer_phone", "unknown_customer",
                                         "No registered customer has this phone; enter the record first."))
    if problems or customer is None:
        raise ValidationFailed("The request has field problems; see errors.", errors=problems)

    vins = [v.vin for v in body.vehicles]
    sold = sorted((await session.execute(
        select(SoldVehicle.vin).where(SoldVehicle.vin.in_(vins), SoldVehicle.cancelled.is_(False))
    )).scalars())
    if sold:
        raise _vin_conflict(sold)

    leads = list((await session.execute(
        select(RoutedLead).where(RoutedLead.customer_id == customer.customer_id, RoutedLead.status == "open")
    )).scalars())
    claimed = frozenset((await session.execute(
        select(Sale.attributed_lead_id).where(
            Sale.customer_id == customer.customer_id, Sale.status == "attributed",
            Sale.rewards.contains([{"kind": PURCHASE_REWARD}]))
    )).scalars())
    index = await dealers.get(session) if dealers is not None else await load_index(session)
    profiles = {code: p for code in {seller, supplied_by} if (p := index.dealer(code)) is not None}
    attribution = attribute_sale(
        seller=seller, supplied_by=supplied_by, sold_at=body.sold_at, region_code=customer.region_code,
        vehicles=[VehicleView(vin=v.vin, product_line=v.product_line) for v in body.vehicles],
        leads=[_lead_view(lead) for lead in leads], dealers=profiles,
        customer_authorized_dealer=customer.authorized_dealer,
        purchase_rewards_claimed=frozenset(c for c in claimed if c is not None),
    )
    sale = Sale(sale_id=str(uuid.uuid4()), customer_id=customer.customer_id, seller=seller, supplied_by=supplied_by,
                sold_at=body.sold_at, attributed_lead_id=attribution.attributed_lead_id,
                credited_dealer=attribution.credited_dealer, cross_region_exempt=attribution.cross_region_exempt,
                violation=attribution.violation, rewards=attribution.rewards, explanation=attribution.explanation,
                status="attributed", created_at=now)
    vehicles = [SoldVehicle(sale_id=sale.sale_id, vin=v.vin, model=v.model, product_line=v.product_line,
                            cancelled=False) for v in body.vehicles]
    try:
        async with session.begin_nested():
            session.add(sale)
            session.add_all(vehicles)
            await session.flush()
    except IntegrityError:
        # Another sale of one of these VINs committed between our check and our insert.
        raise _vin_conflict(vins) from None
    lead = next((x for x in leads if x.lead_id == sale.attributed_lead_id), None)
    await publish_sale_attributed(session, outbox, prefix=prefix, sale=sale, vehicles=vehicles, lead=lead, now=now)
    return sale_body(sale)


def _vin_conflict(vins: list[str]) -> Conflict:
    error = Conflict("A vehicle in this sale has already been sold.", code=VIN_ALREADY_SOLD, extra={"vins": vins})
    error.title = "VIN already sold"
    return error


async def cancel_sale(session: AsyncSession, outbox: Outbox, *, sale_id: str, now: datetime,
                      prefix: str) -> dict[str, Any]:
    """Cancel a sale: its VINs are sellable again and the ledger reverses what it posted for it."""
    sale = await session.get(Sale, sale_id, with_for_update=True)
    if sale is None:
        raise NotFound("No such sale.")
    if sale.status == "cancelled":
        raise Conflict("This sale is already cancelled.", code="sale_already_cancelled")
    sale.status, sale.cancelled_at = "cancelled", now
    await session.execute(update(SoldVehicle).where(SoldVehicle.sale_id == sale_id).values(cancelled=True))
    await session.flush()
    await publish_sale_cancelled(session, outbox, prefix=prefix, sale=sale, now=now)
    return sale_body(sale)
