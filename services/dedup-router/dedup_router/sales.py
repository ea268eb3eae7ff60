"""Reported sales: find the buyer by phone, sell each VIN once, attribute, announce; cancel; Idempotency-Key.

The attribution rules themselves are `sales_attribution.py`; this module does the reads and writes around them in
the caller's transaction. Decisions on what the contract leaves open:
- an invalid phone → 422 `validation_failed` (`/customer_phone` `invalid_phone`); a valid phone of no registered
  customer → 422 (`/customer_phone` `unknown_customer`): the buyer must be entered as a record first, and a 404
  would read as "the sale does not exist";
- `supplied_by` defaults to the seller; an unknown dealer code → 422 (`/supplied_by` `unknown_dealer`);
- a VIN already in a standing sale (pending or attributed) → 409 `vin_already_sold` (`vins` lists them); a
  rejected or cancelled sale frees its VINs;
- every VIN is checked against the maker's registry (`vehicles.py`) and its product line and model come from there;
  the request's `model` and `product_line` are accepted for compatibility and ignored;
- more vehicles than the record's intended quantity (none stated: one) wait for HQ's confirmation, even when the
  supplier would otherwise confirm (HQ confirms both).
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.dealer_index import DealerIndexCache, current_index
from dedup_router.events import (
    publish_sale_attributed,
    publish_sale_cancelled,
    publish_sale_pending_confirmation,
    publish_sale_rejected,
)
from dedup_router.models import Dealer, RoutedLead, Sale, SaleIdempotencyKey, SoldVehicle, Vehicle
from dedup_router.repository.customers import customer_by_id, customer_by_phone
from dedup_router.repository.dealers import dealer_by_code
from dedup_router.repository.leads import lead_by_id, open_leads_of_customer
from dedup_router.repository.sales import (
    insert_sale,
    leads_with_reward,
    release_vehicles,
    sale_by_id,
    sold_vins,
    vehicles_in_standing_sales,
    vehicles_of_sale,
)
from dedup_router.repository.vehicles import vehicles_by_vin
from dedup_router.sales_attribution import LeadView, VehicleView, attribute_sale
from dedup_router.schemas import SaleIn
from dedup_router.vin import is_valid_vin
from leadnet_shared.auth import Principal
from leadnet_shared.idempotency import IdempotencyKeys
from leadnet_shared.outbox import Outbox
from leadnet_shared.phone import InvalidPhone, normalize_phone
from leadnet_shared.policy import PURCHASE_REWARD
from leadnet_shared.problems import Conflict, FieldProblem, Forbidden, NotFound, ValidationFailed, json_pointer

VIN_ALREADY_SOLD = "vin_already_sold"
INVALID_VIN = "invalid_vin"
UNKNOWN_VIN = "unknown_vin"
VIN_NOT_HELD = "vin_not_held"
INVALID_SOLD_AT = "invalid_sold_at"
UNKNOWN_CUSTOMER = "unknown_customer"

SALE_KEYS = IdempotencyKeys(
    SaleIdempotencyKey.__table__,  # type: ignore[arg-type]
    route="sales",
    dealers=Dealer.__table__,  # type: ignore[arg-type]
)


# What a reward still waits for before the ledger posts it (the sale's answer never promises more than that).
AWAITS_CONFIRMATION = "sale_confirmation"  # the supplying dealer or HQ confirms the sale
AWAITS_RECORD_VERIFICATION = "record_verification"  # the ledger pays once the record is verified (at once if it is)
STANDING = ("pending_confirmation", "attributed")
HQ_CONFIRMS = "hq"
# No sale of this system's vehicles happened before this; an older sold_at is a typo or a probe (year 0001).
SOLD_AT_FLOOR = datetime(2000, 1, 1, tzinfo=UTC)


def sale_body(sale: Sale) -> dict[str, Any]:
    """The 201 body (and GET /v1/sales/{id}); ids and dealer codes only.

    The rewards are the claims the ledger will pay on this sale, each with what it still waits for; a rejected or
    cancelled sale claims nothing."""
    waits = ([AWAITS_CONFIRMATION] if sale.status == "pending_confirmation" else []) + [AWAITS_RECORD_VERIFICATION]
    rewards = [{**r, "pending_on": waits} for r in sale.rewards] if sale.status in STANDING else []
    return {
        "sale_id": sale.sale_id,
        "customer_id": sale.customer_id,
        "attributed_lead_id": sale.attributed_lead_id,
        "seller": sale.seller,
        "supplied_by": sale.supplied_by,
        "sold_at": sale.sold_at.isoformat(),
        "credited_dealer": sale.credited_dealer,
        "cross_region_exempt": sale.cross_region_exempt,
        "violation": sale.violation,
        "rewards": rewards,
        "status": sale.status,
        "awaiting_confirmation_by": sale.confirmer if sale.status == "pending_confirmation" else None,
        "decided_at": sale.decided_at.isoformat() if sale.decided_at else None,
        "cancelled_at": sale.cancelled_at.isoformat() if sale.cancelled_at else None,
    }


def _lead_view(lead: RoutedLead) -> LeadView:
    """What attribution reads of a lead: the row's columns of the same names."""
    return LeadView(**{f.name: getattr(lead, f.name) for f in dataclasses.fields(LeadView)})


async def registered_vehicles(
    session: AsyncSession, *, body: SaleIn, seller: str, supplied_by: str
) -> tuple[dict[str, Vehicle], list[FieldProblem]]:
    """The registry rows of the sale's VINs, and a problem for every VIN that is malformed, unknown or held by
    neither the seller nor the supplier (all at once, each at its pointer)."""
    problems: list[FieldProblem] = []
    valid = [v.vin for v in body.vehicles if is_valid_vin(v.vin)]
    rows = await vehicles_by_vin(session, valid)
    for i, vehicle in enumerate(body.vehicles):
        pointer = json_pointer("vehicles", i, "vin")
        row = rows.get(vehicle.vin)
        if not is_valid_vin(vehicle.vin):
            problems.append(
                FieldProblem(
                    pointer, INVALID_VIN, "Not a VIN: 17 characters without I, O, Q and a matching check digit."
                )
            )
        elif row is None:
            problems.append(FieldProblem(pointer, UNKNOWN_VIN, "The maker's vehicle registry has no such VIN."))
        elif row.delivered_to not in (seller, supplied_by):
            problems.append(
                FieldProblem(
                    pointer, VIN_NOT_HELD, "The registry holds this vehicle at neither the seller nor the supplier."
                )
            )
    return rows, problems


def sold_at_problems(sold_at: datetime, *, now: datetime, entered_at: datetime | None = None) -> list[FieldProblem]:
    """`sold_at` is a past instant, not before the record it is attributed to (the seller cannot backdate a sale
    into a protection period or before the record, nor date it ahead)."""
    if sold_at > now:
        return [FieldProblem("/sold_at", INVALID_SOLD_AT, "A sale cannot be dated in the future.")]
    if sold_at < SOLD_AT_FLOOR:
        return [FieldProblem("/sold_at", INVALID_SOLD_AT, f"A sale cannot be dated before {SOLD_AT_FLOOR:%Y}.")]
    if entered_at is not None and sold_at < entered_at:
        return [
            FieldProblem("/sold_at", INVALID_SOLD_AT, "The sale is dated before the customer's record was entered.")
        ]
    return []


async def record_sale(
    session: AsyncSession,
    outbox: Outbox,
    *,
    seller: str,
    body: SaleIn,
    now: datetime,
    dealers: DealerIndexCache | None = None,
) -> dict[str, Any]:
    """Check, save and attribute one sale; returns the 201 body.

    The vehicles are checked before the customer is looked up: a caller without real vehicles in stock learns
    nothing about which phone numbers are customers. A sale supplied by another dealer, or with more vehicles than
    the record intends to buy, waits for that dealer's (or HQ's) confirmation; only a confirmed sale is announced
    to the ledger."""
    problems: list[FieldProblem] = []
    phone = None
    try:
        phone = normalize_phone(body.customer_phone)
    except InvalidPhone as exc:
        problems.append(FieldProblem("/customer_phone", "invalid_phone", str(exc)))
    supplied_by = body.supplied_by or seller
    if await dealer_by_code(session, supplied_by) is None:
        problems.append(FieldProblem("/supplied_by", "unknown_dealer", "No dealer has this code."))
    registry, vehicle_problems = await registered_vehicles(session, body=body, seller=seller, supplied_by=supplied_by)
    problems += vehicle_problems + sold_at_problems(body.sold_at, now=now)
    if problems:
        raise _invalid(problems)
    # Locked: two sales of one customer are attributed one after the other (one purchase reward per lead).
    customer = await customer_by_phone(session, phone, for_update=True) if phone is not None else None
    if customer is None:
        raise _invalid(
            [
                FieldProblem(
                    "/customer_phone",
                    UNKNOWN_CUSTOMER,
                    "No registered customer has this phone; enter the record first.",
                )
            ]
        )

    vins = [v.vin for v in body.vehicles]
    sold = await sold_vins(session, vins)
    if sold:
        raise _vin_conflict(sold)

    leads = await open_leads_of_customer(session, customer.customer_id)
    claimed = await leads_with_reward(session, customer.customer_id, kind=PURCHASE_REWARD, standing=STANDING)
    index = await current_index(session, dealers)
    profiles = {code: p for code in {seller, supplied_by} if (p := index.dealer(code)) is not None}
    attribution = attribute_sale(
        seller=seller,
        supplied_by=supplied_by,
        sold_at=body.sold_at,
        region_code=customer.region_code,
        vehicles=[VehicleView(vin=vin, product_line=registry[vin].product_line) for vin in vins],
        leads=[_lead_view(lead) for lead in leads],
        dealers=profiles,
        customer_authorized_dealer=customer.authorized_dealer,
        purchase_rewards_claimed=claimed,
    )
    lead = next((x for x in leads if x.lead_id == attribution.attributed_lead_id), None)
    if lead is not None:
        late = sold_at_problems(body.sold_at, now=now, entered_at=lead.entered_at)
        if late:
            raise _invalid(late)
    confirmer = None
    if lead is not None and (
        await vehicles_in_standing_sales(session, lead.lead_id, standing=STANDING) + len(vins)
        > (lead.intent_quantity or 1)
    ):
        confirmer = HQ_CONFIRMS  # more vehicles than the record intends to buy: HQ looks at it first
    elif supplied_by != seller:
        confirmer = supplied_by
    sale = Sale(
        sale_id=str(uuid.uuid4()),
        customer_id=customer.customer_id,
        seller=seller,
        supplied_by=supplied_by,
        sold_at=body.sold_at,
        **dataclasses.asdict(attribution),  # the verdict, field for field
        status="attributed" if confirmer is None else "pending_confirmation",
        confirmer=confirmer,
        created_at=now,
    )
    vehicles = [
        SoldVehicle(
            sale_id=sale.sale_id,
            vin=vin,
            model=registry[vin].model,
            product_line=registry[vin].product_line,
            cancelled=False,
        )
        for vin in vins
    ]
    try:
        await insert_sale(session, sale, vehicles)
    except IntegrityError:
        # Another sale of one of these VINs committed between our check and our insert.
        raise _vin_conflict(vins) from None
    if confirmer is None:
        await publish_sale_attributed(
            session, outbox, sale=sale, vehicles=vehicles, lead=lead, region_code=customer.region_code, now=now
        )
    else:  # the notifier tells the confirmer; a dashboard counts the sales waiting
        await publish_sale_pending_confirmation(
            session, outbox, sale=sale, vehicles=vehicles, region_code=customer.region_code, now=now
        )
    return sale_body(sale)


def _invalid(problems: list[FieldProblem]) -> ValidationFailed:
    return ValidationFailed("The request has field problems; see errors.", errors=problems)


def _vin_conflict(vins: list[str]) -> Conflict:
    error = Conflict("A vehicle in this sale has already been sold.", code=VIN_ALREADY_SOLD, extra={"vins": vins})
    error.title = "VIN already sold"
    return error


async def cancel_sale(session: AsyncSession, outbox: Outbox, *, sale_id: str, now: datetime) -> dict[str, Any]:
    """Cancel a sale: its VINs are sellable again and the ledger reverses what it posted for it."""
    sale = await sale_by_id(session, sale_id, for_update=True)
    if sale is None:
        raise NotFound("No such sale.")
    if sale.status not in STANDING:
        raise Conflict(f"This sale is already {sale.status}.", code=f"sale_already_{sale.status}")
    # A pending sale was announced as pending only: the ledger paid nothing on it (`was_pending` says so), and a
    # dashboard closes it.
    was_pending = sale.status == "pending_confirmation"
    sale.status, sale.cancelled_at = "cancelled", now
    await release_vehicles(session, sale_id)
    await publish_sale_cancelled(session, outbox, sale=sale, now=now, was_pending=was_pending)
    return sale_body(sale)


def may_decide(sale: Sale, principal: Principal) -> bool:
    """The dealer the sale waits for, or hq_admin (the only one who confirms a sale waiting for HQ)."""
    if principal.role == "hq_admin":
        return True
    return principal.role == "dealer" and sale.confirmer != HQ_CONFIRMS and sale.confirmer == principal.dealer


async def decide_sale(
    session: AsyncSession,
    outbox: Outbox,
    *,
    sale_id: str,
    principal: Principal,
    confirm: bool,
    now: datetime,
) -> dict[str, Any]:
    """Confirm (the sale is attributed and announced: the ledger may pay on it) or reject (its VINs are free again,
    nothing is ever paid) a pending sale. 404 for anyone who may not see it, 403 for its seller."""
    sale = await sale_by_id(session, sale_id, for_update=True)
    if sale is None or not (
        may_decide(sale, principal)
        or principal.is_hq
        or (principal.role == "dealer" and principal.dealer in (sale.seller, sale.supplied_by))
    ):
        raise NotFound("No such sale.")
    if not may_decide(sale, principal):
        raise Forbidden("Only the supplying dealer (or HQ) confirms or rejects this sale.", code="not_confirmer")
    if sale.status != "pending_confirmation":
        raise Conflict(f"This sale is {sale.status}, not waiting for confirmation.", code="sale_not_pending")
    sale.decided_by, sale.decided_at = principal.sub, now
    decider = HQ_CONFIRMS if principal.is_hq else principal.dealer
    customer = await customer_by_id(session, sale.customer_id)
    region_code = customer.region_code if customer is not None else None
    if confirm:
        sale.status = "attributed"
        vehicles = await vehicles_of_sale(session, sale_id)
        lead = await lead_by_id(session, sale.attributed_lead_id) if sale.attributed_lead_id else None
        await session.flush()
        await publish_sale_attributed(
            session,
            outbox,
            sale=sale,
            vehicles=vehicles,
            lead=lead,
            region_code=region_code,
            now=now,
            confirmed_by=decider,
        )
    else:
        sale.status = "rejected"
        count = await release_vehicles(session, sale_id)
        await publish_sale_rejected(
            session,
            outbox,
            sale=sale,
            vehicle_count=count,
            region_code=region_code,
            rejected_by=decider or HQ_CONFIRMS,
            now=now,
        )
    return sale_body(sale)
