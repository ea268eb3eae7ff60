"""Settlement: make what was posted for a record equal to what its rewards say is due, by appending only.

Every fact that reaches the ledger (a lead verified, a sale attributed or cancelled, an amount HQ set) is stored
first, then the record is settled: a fact due and not paid is posted under its idempotency key; a posting no longer
due (its sale was cancelled, HQ set another amount) is reversed by a posting that points at it. Because settlement
looks at everything known, the result does not depend on the order events arrived in, and running it twice changes
nothing. Settlements of one record are serialized by a transaction-scoped advisory lock.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.outbox import Outbox
from leadnet_shared.policy import rewards_policy
from rewards_ledger.postings import Entry, PostingRequest, post_many
from rewards_ledger.repository import facts
from rewards_ledger.repository import postings as repository
from rewards_ledger.repository.locks import lock_all
from rewards_ledger.rewards import REVERSAL, Claim, DueReward, LeadState, SaleState, rewards_due

# Why a posting was reversed, as the statement shows it.
REVERSED_SALE_CANCELLED = "reversal.sale_cancelled"
REVERSED_AMOUNT_SET_BY_HQ = "reversal.guarantee_amount_set_by_hq"
REVERSED_NO_LONGER_DUE = "reversal.no_longer_due"


@dataclass
class Settlement:
    posted: list[str] = field(default_factory=list)
    reversed: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PostedFact(Entry):
    entry_id: str
    posted_at: datetime


def lead_lock(lead_id: str) -> str:
    return f"ledger.lead:{lead_id}"


def sale_lock(sale_id: str) -> str:
    return f"ledger.sale:{sale_id}"


@dataclass
class Known:
    """Everything the ledger knows of some records, read in three queries whatever their number."""

    leads: dict[str, LeadState]
    sales: dict[str, list[SaleState]]
    set_by_hq: dict[tuple[str, str], int]
    postings: dict[str, list[PostedFact]]


async def load_known(session: AsyncSession, lead_ids: Sequence[str]) -> Known:
    ids = list(lead_ids)
    leads = {row[0]: LeadState(*row) for row in await facts.leads_by_id(session, ids)}
    by_sale: dict[str, dict[str, Any]] = {}
    set_by_hq: dict[tuple[str, str], int] = {}
    for (
        lead_id,
        sale_id,
        seller,
        supplied_by,
        sold_at,
        claims,
        vin,
        line,
        cancelled,
        amount,
    ) in await facts.sales_of_leads(session, ids):
        one = by_sale.setdefault(
            sale_id,
            {
                "lead_id": lead_id,
                "sale_id": sale_id,
                "seller": seller,
                "supplied_by": supplied_by,
                "sold_at": sold_at,
                "vehicles": [],
                "cancelled": bool(cancelled),
                "claims": tuple(Claim.of(c) for c in claims or ()),
            },
        )
        if vin is not None:
            one["vehicles"].append((vin, line))
            if amount is not None:
                set_by_hq[(sale_id, vin)] = int(amount)
    sales: dict[str, list[SaleState]] = {}
    for one in by_sale.values():
        lead_id = one.pop("lead_id")
        sales.setdefault(lead_id, []).append(SaleState(**{**one, "vehicles": tuple(one["vehicles"])}))
    postings: dict[str, list[PostedFact]] = {}
    for row in await repository.postings_of_leads(session, ids):
        postings.setdefault(row.lead_id, []).append(PostedFact(*row))
    return Known(leads=leads, sales=sales, set_by_hq=set_by_hq, postings=postings)


async def postings_of_lead(session: AsyncSession, lead_id: str) -> list[PostedFact]:
    return [PostedFact(*row) for row in await repository.postings_of_leads(session, [lead_id])]


def live_postings(postings: Sequence[PostedFact]) -> dict[str, PostedFact]:
    """The reward postings not reversed, by the fact they pay (at most one live posting per fact)."""
    reversed_ids = {p.reverses for p in postings if p.reverses is not None}
    return {
        p.fact_key: p
        for p in postings
        if p.kind != REVERSAL and p.fact_key is not None and p.entry_id not in reversed_ids
    }


def still_pays(live: PostedFact, due: DueReward) -> bool:
    """A posted fact stands while it pays the same dealer for a sale that still qualifies; its amount is the one
    in force when it was posted (a later policy change does not reprice it), unless HQ set another since."""
    return (
        live.dealer == due.dealer
        and live.vin == due.vin
        and (not due.sale_ids or live.sale_id in due.sale_ids)
        and (not due.amount_set_by_hq or live.amount_fen == due.amount_fen)
    )


def settlement_plan(
    lead: LeadState | None,
    sales: Sequence[SaleState],
    postings: Sequence[PostedFact],
    *,
    set_by_hq: Mapping[tuple[str, str], int],
    policy: Mapping[str, Any],
) -> list[PostingRequest]:
    """What one record must append, in order: the reversals of what no longer stands and the postings due."""
    due = rewards_due(lead, sales, set_by_hq=set_by_hq, policy=policy)
    live = live_postings(postings)
    cancelled = {s.sale_id for s in sales if s.cancelled}
    version = str(policy["version"])
    plan: list[PostingRequest] = []
    for reward in due:
        standing = live.pop(reward.fact_key, None)
        if standing is not None and still_pays(standing, reward):
            continue
        if standing is not None:
            why = (
                REVERSED_SALE_CANCELLED
                if standing.sale_id in cancelled
                else (REVERSED_AMOUNT_SET_BY_HQ if reward.amount_set_by_hq else REVERSED_NO_LONGER_DUE)
            )
            plan.append(_reversal(standing, rule=why, version=version))
        earlier = sum(1 for p in postings if p.fact_key == reward.fact_key)
        plan.append(
            PostingRequest.of(
                reward,
                version,
                idempotency_key=reward.fact_key if earlier == 0 else f"{reward.fact_key}#{earlier + 1}",
                sale_id=reward.sale_ids[0] if reward.sale_ids else None,
                reverses=None,
            )
        )
    for standing in live.values():
        why = REVERSED_SALE_CANCELLED if standing.sale_id in cancelled else REVERSED_NO_LONGER_DUE
        plan.append(_reversal(standing, rule=why, version=version))
    return plan


def _reversal(standing: PostedFact, *, rule: str, version: str) -> PostingRequest:
    # The same dealer, record, sale and vehicle as what it reverses, the opposite amount; it pays no fact itself.
    return PostingRequest.of(
        standing,
        version,
        idempotency_key=f"reversal:{standing.entry_id}",
        kind=REVERSAL,
        amount_fen=-standing.amount_fen,
        rule=rule,
        reverses=standing.entry_id,
        fact_key=None,
    )


async def settle_leads(
    session: AsyncSession,
    outbox: Outbox,
    *,
    lead_ids: Collection[str],
    now: datetime,
    prefix: str,
    policy: dict[str, Any] | None = None,
    locked: bool = False,
) -> dict[str, Settlement]:
    """Settle each record once: three reads and two writes for all of them, whatever their number."""
    ids = sorted(set(lead_ids))
    if not ids:
        return {}
    if not locked:
        await lock_all(session, [lead_lock(i) for i in ids])
    policy = policy or rewards_policy()
    known = await load_known(session, ids)
    requests: list[PostingRequest] = []
    for lead_id in ids:
        requests += settlement_plan(
            known.leads.get(lead_id),
            known.sales.get(lead_id, []),
            known.postings.get(lead_id, []),
            set_by_hq=known.set_by_hq,
            policy=policy,
        )
    entries = await post_many(session, outbox, requests, now=now, prefix=prefix)
    result = {lead_id: Settlement() for lead_id in ids}
    for request, entry in zip(requests, entries, strict=True):
        one = result[str(request.lead_id)]
        if request.kind == REVERSAL:
            if entry is None:
                raise RuntimeError(f"posting {request.reverses} was reversed already but still looked live")
            one.reversed.append(entry)
        elif entry is not None:
            one.posted.append(entry)
    return result


async def settle_lead(
    session: AsyncSession,
    outbox: Outbox,
    *,
    lead_id: str,
    now: datetime,
    prefix: str,
    policy: dict[str, Any] | None = None,
    locked: bool = False,
) -> Settlement:
    """Post what is due for the record and not yet paid; reverse what is paid and no longer due."""
    settled = await settle_leads(
        session, outbox, lead_ids=[lead_id], now=now, prefix=prefix, policy=policy, locked=locked
    )
    return settled[lead_id]
