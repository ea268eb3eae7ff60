"""Callback and promotion plans (see the package docstring for the style): the plan, its lines and steps, the
dealers' places in the four levels, the timers' late flags, and the roll-up's figures."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from followup_scheduler.models import PlanDealerUnit, WorkPlan, WorkPlanLine, WorkPlanStep


async def record_dealer_unit(
    session: AsyncSession, *, dealer: str, region: str | None, channel: str, updated_at: datetime
) -> None:
    """The dealer's region and sales channel (the latest upsert wins)."""
    values = {"region": region, "channel": channel, "updated_at": updated_at}
    statement = insert(PlanDealerUnit).values(dealer=dealer, **values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[PlanDealerUnit.dealer], set_=values, where=PlanDealerUnit.updated_at <= updated_at
        )
    )


async def dealer_unit(session: AsyncSession, dealer: str) -> PlanDealerUnit | None:
    return await session.get(PlanDealerUnit, dealer)


async def dealer_units(session: AsyncSession) -> dict[str, tuple[str | None, str]]:
    """Every known dealer's (region, channel)."""
    rows = await session.execute(text("SELECT dealer, region, channel FROM plan_dealer_units"))
    return {row.dealer: (row.region, row.channel) for row in rows}


async def find_plan(
    session: AsyncSession, *, dealer: str, kind: str, period: str, lock: bool = False
) -> WorkPlan | None:
    query = select(WorkPlan).where(WorkPlan.dealer == dealer, WorkPlan.kind == kind, WorkPlan.period == period)
    if lock:
        query = query.with_for_update()
    found: WorkPlan | None = (await session.execute(query)).scalar_one_or_none()
    return found


async def plan_by_id(session: AsyncSession, plan_id: str) -> WorkPlan | None:
    """A plan re-read from its row (a set-based statement has just changed it)."""
    return await session.get(WorkPlan, plan_id, populate_existing=True)


async def submitted_plans(session: AsyncSession, *, kind: str, period: str) -> list[WorkPlan]:
    query = select(WorkPlan).where(WorkPlan.kind == kind, WorkPlan.period == period, WorkPlan.status == "submitted")
    return list((await session.execute(query)).scalars().all())


async def plan_lines(session: AsyncSession, plan_id: str) -> list[WorkPlanLine]:
    query = select(WorkPlanLine).where(WorkPlanLine.plan_id == plan_id).order_by(WorkPlanLine.line_no)
    return list((await session.execute(query)).scalars().all())


async def plan_steps(session: AsyncSession, plan_id: str) -> list[WorkPlanStep]:
    query = select(WorkPlanStep).where(WorkPlanStep.plan_id == plan_id).order_by(WorkPlanStep.step_id)
    return list((await session.execute(query)).scalars().all())


async def line_tiers(session: AsyncSession, plan_id: str) -> Counter[str]:
    """How many of the plan's lines are of each tier."""
    rows = await session.execute(select(WorkPlanLine.tier).where(WorkPlanLine.plan_id == plan_id))
    return Counter(row[0] for row in rows)


async def replace_lines(session: AsyncSession, plan_id: str, lines: Sequence[WorkPlanLine]) -> None:
    await session.execute(delete(WorkPlanLine).where(WorkPlanLine.plan_id == plan_id))
    session.add_all(lines)


_CANDIDATES = text("""
    SELECT t.customer_id, t.lead_id, l.tier, l.nature, l.horizon, l.unreachable_streak = 0 AS reachable,
           CAST(t.due_at AT TIME ZONE 'Asia/Shanghai' AS date) AS due
    FROM tasks t JOIN leads l ON l.lead_id = t.lead_id
    WHERE t.dealer = :dealer AND t.kind = :kind AND t.status IN ('open', 'overdue') AND l.status = 'open'""")
_DEMAND_CUSTOMERS = text(
    "SELECT DISTINCT customer_id FROM tasks WHERE dealer = :d AND kind = 'promotion' AND status IN ('open', 'overdue')"
)


async def open_task_customers(session: AsyncSession, *, dealer: str, kind: str) -> list[dict[str, Any]]:
    """The dealer's customers with an open task of `kind` (one query on the dealer's open-task index): customer,
    lead, tier, nature, horizon, reachable (no unreachable streak) and the task's Shanghai due date."""
    return [dict(row) for row in (await session.execute(_CANDIDATES, {"dealer": dealer, "kind": kind})).mappings()]


async def demand_customers(session: AsyncSession, *, dealer: str) -> set[str]:
    """Customers of the dealer with an open promotion task."""
    return {row[0] for row in await session.execute(_DEMAND_CUSTOMERS, {"d": dealer})}


# ---- the timers: every active dealer's missing plan is flagged late once ----------------------------------------
_ENSURE_PLANS = text("""
    INSERT INTO work_plans (plan_id, dealer, kind, period, status, quota, due_by, late, line_count, updated_at,
                            updated_by)
    SELECT gen_random_uuid()::text, d.code, :kind, :period, 'draft', 0, :due_by, false, 0, :now, 'scheduler'
    FROM dealers d WHERE d.status = 'active'
    ON CONFLICT (dealer, kind, period) DO NOTHING""")
_FLAG_LATE = text("""
    UPDATE work_plans SET late = true, late_flagged_at = :now
    WHERE kind = :kind AND period = :period AND submitted_at IS NULL AND late_flagged_at IS NULL
      AND dealer IN (SELECT code FROM dealers WHERE status = 'active')
    RETURNING plan_id""")


async def flag_late_plans(
    session: AsyncSession, *, kind: str, period: str, due_by: datetime, now: datetime
) -> list[str]:
    """Give every active dealer its plan of the period (a draft if it had none) and flag late, once, those not
    submitted; the ids of the plans flagged now."""
    await session.execute(_ENSURE_PLANS, {"kind": kind, "period": period, "due_by": due_by, "now": now})
    return [row[0] for row in await session.execute(_FLAG_LATE, {"kind": kind, "period": period, "now": now})]


# ---- the roll-up's figures ---------------------------------------------------------------------------------------
_PLANS = text("""
    SELECT p.dealer, p.kind, p.period, p.status, p.late, p.submitted_at IS NOT NULL AS submitted,
           (SELECT count(*) FROM work_plan_lines l WHERE l.plan_id = p.plan_id
              AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.task_id = l.task_id AND t.status = 'cancelled')) AS lines
    FROM work_plans p
    WHERE (p.kind = 'callback' AND p.period = :month) OR (p.kind = 'promotion' AND p.period = ANY(:weeks))""")
# Tasks bucketed by Shanghai month (callbacks) or ISO week (promotions) of the instant that counts.
_DONE = text("""
    SELECT dealer, kind, to_char(completed_at AT TIME ZONE 'Asia/Shanghai', 'IYYY-"W"IW') AS week, count(*)
    FROM tasks
    WHERE kind IN ('callback', 'promotion') AND dealer IS NOT NULL AND completed_at >= :start AND completed_at < :end
    GROUP BY 1, 2, 3""")
_UNPLANNED = text("""
    SELECT dealer, kind, to_char(due_at AT TIME ZONE 'Asia/Shanghai', 'IYYY-"W"IW') AS week, count(*)
    FROM tasks
    WHERE kind IN ('callback', 'promotion') AND dealer IS NOT NULL AND due_at >= :start AND due_at < :end
      AND status <> 'cancelled'
      AND (plan_id IS NULL OR plan_id NOT IN (SELECT plan_id FROM work_plans WHERE status = 'approved'))
    GROUP BY 1, 2, 3""")
TASK_FIGURES = {"done": _DONE, "unplanned": _UNPLANNED}


async def plans_of_month(session: AsyncSession, *, month: str, weeks: list[str]) -> Sequence[Any]:
    """The callback plans of `month` and promotion plans of `weeks`: dealer, kind, period, status, late,
    submitted, and lines (those whose task was not cancelled)."""
    return (await session.execute(_PLANS, {"month": month, "weeks": weeks})).all()


async def task_figures(session: AsyncSession, figure: str, *, start: datetime, end: datetime) -> Sequence[Any]:
    """Callback and promotion tasks `done` (completed) or `unplanned` (due, not cancelled, placed by no approved
    plan) from `start` to `end`, counted by dealer, kind and Shanghai ISO week."""
    return (await session.execute(TASK_FIGURES[figure], {"start": start, "end": end})).all()
