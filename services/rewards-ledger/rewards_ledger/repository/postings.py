"""The append-only double-entry journal (see the package docstring for the style): postings, each with its two
lines, written once under an idempotency key and never changed (the migrations' triggers refuse UPDATE and DELETE),
and the balances, entries, statements and month totals read from them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.pagination import PageOf, PageParams, fetch_page
from rewards_ledger.models import HQ_REWARD_EXPENSE, Lead, Posting
from rewards_ledger.statements import StatementEntry

# Postings and their two lines in one statement (one round trip for a whole batch): the lines are written only for
# the postings actually inserted, so a fact already paid (its idempotency key taken) adds neither posting nor line.
_POST_MANY = text("""
WITH req AS (
    SELECT * FROM unnest(
        CAST(:entry_id AS text[]), CAST(:idempotency_key AS text[]), CAST(:kind AS text[]), CAST(:dealer AS text[]),
        CAST(:amount_fen AS bigint[]), CAST(:lead_id AS text[]), CAST(:customer_id AS text[]),
        CAST(:sale_id AS text[]), CAST(:vin AS text[]), CAST(:reverses AS text[]), CAST(:rule AS text[]),
        CAST(:policy_version AS text[]), CAST(:fact_key AS text[]), CAST(:payable AS text[])
    ) WITH ORDINALITY AS r(entry_id, idempotency_key, kind, dealer, amount_fen, lead_id, customer_id, sale_id, vin,
                           reverses, rule, policy_version, fact_key, payable, ord)
), p AS (
    INSERT INTO postings (entry_id, idempotency_key, kind, dealer, amount_fen, lead_id, customer_id, sale_id, vin,
                          reverses, rule, policy_version, posted_at, fact_key)
    SELECT entry_id, idempotency_key, kind, dealer, amount_fen, lead_id, customer_id, sale_id, vin, reverses, rule,
           policy_version, CAST(:posted_at AS timestamptz), fact_key
    FROM req ORDER BY ord
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING entry_id
), l AS (
    INSERT INTO lines (entry_id, account, amount_fen)
    SELECT req.entry_id, x.account, x.amount_fen
    FROM p JOIN req ON req.entry_id = p.entry_id
    CROSS JOIN LATERAL (VALUES (1, CAST(:expense AS text), req.amount_fen),
                               (2, req.payable, -req.amount_fen)) AS x(n, account, amount_fen)
    ORDER BY req.ord, x.n
)
SELECT entry_id FROM p
""")

_POSTINGS_OF_LEADS = text(
    "SELECT kind, dealer, amount_fen, fact_key, sale_id, vin, reverses, lead_id, customer_id, entry_id, posted_at "
    "FROM postings WHERE lead_id = ANY(CAST(:ids AS text[])) ORDER BY seq"
)


async def append_postings(session: AsyncSession, columns: dict[str, list[Any]], *, now: datetime) -> set[str]:
    """Append postings (one array per column of `_POST_MANY`, `payable` the dealer's account) with their two lines
    each: debit HQ's reward expense, credit the dealer. The entry ids actually inserted: a posting whose idempotency
    key is taken already adds nothing."""
    bound = {**columns, "posted_at": now, "expense": HQ_REWARD_EXPENSE}
    return {row[0] for row in await session.execute(_POST_MANY, bound)}


async def postings_of_leads(session: AsyncSession, lead_ids: Sequence[str]) -> Sequence[Any]:
    """The records' postings in posting order: kind, dealer, amount, fact, sale, vin, reverses, lead, customer,
    entry, posted at (the fields of `settlement.PostedFact`, in its order)."""
    return (await session.execute(_POSTINGS_OF_LEADS, {"ids": list(lead_ids)})).all()


async def account_totals(session: AsyncSession, dealer: str) -> tuple[int, int, int]:
    """A dealer's balance, what it earned (all but reversals) and what was reversed (positive), in fen."""
    query = select(
        func.coalesce(func.sum(Posting.amount_fen), 0),
        func.coalesce(func.sum(case((Posting.kind != "reversal", Posting.amount_fen), else_=0)), 0),
        func.coalesce(func.sum(case((Posting.kind == "reversal", -Posting.amount_fen), else_=0)), 0),
    ).where(Posting.dealer == dealer)
    balance, earned, reversed_ = (await session.execute(query)).one()
    return int(balance), int(earned), int(reversed_)


async def page_of_entries(session: AsyncSession, dealer: str | None, page: PageParams) -> PageOf[Posting]:
    """One page of the postings (a dealer's, or all) in posting order; `updated_since` is by posting time, since
    entries are never changed."""
    query = select(Posting)
    if dealer:
        query = query.where(Posting.dealer == dealer)
    return await fetch_page(session, query, order=[Posting.seq], params=page, changed_at=Posting.posted_at)


async def balance_before(session: AsyncSession, dealer: str, instant: datetime) -> int:
    """A dealer's balance of everything posted before the instant (a statement's opening balance)."""
    value = await session.scalar(
        select(func.coalesce(func.sum(Posting.amount_fen), 0)).where(
            Posting.dealer == dealer, Posting.posted_at < instant
        )
    )
    return int(value or 0)


async def statement_entries(session: AsyncSession, dealer: str, start: datetime, end: datetime) -> list[StatementEntry]:
    """A dealer's postings in [start, end), in posting order, with the record's masked customer."""
    query = (
        select(
            Posting.entry_id,
            Posting.posted_at,
            Posting.kind,
            Posting.rule,
            Posting.amount_fen,
            Posting.lead_id,
            Posting.customer_id,
            Lead.customer_name,
            Lead.customer_phone,
            Posting.sale_id,
            Posting.vin,
            Posting.reverses,
        )
        .outerjoin(Lead, Lead.lead_id == Posting.lead_id)
        .where(Posting.dealer == dealer, Posting.posted_at >= start, Posting.posted_at < end)
        .order_by(Posting.seq)
    )
    return [StatementEntry(**row._mapping) for row in (await session.execute(query)).all()]


async def month_total(session: AsyncSession, start: datetime, end: datetime) -> int:
    """Everything posted in [start, end), all dealers, in fen."""
    value = await session.scalar(
        select(func.coalesce(func.sum(Posting.amount_fen), 0)).where(
            Posting.posted_at >= start, Posting.posted_at < end
        )
    )
    return int(value or 0)


async def dealer_totals(session: AsyncSession, start: datetime, end: datetime) -> list[tuple[str, int]]:
    """Per dealer (by code), what was posted to it in [start, end), in fen."""
    rows = (
        await session.execute(
            select(Posting.dealer, func.sum(Posting.amount_fen))
            .where(Posting.posted_at >= start, Posting.posted_at < end)
            .group_by(Posting.dealer)
            .order_by(Posting.dealer)
        )
    ).all()
    return [(d, int(a)) for d, a in rows]
