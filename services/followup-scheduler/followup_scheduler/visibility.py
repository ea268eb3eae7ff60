"""Who sees which task, lead and plan (a dealer: its own; HQ: all, HQ regional staff their regions' only), on the
kit's rules."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_, select

from followup_scheduler.models import FollowedLead, Task
from leadnet_shared.auth import Principal
from leadnet_shared.visibility import DealerScoped, dealer_own

TASKS: DealerScoped[Task] = DealerScoped("task", lambda task: (task.dealer,), (Task.dealer,))
LEADS: DealerScoped[FollowedLead] = DealerScoped("lead", lambda lead: (lead.assigned_dealer,))


def own_plan(principal: Principal, dealer: str) -> None:
    dealer_own(principal, dealer, what="plan")


def tasks_condition(principal: Principal) -> ColumnElement[bool] | None:
    """TASKS' condition, narrowed for HQ regional staff (a `regions` claim) to the tasks of leads in their regions:
    the same reach they have over plans, so a regional manager's work list is its regions' customers only."""
    condition = TASKS.condition(principal)
    if not principal.is_regional:
        return condition
    in_regions = Task.lead_id.in_(
        select(FollowedLead.lead_id).where(
            or_(*(FollowedLead.region_code.startswith(prefix, autoescape=True) for prefix in principal.regions))
        )
    )
    return in_regions if condition is None else and_(condition, in_regions)


def in_regions(principal: Principal, lead: FollowedLead | None) -> bool:
    """Whether a lead (and so its tasks) lies in the caller's regions; a lead without a region lies in none."""
    return principal.covers_region(lead.region_code if lead else None)
