"""The Idempotency-Keys requests claimed (`idempotency_keys`), and the final response remembered for each keyed
request's replay. Hot paths, on the asyncpg lane (see `leads`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.models import IdempotencyKey
from lead_intake.repository.common import columns
from leadnet_shared.db import fetch, json_text

_CLAIM = (
    "INSERT INTO idempotency_keys (caller_key, key, request_hash, lead_id, batch_items) "
    "SELECT c, k, h, l, CAST(i AS jsonb) FROM unnest(CAST($1 AS text[]), CAST($2 AS text[]), "
    "CAST($3 AS text[]), CAST($4 AS text[]), CAST($5 AS text[])) AS t(c, k, h, l, i) "
    "ON CONFLICT DO NOTHING RETURNING caller_key, key, lead_id"
)
# Remembering the keyed requests' responses and waking the waiters are one statement, one round trip per poll:
# a data-modifying WITH runs whether or not the outer SELECT reads it, and both take effect at the commit.
_REMEMBER_AND_NOTIFY = (
    "WITH remembered AS ("
    "UPDATE idempotency_keys AS k SET status_code = a.status_code, response = CAST(a.response AS jsonb) "
    "FROM unnest(CAST($1 AS text[]), CAST($2 AS int[]), CAST($3 AS text[])) "
    "AS a(lead_id, status_code, response) "
    "WHERE k.lead_id = a.lead_id AND k.status_code IS NULL AND k.batch_items IS NULL) "
    "SELECT pg_notify('lead_verdict', p) FROM unnest(CAST($4 AS text[])) AS p"
)


@dataclass(frozen=True, slots=True)
class KeyClaim:
    """A request taking its Idempotency-Key: the lead it saves (single record) or its per-record items (batch)."""

    caller_key: str
    key: str
    body_hash: str
    lead_id: str | None = None
    batch_items: list[dict[str, Any]] | None = None


async def claim(session: AsyncSession, claims: list[KeyClaim]) -> set[tuple[str, str, str | None]]:
    """Insert the keys not taken yet, in one statement; the (caller, key, lead) of those this call took. A key
    another transaction holds uncommitted makes the insert wait for it, then skip it."""
    rows = await fetch(
        session,
        _CLAIM,
        *columns(claims, "caller_key", "key", "body_hash", "lead_id"),
        [None if c.batch_items is None else json_text(c.batch_items) for c in claims],
    )
    return {(row[0], row[1], row[2]) for row in rows}


async def first_claims(session: AsyncSession, taken: set[tuple[str, str]]) -> dict[tuple[str, str], IdempotencyKey]:
    """The rows of the requests that took these (caller, key) pairs first."""
    rows = await session.execute(
        select(IdempotencyKey).where(tuple_(IdempotencyKey.caller_key, IdempotencyKey.key).in_(taken))
    )
    return {(r.caller_key, r.key): r for r in rows.scalars()}


async def remember_and_notify(
    session: AsyncSession,
    *,
    lead_ids: list[str],
    status_codes: list[int],
    responses: list[str],
    notifications: list[str],
) -> None:
    """Keep each single-record key's first final response and send the waiters' notifications, one statement."""
    await fetch(session, _REMEMBER_AND_NOTIFY, lead_ids, status_codes, responses, notifications)


async def purge(session: AsyncSession, *, older_than: datetime) -> int:
    """Forget the keys claimed before `older_than`; how many."""
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)
