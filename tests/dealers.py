"""Dealers for tests: only a registered, active dealer's token may write (leadnet_shared.dealer_directory).

With the router running, register dealers there (`Pipeline.register_dealers`): intake and the scheduler learn them
from `leadnet.public.dealers.v1`, as in production. A test of one service without the router puts them straight into
that service's directory (`admit_dealers`), as if it had read their `leadnet.dealer.upserted`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from leadnet_shared.settings import to_plain_url

# Far from the Shandong customers the tests enter: a dealer registered only to write enters cross-region records.
ELSEWHERE = "65"


def dealer_body(dealer: str | dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/dealers` body: as given, or for a bare code a dealer in Xinjiang selling tractors."""
    if isinstance(dealer, dict):
        return dealer
    return {"code": dealer, "name": dealer, "territories": [ELSEWHERE], "product_lines": ["tractor"], "capability": 50}


async def admit_dealers(database_url: str, *codes: str, status: str = "active") -> None:
    """Put dealers into a service's own dealer directory (intake's or the scheduler's database)."""
    conn = await asyncpg.connect(to_plain_url(database_url))
    try:
        await conn.executemany(
            "INSERT INTO dealers (code, status, updated_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (code) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at",
            [(code, status, datetime.now(UTC)) for code in codes],
        )
    finally:
        await conn.close()


async def dealer_status_in(database_url: str, code: str) -> str | None:
    """The dealer's status in a service's own directory; None while it does not know the dealer."""
    conn = await asyncpg.connect(to_plain_url(database_url))
    try:
        status = await conn.fetchval("SELECT status FROM dealers WHERE code = $1", code)
    finally:
        await conn.close()
    return None if status is None else str(status)
