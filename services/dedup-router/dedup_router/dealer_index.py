"""The dealers routing reads, as a TerritoryIndex cached per process and rebuilt when any dealer changes.

Every dealer write (create, patch, withdraw) bumps a version row in `kit_state` in its own transaction; routing reads
that one row (a primary-key hit) and rebuilds the index only when the version moved, so a change made through any
replica is seen by the next routing decision of every replica.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.models import Dealer
from dedup_router.repository.dealers import all_dealers, dealers_version
from dedup_router.repository.dealers import bump_dealers_version as bump_dealers_version  # for bench/ and tests/
from dedup_router.territories import DealerProfile, TerritoryIndex


def profile(dealer: Dealer) -> DealerProfile:
    """What routing needs to know of a stored dealer."""
    return DealerProfile.build(
        code=dealer.code,
        territories=list(dealer.territories),
        product_lines=list(dealer.product_lines),
        capability=dealer.capability,
        withdrawn=dealer.status == "withdrawn",
    )


async def load_index(session: AsyncSession) -> TerritoryIndex:
    """Every dealer (withdrawn ones are kept for lookups by code but are never candidates)."""
    return TerritoryIndex.build([profile(d) for d in await all_dealers(session)])


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


async def current_index(session: AsyncSession, cache: DealerIndexCache | None) -> TerritoryIndex:
    """The index through the process's cache when there is one (a worker, an endpoint), else read now (a test)."""
    return await cache.get(session) if cache is not None else await load_index(session)
