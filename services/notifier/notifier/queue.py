"""The delivery queue and log (table `deliveries`): every SQL statement on deliveries is here.

A delivery is pending until it is delivered (a 2xx answer) or its retries end (failed). Order per customer: a
delivery is sent only when no earlier delivery of the same subscription and order key is still pending, so a
failing one holds the later ones of its customer, and only those. A claim takes a lease (the delivery's
`next_attempt_at` moves to the lease's end, committed before the request is sent): a process killed mid-delivery
leaves the delivery to be claimed again when the lease ends, which is what makes the delivery at-least-once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Select, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.events import Envelope
from notifier.models import Delivery


@dataclass(frozen=True)
class Notice:
    """One webhook message an event makes: its kind, the dealer it is about, its order key and payload data."""

    kind: str
    dealer: str
    order_key: str
    data: dict[str, Any]


_ENQUEUE = text(
    """
INSERT INTO deliveries (delivery_id, webhook_id, event_type, source_event_id, order_key, payload, status, attempts,
                        next_attempt_at, created_at, updated_at)
SELECT 'msg_' || replace(CAST(gen_random_uuid() AS text), '-', ''), w.webhook_id, n.item->>'kind',
       n.item->>'event_id', n.item->>'order_key', n.item->'payload', 'pending', 0,
       CAST(:now AS timestamptz), CAST(:now AS timestamptz), CAST(:now AS timestamptz)
FROM jsonb_array_elements(CAST(:items AS jsonb)) WITH ORDINALITY AS n(item, ord)
JOIN webhooks w ON (n.item->>'kind') = ANY(w.events)
               AND (w.owner = n.item->>'dealer'
                    OR (w.owner = 'hq' AND coalesce(w.dealer, n.item->>'dealer') = n.item->>'dealer'))
ORDER BY n.ord, w.seq
ON CONFLICT ON CONSTRAINT uq_deliveries_event DO NOTHING
RETURNING 1
"""
)


_NOTIFY = text("SELECT pg_notify('notifier_deliveries', '')")


async def wake(session: AsyncSession) -> None:
    """Wake the delivery workers when this transaction commits (they LISTEN on the channel), instead of at their
    next poll."""
    await session.execute(_NOTIFY)


def payload_of(kind: str, occurred_at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """The body a receiver gets (Standard Webhooks' recommended shape): type, timestamp, data."""
    return {"type": kind, "timestamp": occurred_at.isoformat().replace("+00:00", "Z"), "data": data}


async def enqueue(session: AsyncSession, outgoing: list[tuple[Envelope, Notice]], *, now: datetime) -> int:
    """One pending delivery per subscription that asked for each notice's kind (its dealer's and HQ's), in the
    events' order (each notice with the event it came from); an event seen again adds nothing. Subscriptions that
    are disabled get theirs too: they wait there and go out when it is enabled again."""
    items = [
        {
            "kind": notice.kind,
            "dealer": notice.dealer,
            "event_id": event.id,
            "order_key": notice.order_key[:80],
            "payload": payload_of(notice.kind, event.time, notice.data),
        }
        for event, notice in outgoing
    ]
    result = await session.execute(_ENQUEUE, {"items": orjson.dumps(items).decode(), "now": now})
    return len(result.fetchall())


_ENQUEUE_ONE = text(
    """
INSERT INTO deliveries (delivery_id, webhook_id, event_type, source_event_id, order_key, payload, status, attempts,
                        next_attempt_at, created_at, updated_at)
VALUES ('msg_' || replace(CAST(gen_random_uuid() AS text), '-', ''), :webhook_id, :kind, :event_id, :order_key,
        CAST(:payload AS jsonb), 'pending', 0, :now, :now, :now)
RETURNING delivery_id
"""
)


async def enqueue_test(session: AsyncSession, *, webhook_id: str, event_id: str, now: datetime) -> str:
    payload = payload_of("webhook.test", now, {"webhook_id": webhook_id})
    result = await session.execute(
        _ENQUEUE_ONE,
        {
            "webhook_id": webhook_id,
            "kind": "webhook.test",
            "event_id": event_id,
            "order_key": event_id,
            "payload": orjson.dumps(payload).decode(),
            "now": now,
        },
    )
    return str(result.scalar_one())


@dataclass(frozen=True)
class Claimed:
    delivery_id: str
    webhook_id: str
    payload: dict[str, Any]
    attempts: int
    first_attempt_at: datetime
    url: str
    secrets: list[str]


_CLAIM = text(
    """
WITH due AS (
    SELECT d.delivery_id
    FROM deliveries d JOIN webhooks w ON w.webhook_id = d.webhook_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= :now AND w.status = 'enabled'
      AND NOT EXISTS (
          SELECT 1 FROM deliveries e
          WHERE e.webhook_id = d.webhook_id AND e.order_key = d.order_key AND e.status = 'pending' AND e.seq < d.seq)
    ORDER BY d.seq
    LIMIT :limit
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE deliveries d
SET next_attempt_at = :lease_end, attempts = d.attempts + 1, first_attempt_at = COALESCE(d.first_attempt_at, :now),
    last_attempt_at = :now, updated_at = :now
FROM due, webhooks w
WHERE d.delivery_id = due.delivery_id AND w.webhook_id = d.webhook_id
RETURNING d.delivery_id, d.webhook_id, d.payload, d.attempts, d.first_attempt_at, d.seq, w.url, w.secret,
          w.previous_secret, w.previous_secret_until
"""
)


async def claim(session: AsyncSession, *, now: datetime, lease_end: datetime, limit: int) -> list[Claimed]:
    rows = (await session.execute(_CLAIM, {"now": now, "lease_end": lease_end, "limit": limit})).all()
    claimed = []
    for row in sorted(rows, key=lambda r: int(r.seq)):
        secrets = [row.secret]
        if row.previous_secret and row.previous_secret_until and row.previous_secret_until > now:
            secrets.append(row.previous_secret)
        payload = row.payload if isinstance(row.payload, dict) else orjson.loads(row.payload)
        claimed.append(
            Claimed(row.delivery_id, row.webhook_id, payload, row.attempts, row.first_attempt_at, row.url, secrets)
        )
    return claimed


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: delivered, or when to try again (None: give up, the delivery failed)."""

    delivery_id: str
    attempts: int  # the claim's count: a result for an attempt whose lease another worker took over is dropped
    webhook_id: str
    delivered: bool
    response_code: int | None
    error: str | None
    next_attempt_at: datetime | None


_RECORD = text(
    """
UPDATE deliveries d
SET status = CASE WHEN r.delivered THEN 'delivered' WHEN r.next_at IS NULL THEN 'failed' ELSE 'pending' END,
    next_attempt_at = COALESCE(r.next_at, d.next_attempt_at), response_code = r.code, last_error = r.error,
    updated_at = CAST(:now AS timestamptz)
FROM unnest(CAST(:ids AS text[]), CAST(:attempts AS integer[]), CAST(:delivered AS boolean[]),
            CAST(:codes AS integer[]), CAST(:errors AS text[]), CAST(:next_at AS timestamptz[]))
     AS r(delivery_id, attempts, delivered, code, error, next_at)
WHERE d.delivery_id = r.delivery_id AND d.attempts = r.attempts AND d.status = 'pending'
"""
)


async def record(session: AsyncSession, outcomes: list[Outcome], *, now: datetime) -> None:
    if not outcomes:
        return
    await session.execute(
        _RECORD,
        {
            "now": now,
            "ids": [o.delivery_id for o in outcomes],
            "attempts": [o.attempts for o in outcomes],
            "delivered": [o.delivered for o in outcomes],
            "codes": [o.response_code for o in outcomes],
            "errors": [o.error[:200] if o.error else None for o in outcomes],
            "next_at": [o.next_attempt_at for o in outcomes],
        },
    )


_PURGE = text(
    """
DELETE FROM deliveries WHERE delivery_id IN (
    SELECT delivery_id FROM deliveries WHERE status <> 'pending' AND updated_at < :cutoff LIMIT :limit)
"""
)


async def purge(session: AsyncSession, *, older_than: datetime, limit: int = 10_000) -> int:
    """Forget delivered and failed deliveries last changed before `older_than` (a batch at a time)."""
    result = await session.execute(_PURGE, {"cutoff": older_than, "limit": limit})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


_REPLAY_ONE = text(
    """
UPDATE deliveries SET status = 'pending', next_attempt_at = :now, first_attempt_at = NULL, updated_at = :now
WHERE webhook_id = :webhook_id AND delivery_id = :delivery_id
RETURNING delivery_id
"""
)

_REPLAY_RANGE = text(
    """
UPDATE deliveries SET status = 'pending', next_attempt_at = :now, first_attempt_at = NULL, updated_at = :now
WHERE webhook_id = :webhook_id AND created_at >= :since AND created_at < :until
  AND (:failed_only IS FALSE OR status = 'failed')
"""
)


async def replay_one(session: AsyncSession, *, webhook_id: str, delivery_id: str, now: datetime) -> bool:
    """Send a delivery again (with the same `webhook-id`, so a receiver that keeps ids sees it is the same
    message); its retries start again. It keeps its place in its customer's order."""
    result = await session.execute(_REPLAY_ONE, {"webhook_id": webhook_id, "delivery_id": delivery_id, "now": now})
    return result.first() is not None


async def replay_range(
    session: AsyncSession, *, webhook_id: str, since: datetime, until: datetime, failed_only: bool, now: datetime
) -> int:
    result = await session.execute(
        _REPLAY_RANGE,
        {"webhook_id": webhook_id, "since": since, "until": until, "failed_only": failed_only, "now": now},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def listed(webhook_id: str, status: str | None) -> Select[Delivery]:
    """A subscription's delivery log (of one status, when given), for the kit's keyset pages."""
    query = select(Delivery).where(Delivery.webhook_id == webhook_id)
    return query if status is None else query.where(Delivery.status == status)


async def delivery(session: AsyncSession, *, webhook_id: str, delivery_id: str) -> Delivery | None:
    """One delivery of a subscription (None: not one of its deliveries)."""
    found = await session.get(Delivery, delivery_id)
    return found if found is not None and found.webhook_id == webhook_id else None
