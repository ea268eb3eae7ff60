"""Posting money: one balanced, immutable posting per business fact, whatever is redelivered or replayed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.events import EntryPosted
from leadnet_shared.outbox import Outbox, Outgoing
from rewards_ledger.models import dealer_payable
from rewards_ledger.repository import facts
from rewards_ledger.repository import postings as repository


@dataclass(frozen=True, slots=True)
class Entry:
    """What a posting says of its money and of the facts it rests on, whether asked for (`PostingRequest`) or
    posted (`settlement.PostedFact`)."""

    kind: str
    dealer: str
    amount_fen: int
    fact_key: str | None
    sale_id: str | None
    vin: str | None
    reverses: str | None
    lead_id: str | None
    customer_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PostingRequest(Entry):
    idempotency_key: str
    rule: str
    policy_version: str

    @classmethod
    def of(cls, source: object, policy_version: str, **values: Any) -> PostingRequest:
        """A posting under `policy_version` of what `source` (a reward due, a posting) says of the fields they share,
        with `values` for the others and for what the posting says otherwise."""
        shared = {f.name: getattr(source, f.name) for f in fields(cls) if hasattr(source, f.name)}
        return cls(**(shared | values), policy_version=policy_version)


@dataclass(frozen=True, slots=True)
class _EntryFacts:
    region_code: str | None
    entered_by: str | None
    product_line: str | None


_NO_FACTS = _EntryFacts(None, None, None)
# An `entry_posted` event says what its request said (kind, dealer, amount, ids, rule) and what the ledger knows
# of the record and the sale (`_EntryFacts`); the request's bookkeeping (idempotency key, fact key) stays here.
_FROM_REQUEST = tuple(f.name for f in fields(PostingRequest) if f.name in EntryPosted.model_fields)
_FROM_FACTS = tuple(f.name for f in fields(_EntryFacts))


async def _entry_facts(
    session: AsyncSession, requests: Sequence[PostingRequest]
) -> dict[tuple[str | None, str | None, str | None], _EntryFacts]:
    if not requests:
        return {}
    wanted = sorted({(r.lead_id, r.sale_id, r.vin) for r in requests}, key=repr)
    rows = await facts.entry_facts(session, wanted)
    return {(lead, sale, vin): _EntryFacts(region, entrant, line) for lead, sale, vin, region, entrant, line in rows}


def entry_key(request: PostingRequest) -> str:
    """The Kafka key of an entry: its customer's id, as every event of the contract, not its dealer's code.

    A customer's money story spans dealers: a reward to the seller, its reversal when the sale is cancelled or
    re-attributed, a reward to another dealer. Keyed by dealer those land on different partitions and a reader
    may see the new reward before the reversal of the old; keyed by customer they keep the order they were
    posted in, on the partition where the customer's lead and sale events are (co-partitioned, for joins). A
    dealer's balance needs no order: it is a sum, and the ledger keeps it from its own postings, not from Kafka.
    A posting no customer's record led to (none today) falls back to its dealer.
    """
    return request.customer_id or request.dealer


async def post_many(
    session: AsyncSession, outbox: Outbox, requests: Sequence[PostingRequest], *, now: datetime, prefix: str
) -> list[str | None]:
    """Append the postings with their two lines each (debit HQ's reward expense, credit the dealer) and their
    `entry_posted` events, in order, in three round trips; per request its entry id, or None if already posted."""
    if not requests:
        return []
    for request in requests:
        if not isinstance(request.amount_fen, int) or request.amount_fen == 0:
            raise ValueError("a posting moves a non-zero integer number of fen")
    entry_ids = [str(uuid.uuid4()) for _ in requests]
    # One array per field of the requests (the statement binds them all by name), plus the dealer's account.
    columns = {f.name: [getattr(r, f.name) for r in requests] for f in fields(PostingRequest)}
    columns |= {"entry_id": entry_ids, "payable": [dealer_payable(r.dealer) for r in requests]}
    inserted = await repository.append_postings(session, columns, now=now)
    known_facts = await _entry_facts(session, [r for r, e in zip(requests, entry_ids, strict=True) if e in inserted])
    events = []
    out: list[str | None] = []
    for entry_id, request in zip(entry_ids, requests, strict=True):
        if entry_id not in inserted:
            out.append(None)  # this business fact was paid already: nothing is paid twice
            continue
        out.append(entry_id)
        known = known_facts.get((request.lead_id, request.sale_id, request.vin)) or _NO_FACTS
        event = EntryPosted(
            entry_id=entry_id,
            posted_at=now,
            **{name: getattr(request, name) for name in _FROM_REQUEST},
            **{name: getattr(known, name) for name in _FROM_FACTS},
        )
        events.append(Outgoing(event, key=entry_key(request), subject=request.dealer))
    await outbox.publish_many(session, events, time=now)
    return out


async def post(
    session: AsyncSession, outbox: Outbox, request: PostingRequest, *, now: datetime, prefix: str
) -> str | None:
    """Append one posting and its two lines; None if already posted."""
    return (await post_many(session, outbox, [request], now=now, prefix=prefix))[0]
