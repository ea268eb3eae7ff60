"""A customer's story (contract.md "Lead life cycle across the services": `GET /v1/customers/{id}/timeline`).

Services meet only on topics: the router reads every public topic that speaks of customers (leads, customers, tasks,
sales, ledger) with one kit consumer and keeps each fact generically — event id, type, time, who, masked summary —
keyed by the customer it is about. A type added later by another service (`leadnet.lead.returned`,
`leadnet.customer.tier_changed`, a sale's `leadnet.lead.verified`) appears without a change here; an event that
names no customer, and a compacted topic's tombstone, are acknowledged and left out.

The summary is the event's data as the public topic carried it, so it is masked by contract. What the router decides
itself (a correction) it writes directly in the same transaction, under the id of the event it publishes: when that
event comes back through the consumer, it is already there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.models import TimelineEntry
from dedup_router.repository.customer_file import corrections_by_change, record_timeline
from leadnet_shared.app import Runtime
from leadnet_shared.consumer import AllTypesExcept, BatchHandler
from leadnet_shared.events import CUSTOMERS, LEADS, LEDGER, SALES, TASKS, Envelope

TIMELINE_TOPICS = [LEADS, CUSTOMERS, TASKS, SALES, LEDGER]
# Not facts but snapshots: every decision and every masking republish sends the customer's state again.
SNAPSHOT_TYPES = frozenset({"leadnet.customer.upserted"})
TIMELINE_TYPES: frozenset[str] = AllTypesExcept(SNAPSHOT_TYPES)
CORRECTED = "leadnet.customer.corrected"

# Who a fact is by or about, read from whichever of these fields an event carries (first found wins).
_DEALER_FIELDS = ("dealer", "seller", "to_dealer", "entered_by", "assigned_dealer")
_ACTOR_FIELDS = ("actor", "decided_by", "by")


def _first(data: Mapping[str, Any], names: Sequence[str], *, longest: int) -> str | None:
    for name in names:
        value = data.get(name)
        if isinstance(value, str) and value:
            return value if len(value) <= longest else None
    return None


def timeline_row(envelope: Envelope) -> dict[str, Any] | None:
    """The timeline row of one event, or None when it names no customer (a dealer's, a plan reminder) or none the
    registry could hold (a value that fits no column would fail the batch and park the key for nothing)."""
    data = envelope.data
    customer_id = data.get("customer_id")
    if not isinstance(customer_id, str) or not 0 < len(customer_id) <= 36 or len(envelope.id) > 64:
        return None
    return {
        "event_id": envelope.id,
        "customer_id": customer_id,
        "type": envelope.type[:120],
        "occurred_at": envelope.time,
        "actor": _first(data, _ACTOR_FIELDS, longest=200),
        "dealer": _first(data, _DEALER_FIELDS, longest=32),
        "service": envelope.source[:120] if envelope.source else None,
        "summary": dict(data),
    }


async def record_events(session: AsyncSession, envelopes: Sequence[Envelope]) -> None:
    """The consumer's one decision path: a poll's events (or one, in the fallback) into the timeline."""
    rows = [row for envelope in envelopes if (row := timeline_row(envelope)) is not None]
    await record_timeline(session, rows)


def timeline_handler(runtime: Runtime) -> BatchHandler:
    async def on_events(session: AsyncSession, envelopes: list[Envelope]) -> None:
        await record_events(session, envelopes)

    return on_events


async def unmasked_corrections(session: AsyncSession, entries: Sequence[TimelineEntry]) -> dict[str, list[Any]]:
    """For a caller who sees the customer unmasked: each correction's changes with their real old and new values
    (the timeline keeps them masked, as published; `customer_changes` keeps them as they were)."""
    ids = [e.event_id for e in entries if e.type == CORRECTED]
    if not ids:
        return {}
    return {
        change_id: [{"field": row.field, "old": row.old_value, "new": row.new_value} for row in rows]
        for change_id, rows in (await corrections_by_change(session, ids)).items()
    }
