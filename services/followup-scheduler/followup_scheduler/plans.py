"""Plans and quotas (domain.md §4, §5): a dealer's month, its quotas, and planned vs done from the scheduler's tasks.

Definitions (all by Asia/Shanghai calendar months, `month_bounds`):
- done: tasks of the kind the dealer COMPLETED in the month (`completed_at` inside it), whatever their outcome.
- planned: the count the dealer filed (`callbacks_planned` / `promotions_planned`); when it filed none, the lines of
  its approved callback plan of the month / promotion plans of the month's weeks (work_plans.py: the plans this
  number stood for before issue 18); without those, the tasks of the kind planned for the dealer that fall due in
  the month and were not cancelled.
- customers with demand within one month at the end of last month: the distinct customers that, at the instant the
  month starts, had a promotion task of the dealer planned and neither completed nor cancelled. A promotion task
  exists exactly for a customer whose horizon is within one month (the flow after processing, and the outcome
  "within_1_month"), so this is that count as the scheduler knew it then, recomputable at any later time.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from followup_scheduler.models import Plan
from followup_scheduler.plan_rollup import weeks_of_month
from followup_scheduler.quotas import check_plan, month_bounds, plan_quotas
from followup_scheduler.repository.plans import (
    approved_plan_lines,
    done_by_kind,
    one_month_demand_at,
    scheduled_by_kind,
)
from followup_scheduler.schemas import PlannedSource, PlanOut, PromotionQuotaOut, QuotaOut
from leadnet_shared.carry import carried


async def plan_report(session: AsyncSession, *, plan: Plan) -> PlanOut:
    """The plan against its quotas: what the contract's `GET /v1/plans/{dealer}/{yyyy-mm}` returns."""
    start, end = month_bounds(plan.month)
    floor = await one_month_demand_at(session, dealer=plan.dealer, at=start)
    quotas = plan_quotas(sales_plan=plan.sales_plan, one_month_demand_at_last_month_end=floor)
    done = await done_by_kind(session, dealer=plan.dealer, start=start, end=end)
    scheduled = await scheduled_by_kind(session, dealer=plan.dealer, start=start, end=end)
    approved = await approved_plan_lines(
        session, dealer=plan.dealer, month=plan.month, weeks=weeks_of_month(plan.month)
    )
    filed = {"callback": plan.callbacks_planned, "promotion": plan.promotions_planned}
    sources: dict[str, PlannedSource] = {
        kind: "plan" if number is not None else "approved_plans" if kind in approved else "scheduled_tasks"
        for kind, number in filed.items()
    }
    counts = {"plan": {}, "approved_plans": approved, "scheduled_tasks": scheduled}
    planned = {
        kind: number if number is not None else counts[sources[kind]].get(kind, 0) for kind, number in filed.items()
    }
    check = check_plan(quotas=quotas, callbacks_planned=planned["callback"], promotions_planned=planned["promotion"])
    meets = {"callback": check.callbacks_ok, "promotion": check.promotions_ok}
    short = {"callback": check.callbacks_short_by, "promotion": check.promotions_short_by}

    def quota(kind: str, minimum: int, maximum: int) -> dict[str, object]:
        """A kind's quota against what is planned and done: the fields `QuotaOut` and `PromotionQuotaOut` share."""
        return {
            "minimum": minimum,
            "maximum": maximum,
            "planned": planned[kind],
            "planned_source": sources[kind],
            "done": done.get(kind, 0),
            "planned_meets_quota": meets[kind],
            "planned_short_by": short[kind],
            "done_short_by": max(minimum - done.get(kind, 0), 0),
        }

    return carried(
        PlanOut,
        plan,
        policy_version=quotas.policy_version,
        callbacks=QuotaOut.model_validate(quota("callback", quotas.callbacks.minimum, quotas.callbacks.maximum)),
        promotions=PromotionQuotaOut.model_validate(
            quota("promotion", quotas.promotions.minimum, quotas.promotions.maximum)
            | {"one_month_demand_at_last_month_end": floor}
        ),
    )
