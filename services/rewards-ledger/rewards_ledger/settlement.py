"""Settlement: make what was posted for a record equal to what its rewards say is due, by appending only.

Every fact that reaches the ledger (a lead verified, a sale attributed or cancelled, an amount HQ set) is stored
first, then the record is settled: a fact due and not paid is posted under its idempotency key; a posting no longer
due (its sale was cancelled, HQ set another amount) is reversed by a posting that points at it. Because settlement
looks at everything known, the result does not depend on the order events arrived in, and running it twice changes
nothing. Settlements of one record are serialized by a transaction-scoped advisory lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.outbox import Outbox
from rewards_ledger.models import GuaranteeSetting, Lead, Posting, Sale, SaleCancellation, SaleVehicle
from rewards_ledger.postings import PostingRequest, post
from rewards_ledger.rewards import REVERSAL, DueReward, LeadState, SaleState, rewards_due, rewards_policy

# Why a posting was reversed, as the statement shows it.
REVERSED_SALE_CANCELLED = "reversal.sale_cancelled"
REVERSED_AMOUNT_SET_BY_HQ = "reversal.guarantee_amount_set_by_hq"
REVERSED_NO_LONGER_DUE = "reversal.no_longer_due"


@dataclass
class Settlement:
    posted: list[str] = field(default_factory=list)
    reversed: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PostedFact:
    entry_id: str
    kind: str
    dealer: str
    amount_fen: int
    fact_key: str | None
    sale_id: str | None
    vin: str | None
    reverses: str | None
    posted_at: datetime
    lead_id: str | None
    customer_id: str | None


async def lock(session: AsyncSession, key: str) -> None:
    """Serialize work on one record or sale until the transaction ends."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})


def lead_lock(lead_id: str) -> str:
    return f"ledger.lead:{lead_id}"


def sale_lock(sale_id: str) -> str:
    return f"ledger.sale:{sale_id}"


def lead_state(row: Lead) -> LeadState:
    return LeadState(lead_id=row.lead_id, customer_id=row.customer_id, entered_by=row.entered_by,
                     authorized_dealer=row.authorized_dealer, reward_eligible=row.reward_eligible,
                     cross_region=row.cross_region, tier=row.tier, verified=row.verified_at is not None,
                     customer_existed=row.customer_existed)


async def sales_of_lead(session: AsyncSession, lead_id: str) -> list[SaleState]:
    rows = (await session.execute(
        select(Sale.sale_id, Sale.seller, Sale.supplied_by, Sale.sold_at, SaleVehicle.vin, SaleVehicle.product_line,
               SaleCancellation.sale_id.is_not(None))
        .outerjoin(SaleVehicle, SaleVehicle.sale_id == Sale.sale_id)
        .outerjoin(SaleCancellation, SaleCancellation.sale_id == Sale.sale_id)
        .where(Sale.lead_id == lead_id)
        .order_by(Sale.sale_id, SaleVehicle.vin)
    )).all()
    sales: dict[str, dict[str, Any]] = {}
    for sale_id, seller, supplied_by, sold_at, vin, product_line, cancelled in rows:
        one = sales.setdefault(sale_id, {"sale_id": sale_id, "seller": seller, "supplied_by": supplied_by,
                                         "sold_at": sold_at, "vehicles": [], "cancelled": bool(cancelled)})
        if vin is not None:
            one["vehicles"].append((vin, product_line))
    return [SaleState(**{**s, "vehicles": tuple(s["vehicles"])}) for s in sales.values()]


async def amounts_set_by_hq(session: AsyncSession, sale_ids: Sequence[str]) -> dict[tuple[str, str], int]:
    """The latest amount HQ set per vehicle of these sales."""
    if not sale_ids:
        return {}
    rows = (await session.execute(
        select(GuaranteeSetting.sale_id, GuaranteeSetting.vin, GuaranteeSetting.amount_fen)
        .where(GuaranteeSetting.sale_id.in_(sale_ids)).order_by(GuaranteeSetting.seq)
    )).all()
    return {(sale_id, vin): int(amount) for sale_id, vin, amount in rows}


async def postings_of_lead(session: AsyncSession, lead_id: str) -> list[PostedFact]:
    rows = (await session.execute(
        select(Posting.entry_id, Posting.kind, Posting.dealer, Posting.amount_fen, Posting.fact_key, Posting.sale_id,
               Posting.vin, Posting.reverses, Posting.posted_at, Posting.lead_id, Posting.customer_id)
        .where(Posting.lead_id == lead_id).order_by(Posting.seq)
    )).all()
    return [PostedFact(*row) for row in rows]


def live_postings(postings: Sequence[PostedFact]) -> dict[str, PostedFact]:
    """The reward postings not reversed, by the fact they pay (at most one live posting per fact)."""
    reversed_ids = {p.reverses for p in postings if p.reverses is not None}
    return {p.fact_key: p for p in postings
            if p.kind != REVERSAL and p.fact_key is not None and p.entry_id not in reversed_ids}


def still_pays(live: PostedFact, due: DueReward) -> bool:
    """A posted fact stands while it pays the same dealer for a sale that still qualifies; its amount is the one
    in force when it was posted (a later policy change does not reprice it), unless HQ set another since."""
    return (live.dealer == due.dealer and live.vin == due.vin
            and (not due.sale_ids or live.sale_id in due.sale_ids)
            and (not due.amount_set_by_hq or live.amount_fen == due.amount_fen))


async def settle_lead(session: AsyncSession, outbox: Outbox, *, lead_id: str, now: datetime, prefix: str,
                      policy: dict[str, Any] | None = None, locked: bool = False) -> Settlement:
    """Post what is due for the record and not yet paid; reverse what is paid and no longer due."""
    if not locked:
        await lock(session, lead_lock(lead_id))
    policy = policy or rewards_policy()
    lead_row = await session.get(Lead, lead_id, populate_existing=True)
    lead = lead_state(lead_row) if lead_row is not None else None
    sales = await sales_of_lead(session, lead_id)
    set_by_hq = await amounts_set_by_hq(session, [s.sale_id for s in sales if s.vehicles])
    due = rewards_due(lead, sales, set_by_hq=set_by_hq, policy=policy)
    postings = await postings_of_lead(session, lead_id)
    live = live_postings(postings)
    cancelled = {s.sale_id for s in sales if s.cancelled}
    result = Settlement()
    for reward in due:
        standing = live.pop(reward.fact_key, None)
        if standing is not None and still_pays(standing, reward):
            continue
        if standing is not None:
            why = REVERSED_SALE_CANCELLED if standing.sale_id in cancelled else (
                REVERSED_AMOUNT_SET_BY_HQ if reward.amount_set_by_hq else REVERSED_NO_LONGER_DUE)
            result.reversed.append(await _reverse(session, outbox, standing, rule=why, now=now, prefix=prefix,
                                                  policy=policy))
        earlier = sum(1 for p in postings if p.fact_key == reward.fact_key)
        entry = await post(session, outbox, PostingRequest(
            idempotency_key=reward.fact_key if earlier == 0 else f"{reward.fact_key}#{earlier + 1}",
            kind=reward.kind, dealer=reward.dealer, amount_fen=reward.amount_fen, rule=reward.rule,
            policy_version=str(policy["version"]), lead_id=reward.lead_id, customer_id=reward.customer_id,
            sale_id=reward.sale_ids[0] if reward.sale_ids else None, vin=reward.vin, fact_key=reward.fact_key,
        ), now=now, prefix=prefix)
        if entry is not None:
            result.posted.append(entry)
    for standing in live.values():
        why = REVERSED_SALE_CANCELLED if standing.sale_id in cancelled else REVERSED_NO_LONGER_DUE
        result.reversed.append(await _reverse(session, outbox, standing, rule=why, now=now, prefix=prefix,
                                              policy=policy))
    return result


async def _reverse(session: AsyncSession, outbox: Outbox, standing: PostedFact, *, rule: str, now: datetime,
                   prefix: str, policy: dict[str, Any]) -> str:
    entry = await post(session, outbox, PostingRequest(
        idempotency_key=f"reversal:{standing.entry_id}", kind=REVERSAL, dealer=standing.dealer,
        amount_fen=-standing.amount_fen, rule=rule, policy_version=str(policy["version"]),
        lead_id=standing.lead_id, customer_id=standing.customer_id, sale_id=standing.sale_id, vin=standing.vin,
        reverses=standing.entry_id,
    ), now=now, prefix=prefix)
    if entry is None:
        raise RuntimeError(f"posting {standing.entry_id} was reversed already but still looked live")
    return entry


async def lead_of_sale(session: AsyncSession, sale_id: str) -> str | None:
    value = await session.scalar(select(Sale.lead_id).where(Sale.sale_id == sale_id))
    return None if value is None else str(value)


async def month_total(session: AsyncSession, start: datetime, end: datetime) -> int:
    value = await session.scalar(select(func.coalesce(func.sum(Posting.amount_fen), 0))
                                 .where(Posting.posted_at >= start, Posting.posted_at < end))
    return int(value or 0)
