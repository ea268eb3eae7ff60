"""What rewards-ledger consumes: the public lead events (eligibility, verification, the masked customer) and the
public sale events (attributions and cancellations). A poll's facts are stored, then each affected record is
settled once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.app import Runtime
from leadnet_shared.consumer import BatchHandler
from leadnet_shared.events import (
    Envelope,
    LeadAccepted,
    LeadFacts,
    LeadReassigned,
    LeadVerified,
    SaleAttributed,
    SaleCancelled,
)
from leadnet_shared.outbox import Outbox
from rewards_ledger.repository import facts
from rewards_ledger.repository.locks import lock_all
from rewards_ledger.settlement import Settlement, lead_lock, sale_lock, settle_leads


def _facts(event: LeadFacts) -> dict[str, Any]:
    """The record's facts the event repeats, by the columns the ledger stores them in."""
    return {column: getattr(event, column) for column in facts.FACT_COLUMNS}


def _claims(event: SaleAttributed) -> list[dict[str, Any]]:
    """The rewards the router decided this sale earns: what the ledger pays on it (rewards.py)."""
    return [c.model_dump(mode="json") for c in event.rewards]


async def record_leads(session: AsyncSession, events: Sequence[LeadFacts], *, now: datetime) -> None:
    """Upsert the records' facts: the same end state as upserting the events one by one, in one statement (a row
    may be touched once per statement, so each record's events are folded first: the facts of the newest
    lead_version, the latest accepted-time customer, the first verification)."""
    folded: dict[str, dict[str, Any]] = {}
    for event in events:
        row = folded.setdefault(
            event.lead_id,
            {
                "lead_version": -1,
                "customer_existed": None,
                "customer_name": None,
                "customer_phone": None,
                "verified_at": None,
            },
        )
        if event.lead_version >= row["lead_version"]:
            row |= {"lead_id": event.lead_id, **_facts(event), "lead_version": event.lead_version}
        if isinstance(event, LeadAccepted):
            row |= {
                "customer_existed": event.customer_existed,
                "customer_name": event.customer.name,
                "customer_phone": event.customer.phone,
            }
        if isinstance(event, LeadVerified) and row["verified_at"] is None:
            row["verified_at"] = event.verified_at
    await facts.upsert_leads(session, list(folded.values()), now=now)


async def record_sales(session: AsyncSession, events: Sequence[SaleAttributed], *, now: datetime) -> None:
    """Store the attributions: the first attribution of a sale stands (a sale's facts never change); every
    attribution's vehicles are kept; nothing changes for what is stored already."""
    sales: dict[str, dict[str, Any]] = {}
    vehicles: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        sales.setdefault(
            event.sale_id,
            {
                "sale_id": event.sale_id,
                "lead_id": event.attributed_lead_id,
                "customer_id": event.customer_id,
                "seller": event.seller,
                "supplied_by": event.supplied_by,
                "lead_entered_by": event.lead_entered_by,
                "violation": event.violation,
                "sold_at": event.sold_at,
                "claims": orjson.dumps(_claims(event)).decode(),
            },
        )
        for v in event.vehicles:
            vehicles.setdefault(
                (event.sale_id, v.vin), {"sale_id": event.sale_id, "vin": v.vin, "product_line": v.product_line}
            )
    await facts.insert_sales(session, list(sales.values()), now=now)
    await facts.insert_vehicles(session, list(vehicles.values()))


async def record_cancellations(session: AsyncSession, events: Sequence[SaleCancelled]) -> None:
    """A sale's first cancellation is kept, whether or not the sale is known yet."""
    first: dict[str, datetime] = {}
    for event in events:
        first.setdefault(event.sale_id, event.cancelled_at)
    await facts.insert_cancellations(session, first)


LEAD_EVENTS: dict[str, type[LeadAccepted] | type[LeadVerified] | type[LeadReassigned]] = {
    "leadnet.lead.accepted": LeadAccepted,
    "leadnet.lead.verified": LeadVerified,
    "leadnet.lead.reassigned": LeadReassigned,
}
# The facts the ledger settles on; the rest of the lead and sale streams is acknowledged and skipped.
REWARD_TYPES = frozenset({*LEAD_EVENTS, "leadnet.sale.attributed", "leadnet.sale.cancelled"})


async def handle_batch(
    session: AsyncSession, outbox: Outbox, envelopes: Sequence[Envelope], *, now: datetime, prefix: str
) -> dict[str, Settlement]:
    """A poll's new events at once: store every fact, then settle each affected record once.

    Locks are taken up front in one global order (all sales, then all records, each by hash), the same order the
    HQ's guarantee change follows (a sale, then its record), so replicas never deadlock.
    """
    leads: list[LeadFacts] = []
    attributed: list[SaleAttributed] = []
    cancelled: list[SaleCancelled] = []
    for envelope in envelopes:
        if envelope.type in LEAD_EVENTS:
            leads.append(LEAD_EVENTS[envelope.type].model_validate(envelope.data))
        elif envelope.type == "leadnet.sale.attributed":
            attributed.append(SaleAttributed.model_validate(envelope.data))
        elif envelope.type == "leadnet.sale.cancelled":
            cancelled.append(SaleCancelled.model_validate(envelope.data))
    sale_ids = sorted({e.sale_id for e in attributed} | {e.sale_id for e in cancelled})
    await lock_all(session, [sale_lock(s) for s in sale_ids])
    # Read under the sales' locks, so no attribution of them is in flight; a stored sale's record never changes.
    stored = await facts.leads_of_sales(session, sale_ids)
    first_attribution: dict[str, str | None] = {}
    for event in attributed:
        first_attribution.setdefault(event.sale_id, event.attributed_lead_id)
    # The record each sale is attributed to: the stored attribution, else the batch's first one (which it stores).
    of_sales = {stored[s] if s in stored else first_attribution.get(s) for s in sale_ids}
    affected = {e.lead_id for e in leads} | {lead_id for lead_id in of_sales if lead_id is not None}
    await lock_all(session, [lead_lock(i) for i in affected])
    await record_leads(session, leads, now=now)
    await record_sales(session, attributed, now=now)
    await record_cancellations(session, cancelled)
    return await settle_leads(session, outbox, lead_ids=affected, now=now, prefix=prefix, locked=True)


def reward_handler(runtime: Runtime) -> BatchHandler:
    """The consumer's one decision path: a poll at once, or a failing event alone as a batch of one."""
    prefix = runtime.settings.topic_prefix

    async def on_reward_events(session: AsyncSession, envelopes: list[Envelope]) -> None:
        await handle_batch(session, runtime.outbox, envelopes, now=runtime.clock.now(), prefix=prefix)

    return on_reward_events
