"""dedup-router HTTP API: dealers (HQ manages them), customers (masked per role), protection, withdrawal, sales."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import ORJSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.confidentiality import ACCESS_LOG, customer_out
from dedup_router.erasure import erase_customer
from dedup_router.events import dealer_fields, publish_dealer_upserted
from dedup_router.hq_queue import assign_queued_customer, reroute_queued_customers
from dedup_router.models import Dealer
from dedup_router.protection import protection_status
from dedup_router.rate_limit import limit_protection_lookups, limit_sales
from dedup_router.redistribution import redistribute_withdrawn_dealer
from dedup_router.repository.customers import customer_by_phone, page_of_visible_customers, visible_customer
from dedup_router.repository.dealers import add_dealer, bump_dealers_version, dealer_by_code
from dedup_router.repository.sales import sale_by_id
from dedup_router.sales import SALE_KEYS, cancel_sale, record_sale, sale_body
from dedup_router.schemas import (
    AssignIn,
    CustomerOut,
    CustomerPage,
    DealerChangeOut,
    DealerIn,
    DealerOut,
    DealerPatch,
    ProtectionLookupIn,
    ProtectionOut,
    SaleIn,
    SaleOut,
    WithdrawalOut,
)
from dedup_router.state import dealer_cache
from dedup_router.territories import normalize_territory, territory_problems
from dedup_router.visibility import SALES, own_dealer
from leadnet_shared.access_log import endpoint_of
from leadnet_shared.app import Runtime, runtime_of
from leadnet_shared.auth import Principal, bearer_principal, require_roles
from leadnet_shared.idempotency import Answer, IdempotencyKeyHeader
from leadnet_shared.pagination import PageParams
from leadnet_shared.phone import InvalidPhone, normalize_phone
from leadnet_shared.problems import Conflict, FieldProblem, NotFound, ProblemCollector, ValidationFailed, problem_docs

router = APIRouter(prefix="/v1", tags=["router"])
Caller = Annotated[Principal, Depends(bearer_principal)]


def dealer_out(d: Dealer) -> DealerOut:
    return DealerOut(**dealer_fields(d))


def _check_territories(territories: list[str]) -> list[str]:
    problems = ProblemCollector()
    problems.extend(territory_problems(territories))
    problems.raise_if_any()
    return sorted({normalize_territory(t) for t in territories})


async def _dealer_changed(session: AsyncSession, runtime: Runtime, dealer: Dealer, *, reroute: bool) -> DealerChangeOut:
    """A dealer written (registered or changed): every replica's index is rebuilt (the version bump), the dealers
    topic told, and with `reroute` the HQ queue in its territories placed again."""
    await bump_dealers_version(session)
    await session.flush()
    await publish_dealer_upserted(session, runtime.outbox, dealer=dealer, now=runtime.clock.now())
    rerouted = 0
    if reroute:
        rerouted = await reroute_queued_customers(
            session, runtime.outbox, territories=list(dealer.territories), now=runtime.clock.now()
        )
    return DealerChangeOut(**dealer_out(dealer).model_dump(), rerouted_from_queue=rerouted)


@router.post(
    "/dealers", status_code=201, summary="Register a dealer (hq_admin)", responses=problem_docs({409: "dealer_exists"})
)
async def create_dealer(body: DealerIn, request: Request, principal: Caller) -> DealerChangeOut:
    """The new dealer's territories pick up the customers waiting in the HQ queue there (hq_queue.py)."""
    require_roles(principal, "hq_admin")
    runtime = runtime_of(request)
    territories = _check_territories(body.territories)
    async with runtime.db.transaction() as session:
        if await dealer_by_code(session, body.code) is not None:
            raise Conflict(f"Dealer {body.code} already exists.", code="dealer_exists")
        dealer = Dealer(
            **body.model_dump(exclude={"territories"}),
            territories=territories,
            status="active",
            updated_at=runtime.clock.now(),
        )
        await add_dealer(session, dealer)
        out = await _dealer_changed(session, runtime, dealer, reroute=True)
    dealer_cache(runtime).invalidate()
    return out


@router.get("/dealers/{code}", responses=problem_docs({404: "not_found"}))
async def get_dealer(code: str, request: Request, principal: Caller) -> DealerOut:
    own_dealer(principal, code)
    async with runtime_of(request).db.sessions() as session:
        dealer = await dealer_by_code(session, code)
    if dealer is None:
        raise NotFound("No such dealer.")
    return dealer_out(dealer)


@router.patch("/dealers/{code}", summary="Change a dealer (hq_admin)", responses=problem_docs({404: "not_found"}))
async def patch_dealer(code: str, body: DealerPatch, request: Request, principal: Caller) -> DealerChangeOut:
    """A territory or product line gained picks up the customers waiting in the HQ queue it now covers."""
    require_roles(principal, "hq_admin")
    runtime = runtime_of(request)
    changes = body.model_dump(exclude_unset=True)
    if "territories" in changes and changes["territories"] is not None:
        changes["territories"] = _check_territories(changes["territories"])
    async with runtime.db.transaction() as session:
        dealer = await dealer_by_code(session, code, for_update=True)
        if dealer is None:
            raise NotFound("No such dealer.")
        for name, value in changes.items():
            if value is not None:
                setattr(dealer, name, value)
        dealer.updated_at = runtime.clock.now()
        widened = "territories" in changes or "product_lines" in changes
        out = await _dealer_changed(session, runtime, dealer, reroute=dealer.status == "active" and widened)
    dealer_cache(runtime).invalidate()
    return out


@router.post(
    "/dealers/{code}/withdraw",
    summary="Withdraw a dealer and redistribute its customers and open leads (hq_admin)",
    responses=problem_docs({404: "not_found", 409: "dealer_already_withdrawn"}),
)
async def withdraw_dealer(
    code: str,
    request: Request,
    principal: Caller,
    dry_run: Annotated[bool, Query(description="Only return the plan")] = False,
) -> WithdrawalOut:
    """By region, then product line, then capability; unplaced items wait in the HQ queue."""
    require_roles(principal, "hq_admin")
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        result = await redistribute_withdrawn_dealer(
            session, runtime.outbox, code=code, now=runtime.clock.now(), dry_run=dry_run
        )
    dealer_cache(runtime).invalidate()
    return WithdrawalOut.model_validate(result)


@router.get("/customers/{customer_id}", responses=problem_docs({404: "not_found"}))
async def get_customer(customer_id: str, request: Request, principal: Caller) -> CustomerOut:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        customer = await visible_customer(session, customer_id, principal)
        if customer is None:
            raise NotFound("No such customer.")
        out = customer_out(customer, principal)
        if not out.masked:
            await ACCESS_LOG.record(
                session,
                principal=principal,
                endpoint=endpoint_of(request),
                at=runtime.clock.now(),
                customer_ids=[customer.customer_id],
            )
    return out


@router.delete(
    "/customers/{customer_id}",
    status_code=204,
    summary="Erase a customer's personal data everywhere (hq_admin; PIPL erasure request)",
    responses=problem_docs({403: "forbidden (only hq_admin)", 404: "not_found"}),
)
async def erase_customer_endpoint(customer_id: str, request: Request, principal: Caller) -> Response:
    """Done in the router when answered (the customer is gone from the registry and every read); intake and the
    scheduler forget it when they read `leadnet.customer.erased` (seconds). A repeated request answers 204 again."""
    require_roles(principal, "hq_admin")
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        result = await erase_customer(
            session, runtime.outbox, customer_id=customer_id, erased_by=principal.sub[:200], now=runtime.clock.now()
        )
    if result is None:
        raise NotFound("No such customer.")
    return Response(status_code=204)


@router.get("/customers")
async def list_customers(
    request: Request,
    principal: Caller,
    assigned_dealer: str | None = None,
    queue: Annotated[Literal["hq"] | None, Query(description="`hq`: customers waiting in the HQ queue")] = None,
    page: Annotated[PageParams, Depends()] = PageParams(),
) -> CustomerPage:
    """What the caller may see (a dealer: assigned to it or entered by it), filtered, ordered by customer id."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        found = await page_of_visible_customers(
            session, principal, page, assigned_dealer=assigned_dealer, hq_queue=queue == "hq"
        )
        items = [customer_out(c, principal) for c in found.rows]
        await ACCESS_LOG.record(  # one row for the page: every customer it shows unmasked
            session,
            principal=principal,
            endpoint=endpoint_of(request),
            at=runtime.clock.now(),
            customer_ids=[c.customer_id for c in items if not c.masked],
        )
    return CustomerPage(items=items, next_cursor=found.next_cursor, total=found.total)


@router.post(
    "/customers/{customer_id}/assign",
    summary="Assign a customer waiting in the HQ queue to a dealer (hq_admin)",
    responses=problem_docs({404: "not_found", 409: "customer_not_queued", 422: "validation_failed (unknown_dealer)"}),
)
async def assign_customer(customer_id: str, body: AssignIn, request: Request, principal: Caller) -> CustomerOut:
    """The customer and its waiting leads go to the named dealer (one `leadnet.lead.reassigned` per lead)."""
    require_roles(principal, "hq_admin")
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        customer = await assign_queued_customer(
            session,
            runtime.outbox,
            customer_id=customer_id,
            dealer=body.dealer,
            by=principal.sub,
            now=runtime.clock.now(),
        )
        return customer_out(customer, principal)


@router.post(
    "/customers/protection-lookup",
    summary="Is the customer with this phone a protected big customer, and until when?",
    dependencies=[Depends(limit_protection_lookups)],
    responses=problem_docs({422: "validation_failed (invalid_phone)", 429: "rate_limited"}),
)
async def protection_lookup(body: ProtectionLookupIn, request: Request, principal: Caller) -> ProtectionOut:
    """Any role; answers without personal data or customer id (see protection.py for what a dealer may learn)."""
    runtime = runtime_of(request)
    try:
        phone = normalize_phone(body.phone)
    except InvalidPhone as exc:
        raise ValidationFailed(
            "The request has field problems; see errors.", errors=[FieldProblem("/phone", "invalid_phone", str(exc))]
        ) from None
    async with runtime.db.sessions() as session:
        customer = await customer_by_phone(session, phone)
    status = protection_status(customer, principal=principal, now=runtime.clock.now())
    return ProtectionOut.model_validate(status, from_attributes=True)


@router.post(
    "/sales",
    status_code=201,
    response_model=SaleOut,
    summary="Report a sale (dealer, as the seller)",
    dependencies=[Depends(limit_sales)],
    responses=problem_docs(
        {
            403: "forbidden / dealer_not_active",
            409: "vin_already_sold",
            422: "validation_failed (invalid_vin, unknown_vin, vin_not_held, "
            "invalid_sold_at, ...) / idempotency_key_reused",
            429: "rate_limited",
        }
    ),
)
async def report_sale(
    body: SaleIn, request: Request, principal: Caller, idempotency_key: IdempotencyKeyHeader = None
) -> ORJSONResponse:
    require_roles(principal, "dealer")
    seller = principal.dealer
    assert seller is not None
    runtime = runtime_of(request)

    async def record(session: AsyncSession) -> Answer:
        return Answer(
            201,
            await record_sale(
                session,
                runtime.outbox,
                seller=seller,
                body=body,
                now=runtime.clock.now(),
                dealers=dealer_cache(runtime),
            ),
        )

    return await SALE_KEYS.create_once(runtime.db, principal, idempotency_key, body, record)


@router.get("/sales/{sale_id}", responses=problem_docs({404: "not_found"}))
async def get_sale(sale_id: str, request: Request, principal: Caller) -> SaleOut:
    """HQ, the seller and the supplier (which confirms it); for any other dealer the sale does not exist."""
    async with runtime_of(request).db.sessions() as session:
        sale = SALES.visible(principal, await sale_by_id(session, sale_id))
    return SaleOut.model_validate(sale_body(sale))


@router.post(
    "/sales/{sale_id}/cancel",
    summary="Cancel a sale (hq_admin)",
    responses=problem_docs({404: "not_found", 409: "sale_already_cancelled"}),
)
async def cancel(sale_id: str, request: Request, principal: Caller) -> SaleOut:
    require_roles(principal, "hq_admin")
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        out = await cancel_sale(session, runtime.outbox, sale_id=sale_id, now=runtime.clock.now())
    return SaleOut.model_validate(out)
