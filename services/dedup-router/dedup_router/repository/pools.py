"""The fairness rule's input: how many leads each dealer got per (territory prefix, product line)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.fairness import PoolKey
from dedup_router.models import PoolCount
from leadnet_shared.db import execute, fetch

# Sent on the asyncpg connection in the caller's transaction (see `leadnet_shared.db.fetch`), arrays whatever the
# number of pools, so each text is prepared once per connection.
LOCK_POOLS_SQL = (
    "SELECT c.prefix, c.product_line, c.dealer, c.assigned FROM pool_counts AS c "
    "JOIN unnest(CAST($1 AS varchar[]), CAST($2 AS varchar[])) AS k(prefix, product_line) "
    "ON c.prefix = k.prefix AND c.product_line = k.product_line "
    "ORDER BY c.prefix, c.product_line, c.dealer FOR UPDATE OF c"
)
WRITE_POOLS_SQL = (
    "INSERT INTO pool_counts (prefix, product_line, dealer, assigned) "
    "SELECT * FROM unnest(CAST($1 AS varchar[]), CAST($2 AS varchar[]), CAST($3 AS varchar[]), "
    "CAST($4 AS integer[])) "
    "ON CONFLICT (prefix, product_line, dealer) DO UPDATE SET assigned = pool_counts.assigned + excluded.assigned"
)


async def lock_pools(session: AsyncSession, pools: set[PoolKey]) -> dict[PoolKey, dict[str, int]]:
    """The pools' counts, their rows locked in key order for the rest of the transaction: decisions in one pool
    count one after the other."""
    counts: dict[PoolKey, dict[str, int]] = {pool: {} for pool in pools}
    if not pools:
        return counts
    ordered = sorted(pools)
    rows = await fetch(session, LOCK_POOLS_SQL, [p for p, _ in ordered], [line for _, line in ordered])
    for pool_prefix, line, dealer, assigned in rows:
        counts[(pool_prefix, line)][dealer] = assigned
    return counts


async def add_to_pool_counts(session: AsyncSession, added: Counter[tuple[str, str, str]]) -> None:
    """Count the leads given per (pool prefix, product line, dealer): the fairness rule's input."""
    if not added:
        return
    ordered = sorted(added.items())
    await execute(
        session,
        WRITE_POOLS_SQL,
        *(list(column) for column in zip(*(key for key, _ in ordered), strict=True)),
        [n for _, n in ordered],
    )


async def pool_counts(session: AsyncSession) -> dict[PoolKey, dict[str, int]]:
    """Every pool's counts (withdrawal and the HQ queue plan many moves at once, unlocked)."""
    counts: dict[PoolKey, dict[str, int]] = {}
    for row in (await session.execute(select(PoolCount))).scalars():
        counts.setdefault((row.prefix, row.product_line), {})[row.dealer] = row.assigned
    return counts
