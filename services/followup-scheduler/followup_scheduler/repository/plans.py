"""The dealers' monthly sales plans and the task counts their quotas are checked against (see the package docstring
for the style; plans.py says what each count means)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from followup_scheduler.models import Plan

_DEMAND_AT = text("""
    SELECT count(DISTINCT customer_id) FROM tasks
    WHERE dealer = :dealer AND kind = 'promotion' AND planned_at < :at
      AND (completed_at IS NULL OR completed_at >= :at) AND (cancelled_at IS NULL OR cancelled_at >= :at)""")
_DONE_BY_KIND = text("""
    SELECT kind, count(*) FROM tasks
    WHERE dealer = :dealer AND completed_at >= :start AND completed_at < :end GROUP BY kind""")
_SCHEDULED_BY_KIND = text("""
    SELECT kind, count(*) FROM tasks
    WHERE dealer = :dealer AND due_at >= :start AND due_at < :end AND status <> 'cancelled' GROUP BY kind""")
_APPROVED_LINES = text("""
    SELECT p.kind, count(l.line_no) FROM work_plans p LEFT JOIN work_plan_lines l USING (plan_id)
    WHERE p.dealer = :dealer AND p.status = 'approved'
      AND ((p.kind = 'callback' AND p.period = :month) OR (p.kind = 'promotion' AND p.period = ANY(:weeks)))
    GROUP BY p.kind""")


async def sales_plan_of(session: AsyncSession, *, dealer: str, month: str, lock: bool = False) -> Plan | None:
    return await session.get(Plan, (dealer, month), with_for_update=lock)


async def one_month_demand_at(session: AsyncSession, *, dealer: str, at: datetime) -> int:
    """Customers of `dealer` with a promotion pending at instant `at`."""
    return int((await session.execute(_DEMAND_AT, {"dealer": dealer, "at": at})).scalar_one())


async def _by_kind(session: AsyncSession, statement: TextClause, params: dict[str, object]) -> dict[str, int]:
    return {str(kind): int(count) for kind, count in await session.execute(statement, params)}


async def done_by_kind(session: AsyncSession, *, dealer: str, start: datetime, end: datetime) -> dict[str, int]:
    """Tasks the dealer completed from `start` to `end`, by kind."""
    return await _by_kind(session, _DONE_BY_KIND, {"dealer": dealer, "start": start, "end": end})


async def scheduled_by_kind(session: AsyncSession, *, dealer: str, start: datetime, end: datetime) -> dict[str, int]:
    """Tasks of the dealer due from `start` to `end` and not cancelled, by kind."""
    return await _by_kind(session, _SCHEDULED_BY_KIND, {"dealer": dealer, "start": start, "end": end})


async def approved_plan_lines(session: AsyncSession, *, dealer: str, month: str, weeks: list[str]) -> dict[str, int]:
    """Lines of the dealer's approved callback plan of `month` and approved promotion plans of `weeks`, by kind."""
    return await _by_kind(session, _APPROVED_LINES, {"dealer": dealer, "month": month, "weeks": weeks})
