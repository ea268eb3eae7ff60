"""The dealers routing reads, as a TerritoryIndex cached per process and rebuilt when any dealer changes.

Every dealer write (create, patch, withdraw) bumps a version row in `kit_state` in its own transaction; routing reads
that one row (a primary-key hit) and rebuilds the index only when the version moved, so a change made through any
replica is seen by the next routing decision of every replica.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.models import Dealer
from dedup_router.territories import DealerProfile, TerritoryIndex
from leadnet_shared.auth import Principal
from leadnet_shared.db import fetch
from leadnet_shared.dealer_directory import ACTIVE, refuse_unless_active

if TYPE_CHECKING:
    pass

VERSION_KEY = "dealers_version"


def profile(dealer: Dealer) -> DealerProfile:
    """What routing needs to know of a stored dealer."""
    return DealerProfile.build(
        code=dealer.code,
        territories=list(dealer.territories),
        product_lines=list(dealer.product_lines),
        capability=dealer.capability,
        withdrawn=dealer.status == "withdrawn",
    )


async def dealer_by_code(session: AsyncSession, code: str, *, for_update: bool = False) -> Dealer | None:
    """The stored dealer (withdrawn ones too); `for_update` locks its row until the transaction ends."""
    return await session.get(Dealer, code, with_for_update=True if for_update else None)


async def add_dealer(session: AsyncSession, dealer: Dealer) -> None:
    """A new dealer, written with the transaction's next flush."""
    session.add(dealer)


async def bump_dealers_version(session: AsyncSession) -> None:
    """Called in every transaction that changes a dealer, so cached indexes are rebuilt."""
    await session.execute(
        text(
            "INSERT INTO kit_state (key, value) VALUES (:k, '1'::jsonb) "
            "ON CONFLICT (key) DO UPDATE SET value = to_jsonb((kit_state.value #>> '{}')::bigint + 1)"
        ),
        {"k": VERSION_KEY},
    )


# Read per batch: sent on the asyncpg connection in the batch's transaction (see `leadnet_shared.db.fetch`).
DEALERS_VERSION_SQL = "SELECT value #>> '{}' FROM kit_state WHERE key = $1"


async def dealers_version(session: AsyncSession) -> int:
    rows = await fetch(session, DEALERS_VERSION_SQL, VERSION_KEY)
    return int(rows[0][0]) if rows else 0


async def load_index(session: AsyncSession) -> TerritoryIndex:
    """Every dealer (withdrawn ones are kept for lookups by code but are never candidates)."""
    dealers = (await session.execute(select(Dealer))).scalars().all()
    return TerritoryIndex.build([profile(d) for d in dealers])


@dataclass
class DealerIndexCache:
    """The TerritoryIndex of the dealers as of the last version seen."""

    _version: int | None = None
    _index: TerritoryIndex | None = field(default=None, repr=False)

    async def get(self, session: AsyncSession) -> TerritoryIndex:
        version = await dealers_version(session)
        if self._index is None or self._version != version:
            self._index = await load_index(session)
            self._version = version
        return self._index

    def invalidate(self) -> None:
        self._index, self._version = None, None


async def require_active_dealer(session: AsyncSession, dealers: DealerIndexCache, principal: Principal) -> None:
    """A dealer token writes (reports, confirms or rejects a sale) only while its dealer is registered and not
    withdrawn: 403 `dealer_not_active` otherwise (leadnet_shared.dealer_directory, review M2). HQ writes as HQ."""
    if principal.role != "dealer" or principal.dealer is None:
        return
    known = (await dealers.get(session)).dealer(principal.dealer)
    refuse_unless_active(principal.dealer, None if known is None else ("withdrawn" if known.withdrawn else ACTIVE))
