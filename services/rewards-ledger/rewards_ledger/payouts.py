"""Payout: HQ closes a month's statements (Asia/Shanghai) and pays them; what is paid out is settled for good.

Two people release money: one hq_admin prepares the month's payout (its total is fixed, its guarantees frozen), a
different hq_admin (another token subject) approves it, and only then is it released (issue 16 §1: no single
account can pay out what it may itself have caused to be posted).

The payout cut is the monthly statement closing. A month can be closed once it has ended; after that the profit
guarantees posted in it can no longer be set to another amount (money already paid is not re-priced). A cancelled
sale is still reversed after payout: the reversal is a new entry in the current month, i.e. a claw-back on the next
statement, never a change to a closed one.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.clock import SHANGHAI
from leadnet_shared.problems import FieldProblem, ValidationFailed
from rewards_ledger.models import Payout
from rewards_ledger.repository import payouts, postings
from rewards_ledger.schemas import PayoutDealer, PayoutOut

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(month: str) -> tuple[int, int]:
    """`2026-11` → (2026, 11); anything else is a 422 on the path parameter."""
    match = _MONTH.match(month)
    if match is None:
        raise ValidationFailed(
            "The month must be yyyy-mm.",
            errors=[FieldProblem("/month", "invalid_month", "Expected yyyy-mm, e.g. 2026-11.")],
        )
    return int(match.group(1)), int(match.group(2))


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, in Shanghai time (aware datetimes)."""
    year, mon = parse_month(month)
    start = datetime(year, mon, 1, tzinfo=SHANGHAI)
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=SHANGHAI)
    return start, end


def month_of(instant: datetime) -> str:
    """The Shanghai month an instant belongs to."""
    local = instant.astimezone(SHANGHAI)
    return f"{local.year:04d}-{local.month:02d}"


def may_close(month: str, *, now: datetime) -> bool:
    """A month is closed for payout only after it ended, so nothing can still be posted into it."""
    return now >= month_bounds(month)[1]


def payout_lock(month: str) -> str:
    """The advisory lock key both steps of one month's payout take."""
    return f"ledger.payout:{month}"


async def payout_out(session: AsyncSession, payout: Payout) -> PayoutOut:
    """A payout with its per-dealer amounts and whether it was released."""
    start, end = month_bounds(payout.month)
    rows = await postings.dealer_totals(session, start, end)
    approval = await payouts.approval(session, payout.month)
    return PayoutOut(
        month=payout.month,
        status="released" if approval is not None else "prepared",
        closed_at=payout.closed_at,
        closed_by=payout.closed_by,
        approved_at=approval.approved_at if approval else None,
        approved_by=approval.approved_by if approval else None,
        total_fen=payout.total_fen,
        dealers=[PayoutDealer(dealer=d, amount_fen=a) for d, a in rows],
    )
