"""Sales that wait for a second party: the supplying dealer (or HQ) confirms or rejects them, and finds them with
`GET /v1/sales?status=pending_confirmation`. Reporting, reading one and cancelling are in endpoints.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request

from dedup_router.models import Dealer
from dedup_router.repository.sales import page_of_sales
from dedup_router.sales import decide_sale, sale_body
from dedup_router.schemas import SaleOut, SalePage
from leadnet_shared.app import runtime_of
from leadnet_shared.auth import Principal, bearer_principal, require_roles
from leadnet_shared.dealer_directory import require_active_dealer
from leadnet_shared.pagination import PageParams
from leadnet_shared.problems import problem_docs

router = APIRouter(prefix="/v1", tags=["sales"])
Caller = Annotated[Principal, Depends(bearer_principal)]
SaleId = Annotated[str, Path(max_length=36, pattern=r"^[0-9a-f-]+$")]
Decide = Callable[[str, Request, Principal], Awaitable[SaleOut]]
DECISION_ERRORS = problem_docs(
    {
        403: "not_confirmer (the seller itself, or a dealer for a sale waiting for HQ) / dealer_not_active",
        404: "not_found",
        409: "sale_not_pending",
    }
)


@router.get("/sales", response_model=SalePage, summary="Sales by status; pending ones: those waiting for the caller")
async def list_sales(
    request: Request,
    principal: Caller,
    status: Literal["pending_confirmation", "attributed", "rejected", "cancelled"] = "pending_confirmation",
    page: Annotated[PageParams, Depends()] = PageParams(),
) -> SalePage:
    """A dealer: pending sales waiting for its confirmation, else the sales it reported. HQ: all of them.
    `updated_since` reads a sale's last change: reported, confirmed or rejected, cancelled."""
    as_dealer = principal.role == "dealer"
    waiting = status == "pending_confirmation"
    async with runtime_of(request).db.sessions() as session:
        found = await page_of_sales(
            session,
            page,
            status=status,
            dealer_as=("confirmer" if waiting else "seller") if as_dealer else None,
            dealer=principal.dealer,
        )
    return SalePage(
        items=[SaleOut.model_validate(sale_body(s)) for s in found.rows],
        next_cursor=found.next_cursor,
        total=found.total,
    )


async def _decide(sale_id: str, request: Request, principal: Principal, *, confirm: bool) -> SaleOut:
    require_roles(principal, "dealer", "hq_admin")
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        await require_active_dealer(session, Dealer.__table__, principal)  # type: ignore[arg-type]
        out = await decide_sale(
            session, runtime.outbox, sale_id=sale_id, principal=principal, confirm=confirm, now=runtime.clock.now()
        )
    return SaleOut.model_validate(out)


def _decision(verb: str, summary: str) -> Callable[[Decide], Decide]:
    """Confirming and rejecting are one route but for the verb: the same answer, the same problems."""
    return router.post(f"/sales/{{sale_id}}/{verb}", response_model=SaleOut, responses=DECISION_ERRORS, summary=summary)


@_decision("confirm", "Confirm a pending sale (the supplying dealer, or hq_admin): only now may it be paid")
async def confirm_sale(sale_id: SaleId, request: Request, principal: Caller) -> SaleOut:
    return await _decide(sale_id, request, principal, confirm=True)


@_decision("reject", "Reject a pending sale (the supplying dealer, or hq_admin): nothing is paid, its VINs are free")
async def reject_sale(sale_id: SaleId, request: Request, principal: Caller) -> SaleOut:
    return await _decide(sale_id, request, principal, confirm=False)
