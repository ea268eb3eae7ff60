"""rewards-ledger HTTP API (`/v1/ledger`): balances, entries, monthly statements, guarantees set by HQ and
payouts. A dealer reads only its own account and statements (another's is a 404); HQ roles read all."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse

from leadnet_shared.app import runtime_of
from leadnet_shared.auth import Principal, bearer_principal, require_roles
from leadnet_shared.pagination import PageParams
from leadnet_shared.policy import rewards_policy
from leadnet_shared.problems import Conflict, NotFound, problem_docs, problem_responses
from rewards_ledger.guarantees import set_guarantee_amount
from rewards_ledger.payouts import may_close, month_bounds, payout_lock, payout_out
from rewards_ledger.repository import payouts, postings
from rewards_ledger.repository.locks import lock
from rewards_ledger.schemas import (
    AccountOut,
    EntryOut,
    EntryPage,
    GuaranteeIn,
    GuaranteeOut,
    PayoutOut,
    StatementOut,
)
from rewards_ledger.statements import statement_csv, statement_lines
from rewards_ledger.visibility import own_account

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])
Caller = Annotated[Principal, Depends(bearer_principal)]


@router.get("/accounts/{dealer}", response_model=AccountOut)
async def get_account(dealer: str, request: Request, principal: Caller) -> AccountOut:
    own_account(principal, dealer)
    async with runtime_of(request).db.sessions() as session:
        balance, earned, reversed_ = await postings.account_totals(session, dealer)
    return AccountOut(dealer=dealer, balance_fen=balance, earned_fen=earned, reversed_fen=reversed_)


@router.get(
    "/entries",
    response_model=EntryPage,
    responses=problem_responses((NotFound, "not_found (a dealer asking for another's entries)")),
)
async def list_entries(
    request: Request,
    principal: Caller,
    dealer: str | None = None,
    page: Annotated[PageParams, Depends()] = PageParams(),
) -> EntryPage:
    """In posting order; entries are never changed, so `updated_since` is by the time they were posted."""
    dealer = own_account(principal, dealer)
    async with runtime_of(request).db.sessions() as session:
        found = await postings.page_of_entries(session, dealer, page)
    items = [EntryOut.model_validate(p, from_attributes=True) for p in found.rows]
    return EntryPage(items=items, next_cursor=found.next_cursor, total=found.total)


@router.put("/guarantees/{sale_id}/{vin}", response_model=GuaranteeOut)
async def set_guarantee(sale_id: str, vin: str, body: GuaranteeIn, request: Request, principal: Caller) -> GuaranteeOut:
    """HQ sets a vehicle's profit guarantee within the policy range, before payout: a reversal plus a new entry."""
    require_roles(principal, "hq_admin")
    policy = rewards_policy()
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        return await set_guarantee_amount(
            session,
            runtime.outbox,
            sale_id=sale_id,
            vin=vin,
            amount_fen=body.amount_fen,
            set_by=principal.sub,
            now=runtime.clock.now(),
            prefix=runtime.settings.topic_prefix,
            policy=policy,
        )


@router.post(
    "/payouts/{month}",
    response_model=PayoutOut,
    status_code=201,
    responses=problem_docs({409: "month_not_ended"}),
)
async def close_month(month: str, request: Request, response: Response, principal: Caller) -> PayoutOut:
    """HQ prepares a month's payout (once; preparing it again replays the first answer with 200). Nothing is
    released until a different hq_admin approves it (`POST /v1/ledger/payouts/{month}/approve`)."""
    require_roles(principal, "hq_admin")
    start, end = month_bounds(month)
    runtime = runtime_of(request)
    now = runtime.clock.now()
    if not may_close(month, now=now):
        raise Conflict(f"{month} has not ended (Asia/Shanghai); it cannot be paid out yet.", code="month_not_ended")
    async with runtime.db.transaction() as session:
        await lock(session, payout_lock(month))
        payout = await payouts.payout(session, month)
        if payout is None:
            total = await postings.month_total(session, start, end)
            payout = await payouts.prepare_payout(session, month=month, now=now, by=principal.sub, total_fen=total)
        else:
            response.status_code = 200
        return await payout_out(session, payout)


@router.get("/payouts/{month}", response_model=PayoutOut)
async def get_payout(month: str, request: Request, principal: Caller) -> PayoutOut:
    require_roles(principal, "hq_admin", "hq_analyst")
    month_bounds(month)
    async with runtime_of(request).db.sessions() as session:
        payout = await payouts.payout(session, month)
        if payout is None:
            raise NotFound(f"{month} has not been prepared for payout.")
        return await payout_out(session, payout)


@router.get("/statements/{dealer}/{month}", response_model=StatementOut, responses={200: {"content": {"text/csv": {}}}})
async def get_statement(
    dealer: str, month: str, request: Request, principal: Caller, format: Literal["json", "csv"] | None = None
) -> Any:
    """A dealer's monthly statement (Asia/Shanghai month), every line explained, as JSON or CSV."""
    own_account(principal, dealer)
    start, end = month_bounds(month)
    async with runtime_of(request).db.sessions() as session:
        opening = await postings.balance_before(session, dealer, start)
        entries = await postings.statement_entries(session, dealer, start, end)
        paid_out = await payouts.approval(session, month) is not None  # released, not only prepared
    lines = statement_lines(entries, opening_balance_fen=opening)
    total = sum(e.amount_fen for e in entries)
    statement: dict[str, Any] = {
        "dealer": dealer,
        "month": month,
        "timezone": "Asia/Shanghai",
        "paid_out": paid_out,
        "opening_balance_fen": opening,
        "total_fen": total,
        "closing_balance_fen": opening + total,
        "lines": lines,
    }
    wants_csv = format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))
    if wants_csv:
        return PlainTextResponse(
            statement_csv(statement),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="statement-{dealer}-{month}.csv"'},
        )
    return StatementOut.model_validate(statement)
