"""Posting money: one balanced, immutable posting per business fact, whatever is redelivered or replayed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.events import LEDGER, EntryPosted, make_envelope
from leadnet_shared.outbox import Outbox
from rewards_ledger.models import HQ_REWARD_EXPENSE, Line, Posting, dealer_payable

SOURCE = "/leadnet/ledger"


@dataclass(frozen=True, slots=True)
class PostingRequest:
    idempotency_key: str
    kind: str
    dealer: str
    amount_fen: int
    rule: str
    policy_version: str
    lead_id: str | None = None
    customer_id: str | None = None
    sale_id: str | None = None
    vin: str | None = None
    reverses: str | None = None
    fact_key: str | None = None


async def post(session: AsyncSession, outbox: Outbox, request: PostingRequest, *, now: datetime,
               prefix: str) -> str | None:
    """Append the posting and its two lines (debit HQ's reward expense, credit the dealer); None if already posted."""
    if not isinstance(request.amount_fen, int) or request.amount_fen == 0:
        raise ValueError("a posting moves a non-zero integer number of fen")
    entry_id = str(uuid.uuid4())
    inserted = await session.execute(
        pg_insert(Posting).values(
            entry_id=entry_id, idempotency_key=request.idempotency_key, kind=request.kind, dealer=request.dealer,
            amount_fen=request.amount_fen, lead_id=request.lead_id, customer_id=request.customer_id,
            sale_id=request.sale_id, vin=request.vin, reverses=request.reverses, rule=request.rule,
            policy_version=request.policy_version, posted_at=now, fact_key=request.fact_key,
        ).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(Posting.entry_id)
    )
    if inserted.first() is None:
        return None  # this business fact was paid already: nothing is paid twice
    await session.execute(insert(Line), [
        {"entry_id": entry_id, "account": HQ_REWARD_EXPENSE, "amount_fen": request.amount_fen},
        {"entry_id": entry_id, "account": dealer_payable(request.dealer), "amount_fen": -request.amount_fen},
    ])
    event = EntryPosted(entry_id=entry_id, kind=request.kind, dealer=request.dealer, amount_fen=request.amount_fen,
                        lead_id=request.lead_id, sale_id=request.sale_id, vin=request.vin,
                        reverses=request.reverses, posted_at=now, rule=request.rule)
    envelope = make_envelope(data=event, event_type="leadnet.ledger.entry_posted", source=SOURCE, time=now,
                             subject=request.dealer)
    await outbox.add(session, topic=prefix + LEDGER, key=request.dealer, envelope=envelope, aggregate_type="entry")
    return entry_id
