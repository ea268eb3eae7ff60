"""The customer file over HTTP: `GET /v1/customers/{id}/timeline`, `PATCH /v1/customers/{id}` (customer_file.py,
timeline.py hold the rules; confidentiality.py who sees what)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from dedup_router.confidentiality import sees_unmasked
from dedup_router.customer_file import correct_customer
from dedup_router.repository.customer_file import page_of_timeline
from dedup_router.repository.customers import file_customer
from dedup_router.schemas import CustomerFileOut, CustomerPatch, TimelineItem, TimelinePage
from dedup_router.timeline import CORRECTED, unmasked_corrections
from leadnet_shared.app import runtime_of
from leadnet_shared.auth import Principal, bearer_principal, require_roles
from leadnet_shared.pagination import PageParams
from leadnet_shared.problems import Conflict, Forbidden, InvalidCursor, NotFound, ValidationFailed, problem_responses

router = APIRouter(prefix="/v1/customers", tags=["customer file"])
Caller = Annotated[Principal, Depends(bearer_principal)]
# A timeline row's columns shown as they are (the summary gets a reader's unmasked corrections).
_SHOWN = ("event_id", "type", "occurred_at", "actor", "dealer", "service")


@router.get(
    "/{customer_id}/timeline",
    summary="Every fact about one customer in time order, each with who and when, masked per role",
    responses=problem_responses(InvalidCursor, NotFound),
)
async def customer_timeline(
    customer_id: str,
    request: Request,
    principal: Caller,
    page: Annotated[PageParams, Depends()] = PageParams(),
) -> TimelinePage:
    """HQ (hq_analyst masked) and the dealer the customer is assigned to; ordered by event time, then event id.
    The facts arrive through the public topics: a fact is here seconds after it happened."""
    async with runtime_of(request).db.sessions() as session:
        customer = await file_customer(session, customer_id, principal)
        if customer is None:
            raise NotFound("No such customer.")
        found = await page_of_timeline(session, customer_id, principal, page)
        unmasked = sees_unmasked(customer, principal)
        corrections = await unmasked_corrections(session, found.rows) if unmasked else {}
    items = []
    for entry in found.rows:
        summary = dict(entry.summary)
        if entry.type == CORRECTED and entry.event_id in corrections:
            summary["changes"] = corrections[entry.event_id]
        items.append(TimelineItem(**{name: getattr(entry, name) for name in _SHOWN}, summary=summary))
    return TimelinePage(items=items, next_cursor=found.next_cursor, total=found.total)


@router.patch(
    "/{customer_id}",
    summary="Correct a customer's contact data, vehicles in use, usage or purchase intent (assigned dealer, hq_admin)",
    responses=problem_responses(Forbidden, NotFound, (Conflict, "phone_belongs_to_another_customer"), ValidationFailed),
)
async def patch_customer(customer_id: str, body: CustomerPatch, request: Request, principal: Caller) -> CustomerFileOut:
    """Only the fields given change; each change is kept with its old and new value, who and when, and shows in
    the timeline. A new phone must be a valid mainland number no other customer has."""
    require_roles(principal, "dealer", "hq_admin")
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        return await correct_customer(
            session,
            runtime.outbox,
            customer_id=customer_id,
            patch=body,
            principal=principal,
            now=runtime.clock.now(),
        )
