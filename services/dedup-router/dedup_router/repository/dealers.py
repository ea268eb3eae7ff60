"""The dealers: their rows, the version counter every dealer write bumps (so each replica's cached index is
rebuilt), and the share locks a routing batch holds on the dealers it chose."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.models import Dealer
from leadnet_shared.db import fetch

VERSION_KEY = "dealers_version"
_BUMP_VERSION = text(
    "INSERT INTO kit_state (key, value) VALUES (:k, '1'::jsonb) "
    "ON CONFLICT (key) DO UPDATE SET value = to_jsonb((kit_state.value #>> '{}')::bigint + 1)"
)
# Read per batch: sent on the asyncpg connection in the batch's transaction (see `leadnet_shared.db.fetch`).
DEALERS_VERSION_SQL = "SELECT value #>> '{}' FROM kit_state WHERE key = $1"
HOLD_DEALERS_SQL = "SELECT code, status FROM dealers WHERE code = ANY(CAST($1 AS varchar[])) ORDER BY code FOR SHARE"


async def dealer_by_code(session: AsyncSession, code: str, *, for_update: bool = False) -> Dealer | None:
    """The stored dealer (withdrawn ones too); `for_update` locks its row until the transaction ends."""
    return await session.get(Dealer, code, with_for_update=True if for_update else None)


async def add_dealer(session: AsyncSession, dealer: Dealer) -> None:
    """A new dealer, written with the transaction's next flush."""
    session.add(dealer)


async def all_dealers(session: AsyncSession) -> Sequence[Dealer]:
    """Every dealer, withdrawn ones too."""
    return (await session.execute(select(Dealer))).scalars().all()


async def known_dealer_codes(session: AsyncSession, codes: Iterable[str]) -> set[str]:
    """Which of `codes` name a dealer (withdrawn ones too)."""
    return set((await session.execute(select(Dealer.code).where(Dealer.code.in_(set(codes))))).scalars())


async def bump_dealers_version(session: AsyncSession) -> None:
    """Called in every transaction that changes a dealer, so cached indexes are rebuilt."""
    await session.execute(_BUMP_VERSION, {"k": VERSION_KEY})


async def dealers_version(session: AsyncSession) -> int:
    rows = await fetch(session, DEALERS_VERSION_SQL, VERSION_KEY)
    return int(rows[0][0]) if rows else 0


async def hold_dealers(session: AsyncSession, codes: set[str]) -> list[str]:
    """Share-lock the dealers (in code order, so two batches never deadlock); returns their statuses."""
    return [status for _, status in await fetch(session, HOLD_DEALERS_SQL, sorted(codes))]
