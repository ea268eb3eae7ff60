"""The two steps of a month's payout (see the package docstring for the style): a prepared payout and its
approval, each appended once per month and never changed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from rewards_ledger.models import Payout, PayoutApproval


async def payout(session: AsyncSession, month: str) -> Payout | None:
    """The month's prepared payout, if any."""
    return await session.get(Payout, month)


async def prepare_payout(session: AsyncSession, *, month: str, now: datetime, by: str, total_fen: int) -> Payout:
    """Append the month's payout with its fixed total (the caller holds the month's lock and saw none)."""
    prepared = Payout(month=month, closed_at=now, closed_by=by, total_fen=total_fen)
    session.add(prepared)
    await session.flush()
    return prepared


async def approval(session: AsyncSession, month: str) -> PayoutApproval | None:
    """The month's approval (the payout is released), if any."""
    return await session.get(PayoutApproval, month)


async def approve_payout(session: AsyncSession, *, month: str, now: datetime, by: str) -> None:
    """Append the month's approval, which releases it (the caller holds the month's lock and saw none)."""
    session.add(PayoutApproval(month=month, approved_at=now, approved_by=by))
    await session.flush()
