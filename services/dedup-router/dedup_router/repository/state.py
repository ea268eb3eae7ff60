"""Progress rows of the router's one-off jobs in `kit_state` (the masking republish keeps its last customer id)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_LOCK = text("SELECT value FROM kit_state WHERE key = :k FOR UPDATE")
_WRITE = text(
    "INSERT INTO kit_state (key, value) VALUES (:k, CAST(:v AS jsonb)) "
    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
)


async def lock_state(session: AsyncSession, key: str) -> dict[str, Any] | None:
    """The job's state, its row locked until the transaction ends (None before its first write)."""
    row = (await session.execute(_LOCK, {"k": key})).first()
    return dict(row[0]) if row else None


async def write_state(session: AsyncSession, key: str, value: dict[str, Any]) -> None:
    await session.execute(_WRITE, {"k": key, "v": orjson.dumps(value).decode()})
