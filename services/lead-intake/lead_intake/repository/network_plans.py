"""The network development plans (`network_development_plans`, one per owner and period) and the deadline reminders
claimed for the network and collection procedures (`network_plan_reminders`: a row per owner, deadline, period and
days before, inserted in the transaction that publishes the reminder, so each is sent once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.network_models import NetworkDevelopmentPlan
from lead_intake.repository.common import upsert

# Claim the reminder for HQ and every active dealer that has no row of `table` for the period (`column`) yet; the
# rows returned are the owners to remind.
_CLAIM_UNLESS = """
    INSERT INTO network_plan_reminders (owner, deadline, period, days_before, sent_at)
    SELECT o.owner, CAST(:deadline AS varchar), CAST(:period AS varchar), :days, :now FROM (
        SELECT CAST(:hq AS varchar) AS owner UNION SELECT code FROM dealers WHERE status = 'active'
    ) o
    WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.owner = o.owner AND t.{column} = CAST(:period AS varchar))
    ON CONFLICT DO NOTHING
    RETURNING owner
    """
# The development plan filed for the period; the evaluation done for the quarter.
_CLAIM_UNLESS_FILED = {
    "development_plan": text(_CLAIM_UNLESS.format(table="network_development_plans", column="period")),
    "evaluation": text(_CLAIM_UNLESS.format(table="network_evaluations", column="quarter")),
}
# A reminder for the owners named (the hand-on: the dealers still short of their target).
_CLAIM_NAMED = text(
    """
    INSERT INTO network_plan_reminders (owner, deadline, period, days_before, sent_at)
    SELECT o, CAST(:deadline AS varchar), CAST(:period AS varchar), :days, :now
    FROM unnest(CAST(:owners AS varchar[])) o
    ON CONFLICT DO NOTHING
    RETURNING owner
    """
)
_ACTIVE_NOT_REMINDED = text(
    """
    SELECT code FROM dealers d WHERE status = 'active'
      AND NOT EXISTS (
          SELECT 1 FROM network_plan_reminders r
          WHERE r.owner = d.code AND r.deadline = :deadline AND r.period = :period AND r.days_before = :days)
    ORDER BY code
    """
)


async def save_plan(session: AsyncSession, values: dict[str, Any]) -> NetworkDevelopmentPlan:
    """File the plan, or change its count and who is responsible (when and how late it was first filed stay)."""
    changes = ("planned_networks", "responsible", "updated_at", "updated_by")
    return await upsert(session, NetworkDevelopmentPlan, values, key=["owner", "period"], changes=changes)


async def plan(session: AsyncSession, *, owner: str, period: str) -> NetworkDevelopmentPlan | None:
    return await session.get(NetworkDevelopmentPlan, (owner, period))


async def claim_reminders_unless_filed(
    session: AsyncSession, filed: str, *, hq: str, deadline: str, period: str, days: int, now: datetime
) -> list[str]:
    """Claim the reminder for HQ and every active dealer without its `development_plan` for the period (or its
    `evaluation` for the quarter); the owners claimed now."""
    params = {"hq": hq, "deadline": deadline, "period": period, "days": days, "now": now}
    return [owner for (owner,) in (await session.execute(_CLAIM_UNLESS_FILED[filed], params)).all()]


async def claim_reminders(
    session: AsyncSession, owners: list[str], *, deadline: str, period: str, days: int, now: datetime
) -> list[str]:
    """Claim the reminder for the owners named; those not reminded before."""
    params = {"owners": owners, "deadline": deadline, "period": period, "days": days, "now": now}
    return [owner for (owner,) in (await session.execute(_CLAIM_NAMED, params)).all()]


async def active_not_reminded(session: AsyncSession, *, deadline: str, period: str, days: int) -> list[str]:
    """The active dealers not sent this reminder yet, by code."""
    params = {"deadline": deadline, "period": period, "days": days}
    return [code for (code,) in (await session.execute(_ACTIVE_NOT_REMINDED, params)).all()]
