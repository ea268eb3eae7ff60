"""The second step of a payout: a different hq_admin approves the prepared month, which releases it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from leadnet_shared.app import runtime_of
from leadnet_shared.auth import Principal, bearer_principal, require_roles
from leadnet_shared.problems import Conflict, Forbidden, problem_docs
from rewards_ledger.payouts import month_bounds, payout_lock, payout_out
from rewards_ledger.repository import payouts
from rewards_ledger.repository.locks import lock
from rewards_ledger.schemas import PayoutOut

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])
Caller = Annotated[Principal, Depends(bearer_principal)]


@router.post(
    "/payouts/{month}/approve",
    response_model=PayoutOut,
    summary="Release a prepared payout (an hq_admin other than the one who prepared it)",
    responses=problem_docs(
        {403: "approver_prepared_payout (the same person cannot approve)", 409: "payout_not_prepared"}
    ),
)
async def approve_payout(month: str, request: Request, principal: Caller) -> PayoutOut:
    """Once; approving a released month again replays the answer."""
    require_roles(principal, "hq_admin")
    month_bounds(month)
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        await lock(session, payout_lock(month))
        payout = await payouts.payout(session, month)
        if payout is None:
            raise Conflict(
                f"{month} has not been prepared; prepare it first (POST /v1/ledger/payouts/{month}).",
                code="payout_not_prepared",
            )
        if await payouts.approval(session, month) is None:
            if payout.closed_by == principal.sub:
                raise Forbidden(
                    "A payout is approved by a different hq_admin than the one who prepared it.",
                    code="approver_prepared_payout",
                )
            await payouts.approve_payout(session, month=month, now=runtime.clock.now(), by=principal.sub)
        return await payout_out(session, payout)
