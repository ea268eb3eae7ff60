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
    sources: dict[str, PlannedSource] = {
        kind: "plan" if filed is not None else "approved_plans" if kind in approved else "scheduled_tasks"
        for kind, filed in (("callback", plan.callbacks_planned), ("promotion", plan.promotions_planned))
    }
    counts = {"plan": {}, "approved_plans": approved, "scheduled_tasks": scheduled}
    callbacks_planned = (
        plan.callbacks_planned if plan.callbacks_planned is not None else counts[sources["callback"]].get("callback", 0)
    )
    promotions_planned = (
        plan.promotions_planned
        if plan.promotions_planned is not None
        else counts[sources["promotion"]].get("promotion", 0)
    )
    check = check_plan(quotas=quotas, callbacks_planned=callbacks_planned, promotions_planned=promotions_planned)
    callbacks_done, promotions_done = done.get("callback", 0), done.get("promotion", 0)
    return PlanOut(
        dealer=plan.dealer,
        month=plan.month,
        sales_plan=plan.sales_plan,
        policy_version=quotas.policy_version,
        updated_at=plan.updated_at,
        updated_by=plan.updated_by,
        callbacks=QuotaOut(
            minimum=quotas.callbacks.minimum,
            maximum=quotas.callbacks.maximum,
            planned=callbacks_planned,
            planned_source=sources["callback"],
            done=callbacks_done,
            planned_meets_quota=check.callbacks_ok,
            planned_short_by=check.callbacks_short_by,
            done_short_by=max(quotas.callbacks.minimum - callbacks_done, 0),
        ),
        promotions=PromotionQuotaOut(
            minimum=quotas.promotions.minimum,
            maximum=quotas.promotions.maximum,
            planned=promotions_planned,
            planned_source=sources["promotion"],
            done=promotions_done,
            planned_meets_quota=check.promotions_ok,
            planned_short_by=check.promotions_short_by,
            done_short_by=max(quotas.promotions.minimum - promotions_done, 0),
            one_month_demand_at_last_month_end=floor,
        ),
    )
