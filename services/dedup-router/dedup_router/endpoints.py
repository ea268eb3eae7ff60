"""dedup-router HTTP API: dealers (HQ manages them) and customers (masked per role)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from dedup_router.events import publish_dealer_upserted
from dedup_router.models import Customer, Dealer
from dedup_router.schemas import CustomerOut, CustomerPage, DealerIn, DealerOut, DealerPatch
from dedup_router.territories import normalize_territory, territory_problems
from leadnet_shared.app import runtime_of
from leadnet_shared.auth import Principal, bearer_principal, require_roles
from leadnet_shared.masking import mask_address, mask_name, mask_phone
from leadnet_shared.problems import Conflict, NotFound, ProblemCollector

router = APIRouter(prefix="/v1", tags=["router"])
Caller = Annotated[Principal, Depends(bearer_principal)]


def dealer_out(d: Dealer) -> DealerOut:
    return DealerOut(code=d.code, name=d.name, territories=list(d.territories), product_lines=list(d.product_lines),
                     capability=d.capability, sales_level=d.sales_level, status=d.status)


def _check_territories(territories: list[str]) -> list[str]:
    problems = ProblemCollector()
    problems.extend(territory_problems(territories))
    problems.raise_if_any()
    return sorted({normalize_territory(t) for t in territories})


@router.post("/dealers", status_code=201, response_model=DealerOut, summary="Register a dealer (hq_admin)")
async def create_dealer(body: DealerIn, request: Request, principal: Caller) -> DealerOut:
    require_roles(principal, "hq_admin")
    runtime = runtime_of(request)
    territories = _check_territories(body.territories)
    async with runtime.db.transaction() as session:
        if await session.get(Dealer, body.code) is not None:
            raise Conflict(f"Dealer {body.code} already exists.", code="dealer_exists")
        dealer = Dealer(code=body.code, name=body.name, territories=territories, product_lines=body.product_lines,
                        capability=body.capability, sales_level=body.sales_level, status="active")
        session.add(dealer)
        await session.flush()
        await publish_dealer_upserted(session, runtime.outbox, prefix=runtime.settings.topic_prefix, dealer=dealer,
                                      now=runtime.clock.now())
    return dealer_out(dealer)


@router.get("/dealers/{code}", response_model=DealerOut)
async def get_dealer(code: str, request: Request, principal: Caller) -> DealerOut:
    if principal.role == "dealer" and principal.dealer != code:
        raise NotFound("No such dealer.")
    async with runtime_of(request).db.sessions() as session:
        dealer = await session.get(Dealer, code)
    if dealer is None:
        raise NotFound("No such dealer.")
    return dealer_out(dealer)


@router.patch("/dealers/{code}", response_model=DealerOut, summary="Change a dealer (hq_admin)")
async def patch_dealer(code: str, body: DealerPatch, request: Request, principal: Caller) -> DealerOut:
    require_roles(principal, "hq_admin")
    runtime = runtime_of(request)
    changes = body.model_dump(exclude_unset=True)
    if "territories" in changes and changes["territories"] is not None:
        changes["territories"] = _check_territories(changes["territories"])
    async with runtime.db.transaction() as session:
        dealer = await session.get(Dealer, code, with_for_update=True)
        if dealer is None:
            raise NotFound("No such dealer.")
        for name, value in changes.items():
            if value is not None:
                setattr(dealer, name, value)
        await session.flush()
        await publish_dealer_upserted(session, runtime.outbox, prefix=runtime.settings.topic_prefix, dealer=dealer,
                                      now=runtime.clock.now())
    return dealer_out(dealer)


def customer_out(c: Customer, principal: Principal) -> CustomerOut:
    """HQ admin sees everything; a dealer sees a customer unmasked only while it is assigned to it."""
    unmasked = principal.sees_personal_data or (principal.role == "dealer" and c.assigned_dealer == principal.dealer)
    return CustomerOut(
        customer_id=c.customer_id,
        name=c.name if unmasked else mask_name(c.name),
        phone=c.phone if unmasked else mask_phone(c.phone),
        address=c.address if unmasked else mask_address(c.address),
        region_code=c.region_code, tier=c.tier, nature=c.nature, assigned_dealer=c.assigned_dealer,
        protected_by=c.protected_by, protection_until=c.protection_until, masked=not unmasked,
    )


@router.get("/customers/{customer_id}", response_model=CustomerOut)
async def get_customer(customer_id: str, request: Request, principal: Caller) -> CustomerOut:
    async with runtime_of(request).db.sessions() as session:
        customer = await session.get(Customer, customer_id)
    if customer is None or (principal.role == "dealer" and customer.assigned_dealer != principal.dealer):
        raise NotFound("No such customer.")
    return customer_out(customer, principal)


@router.get("/customers", response_model=CustomerPage)
async def list_customers(request: Request, principal: Caller,
                         assigned_dealer: str | None = None, cursor: str | None = None,
                         limit: Annotated[int, Query(ge=1, le=500)] = 50) -> CustomerPage:
    if principal.role == "dealer":
        if assigned_dealer not in (None, principal.dealer):
            return CustomerPage(items=[], next_cursor=None)
        assigned_dealer = principal.dealer
    query = select(Customer).order_by(Customer.customer_id).limit(limit + 1)
    if assigned_dealer:
        query = query.where(Customer.assigned_dealer == assigned_dealer)
    if cursor:
        query = query.where(Customer.customer_id > cursor)
    async with runtime_of(request).db.sessions() as session:
        rows = list((await session.execute(query)).scalars())
    page = rows[:limit]
    return CustomerPage(items=[customer_out(c, principal) for c in page],
                        next_cursor=page[-1].customer_id if len(rows) > limit else None)
