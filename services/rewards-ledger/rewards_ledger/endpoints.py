"""rewards-ledger HTTP API (`/v1/ledger`): balances and entries; a dealer reads only its own account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import case, func, select

from leadnet_shared.app import runtime_of
from leadnet_shared.auth import Principal, bearer_principal
from leadnet_shared.problems import BadRequest, NotFound
from rewards_ledger.models import Posting
from rewards_ledger.schemas import AccountOut, EntryOut, EntryPage

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])
Caller = Annotated[Principal, Depends(bearer_principal)]


def _own_account(principal: Principal, dealer: str) -> None:
    if principal.role == "dealer" and principal.dealer != dealer:
        raise NotFound("No such account.")


@router.get("/accounts/{dealer}", response_model=AccountOut)
async def get_account(dealer: str, request: Request, principal: Caller) -> AccountOut:
    _own_account(principal, dealer)
    query = select(
        func.coalesce(func.sum(Posting.amount_fen), 0),
        func.coalesce(func.sum(case((Posting.kind != "reversal", Posting.amount_fen), else_=0)), 0),
        func.coalesce(func.sum(case((Posting.kind == "reversal", -Posting.amount_fen), else_=0)), 0),
    ).where(Posting.dealer == dealer)
    async with runtime_of(request).db.sessions() as session:
        balance, earned, reversed_ = (await session.execute(query)).one()
    return AccountOut(dealer=dealer, balance_fen=int(balance), earned_fen=int(earned), reversed_fen=int(reversed_))


def entry_out(p: Posting) -> EntryOut:
    return EntryOut(entry_id=p.entry_id, kind=p.kind, dealer=p.dealer, amount_fen=p.amount_fen, lead_id=p.lead_id,
                    sale_id=p.sale_id, vin=p.vin, posted_at=p.posted_at, reverses=p.reverses, rule=p.rule)


@router.get("/entries", response_model=EntryPage)
async def list_entries(request: Request, principal: Caller, dealer: str | None = None, cursor: str | None = None,
                       limit: Annotated[int, Query(ge=1, le=500)] = 50) -> EntryPage:
    if principal.role == "dealer":
        if dealer not in (None, principal.dealer):
            raise NotFound("No such account.")
        dealer = principal.dealer
    query = select(Posting).order_by(Posting.seq).limit(limit + 1)
    if dealer:
        query = query.where(Posting.dealer == dealer)
    if cursor:
        if not cursor.isdigit():
            raise BadRequest("The cursor is not one this service issued.", code="invalid_cursor")
        query = query.where(Posting.seq > int(cursor))
    async with runtime_of(request).db.sessions() as session:
        rows = list((await session.execute(query)).scalars())
    page = rows[:limit]
    return EntryPage(items=[entry_out(p) for p in page], next_cursor=str(page[-1].seq) if len(rows) > limit else None)
