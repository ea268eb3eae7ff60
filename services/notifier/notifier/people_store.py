"""Every SQL statement on messages to people (tables `people_lines`, `people_messages`, `people_channel_sends`,
`people_channel_pauses`; migration 0002).

Lines wait in `people_lines` until their digest's time; the flush turns the due ones into queued messages and
deletes them in one transaction. A queued message stays in `people_messages` until its channel accepted it or gave
up: the dispatcher claims due rows with FOR UPDATE SKIP LOCKED, so replicas share the work and a process that dies
mid-send leaves the row queued (sent again: at least once). Each provider call is written to
`people_channel_sends`, from which every pass rebuilds the channel's send window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.channels.base import Message
from notifier.people import Digest, DigestLine, Withdrawal

_ADD_LINES = text(
    """
INSERT INTO people_lines (trigger, channel_id, subject, position, dealer, line, flush_at, event_id, created_at)
SELECT l->>'trigger', l->>'channel_id', l->>'subject', l->>'position', l->>'dealer', l->>'line',
       CAST(l->>'flush_at' AS timestamptz), l->>'event_id', CAST(:now AS timestamptz)
FROM jsonb_array_elements(CAST(:lines AS jsonb)) AS l
ON CONFLICT ON CONSTRAINT pk_people_lines
DO UPDATE SET line = excluded.line, flush_at = excluded.flush_at, dealer = excluded.dealer,
              event_id = excluded.event_id
"""
)

_WITHDRAW = text(
    """
DELETE FROM people_lines p
USING jsonb_array_elements(CAST(:withdrawals AS jsonb)) AS w
WHERE p.trigger = w->>'trigger' AND p.subject = w->>'subject'
"""
)


async def add_lines(
    session: AsyncSession,
    lines: Sequence[tuple[str, DigestLine]],
    withdrawals: Sequence[Withdrawal],
    *,
    now: datetime,
) -> None:
    """Lines (with the id of the event that made each) wait for their digest; withdrawn subjects leave it. Within
    one batch, events apply in order: a withdrawal first removes older lines, then newer lines are added."""
    if withdrawals:
        payload = [{"trigger": w.trigger, "subject": w.subject} for w in withdrawals]
        await session.execute(_WITHDRAW, {"withdrawals": orjson.dumps(payload).decode()})
    if lines:
        rows = [
            {
                "trigger": line.trigger,
                "channel_id": line.channel_id,
                "subject": line.subject[:120],
                "position": line.position,
                "dealer": line.dealer,
                "line": line.line,
                "flush_at": line.flush_at.isoformat(),
                "event_id": event_id,
            }
            for event_id, line in lines
        ]
        # One row per key in one statement (ON CONFLICT cannot touch a row twice): the last event wins.
        latest = {(r["trigger"], r["channel_id"], r["subject"], r["position"]): r for r in rows}
        await session.execute(_ADD_LINES, {"lines": orjson.dumps(list(latest.values())).decode(), "now": now})


_TAKE_DUE_LINES = text(
    """
DELETE FROM people_lines
WHERE (trigger, channel_id, subject, position) IN (
    SELECT trigger, channel_id, subject, position FROM people_lines
    WHERE flush_at <= :now ORDER BY flush_at, created_at LIMIT :limit FOR UPDATE SKIP LOCKED)
RETURNING trigger, channel_id, subject, position, dealer, line, flush_at, created_at
"""
)


async def take_due_lines(session: AsyncSession, *, now: datetime, limit: int = 5000) -> list[DigestLine]:
    rows = list((await session.execute(_TAKE_DUE_LINES, {"now": now, "limit": limit})).all())
    rows.sort(key=lambda r: (r.flush_at, r.created_at, r.subject))
    return [DigestLine(r.trigger, r.channel_id, r.dealer, r.position, r.subject, r.line, r.flush_at) for r in rows]


_QUEUE = text(
    """
INSERT INTO people_messages (channel_id, trigger, dealer, position, title, lines, params, status, not_before,
                             queued_at)
SELECT d->>'channel_id', d->>'trigger', d->>'dealer', d->>'position', d->>'title', d->'lines', d->'params',
       'queued', CAST(:now AS timestamptz), CAST(:now AS timestamptz)
FROM jsonb_array_elements(CAST(:digests AS jsonb)) WITH ORDINALITY AS x(d, ord)
ORDER BY x.ord
"""
)


async def queue_messages(session: AsyncSession, digests: Iterable[Digest], *, now: datetime) -> None:
    payload = [
        {
            "channel_id": d.channel_id,
            "trigger": d.trigger,
            "dealer": d.dealer,
            "position": d.position,
            "title": d.message.title,
            "lines": list(d.message.lines),
            "params": d.message.params,
        }
        for d in digests
    ]
    if payload:
        await session.execute(_QUEUE, {"digests": orjson.dumps(payload).decode(), "now": now})


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    message_id: int
    channel_id: str
    attempts: int
    queued_at: datetime
    message: Message


_CLAIM = text(
    """
SELECT message_id, channel_id, attempts, queued_at, title, lines, params FROM people_messages
WHERE status = 'queued' AND not_before <= :now
ORDER BY not_before, message_id
LIMIT :limit
FOR UPDATE SKIP LOCKED
"""
)


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


async def claim_due(session: AsyncSession, *, now: datetime, limit: int) -> list[QueuedMessage]:
    rows = (await session.execute(_CLAIM, {"now": now, "limit": limit})).all()
    return [
        QueuedMessage(
            r.message_id,
            r.channel_id,
            r.attempts,
            r.queued_at,
            Message(r.title, tuple(_json(r.lines)), {str(k): str(v) for k, v in _json(r.params).items()}),
        )
        for r in rows
    ]


_RECENT_SENDS = text(
    """
SELECT c.channel_id, s.at, p.paused_until
FROM (SELECT DISTINCT unnest(CAST(:channels AS text[])) AS channel_id) c
LEFT JOIN people_channel_sends s ON s.channel_id = c.channel_id AND s.at > :since
LEFT JOIN people_channel_pauses p ON p.channel_id = c.channel_id
"""
)


async def recent_sends(
    session: AsyncSession, channels: Sequence[str], *, now: datetime, period: timedelta
) -> dict[str, tuple[list[datetime], datetime | None]]:
    """Per channel: its provider calls within the last `period`, and until when the provider paused it."""
    out: dict[str, tuple[list[datetime], datetime | None]] = {c: ([], None) for c in channels}
    for r in (await session.execute(_RECENT_SENDS, {"channels": list(channels), "since": now - period})).all():
        sends, _ = out[r.channel_id]
        if r.at is not None:
            sends.append(r.at)
        out[r.channel_id] = (sends, r.paused_until)
    return out


_RECORD_SEND = text("INSERT INTO people_channel_sends (channel_id, at) VALUES (:channel_id, :at)")
_PAUSE = text(
    """
INSERT INTO people_channel_pauses (channel_id, paused_until) VALUES (:channel_id, :until)
ON CONFLICT (channel_id)
DO UPDATE SET paused_until = GREATEST(people_channel_pauses.paused_until, excluded.paused_until)
"""
)
_SENT = text(
    """
UPDATE people_messages SET status = 'sent', sent_at = :now, attempts = attempts + 1, last_error = NULL,
                           last_code = NULL
WHERE message_id = :message_id
"""
)
_DEFER = text(
    """
UPDATE people_messages SET not_before = :retry_at, attempts = attempts + :attempted,
                           last_error = coalesce(:error, last_error), last_code = coalesce(:code, last_code)
WHERE message_id = :message_id
"""
)
_FAILED = text(
    """
UPDATE people_messages SET status = 'failed', attempts = attempts + 1, last_error = :error, last_code = :code
WHERE message_id = :message_id
"""
)
_PURGE_SENDS = text("DELETE FROM people_channel_sends WHERE at < :before")


async def record_send(session: AsyncSession, channel_id: str, *, at: datetime) -> None:
    await session.execute(_RECORD_SEND, {"channel_id": channel_id, "at": at})


async def pause_channel(session: AsyncSession, channel_id: str, *, until: datetime) -> None:
    await session.execute(_PAUSE, {"channel_id": channel_id, "until": until})


async def mark_sent(session: AsyncSession, message_id: int, *, now: datetime) -> None:
    await session.execute(_SENT, {"message_id": message_id, "now": now})


async def defer(
    session: AsyncSession, message_id: int, *, retry_at: datetime, attempted: bool, error: str | None, code: str | None
) -> None:
    await session.execute(
        _DEFER,
        {"message_id": message_id, "retry_at": retry_at, "attempted": int(attempted), "error": error, "code": code},
    )


async def mark_failed(session: AsyncSession, message_id: int, *, error: str | None, code: str | None) -> None:
    await session.execute(_FAILED, {"message_id": message_id, "error": error, "code": code})


async def purge_sends(session: AsyncSession, *, before: datetime) -> None:
    await session.execute(_PURGE_SENDS, {"before": before})


_TAKE_OWNER_NOTICES = text(
    """
UPDATE owner_notices SET told_at = :now
WHERE seq IN (SELECT seq FROM owner_notices WHERE told_at IS NULL ORDER BY seq LIMIT :limit FOR UPDATE SKIP LOCKED)
RETURNING seq, owner, kind, webhook_id
"""
)


async def take_owner_notices(session: AsyncSession, *, now: datetime, limit: int = 500) -> list[dict[str, Any]]:
    """The notifier's untold notices to owners (a disabled webhook), marked told: the caller turns them into digest
    lines in the same transaction, so a notice is told once."""
    rows = (await session.execute(_TAKE_OWNER_NOTICES, {"now": now, "limit": limit})).all()
    return [
        {"seq": r.seq, "type": r.kind, "owner": "HQ" if r.owner == "hq" else r.owner, "webhook_id": r.webhook_id}
        for r in sorted(rows, key=lambda r: r.seq)
    ]
