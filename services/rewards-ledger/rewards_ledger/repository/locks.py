"""The advisory locks (see the package docstring for the style): transaction-scoped, keyed by text, so work on one
record, sale or payout month is serialized until the transaction ends."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))")

_LOCK_ORDERED = text(
    "SELECT count(pg_advisory_xact_lock(h)) FROM (SELECT DISTINCT hashtextextended(k, 0) AS h "
    "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY h) AS ordered"
)


async def lock(session: AsyncSession, key: str) -> None:
    """Serialize work on one record or sale until the transaction ends."""
    await session.execute(_LOCK, {"k": key})


async def lock_all(session: AsyncSession, keys: Collection[str]) -> None:
    """Take many locks in one statement, in the order of their hashes: two transactions that lock overlapping sets
    this way take the shared keys in the same order, so they wait for each other instead of deadlocking."""
    if keys:
        await session.execute(_LOCK_ORDERED, {"keys": sorted(set(keys))})
