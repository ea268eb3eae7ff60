"""Who sees which task, lead and plan (a dealer: its own; HQ: all), on the kit's rules."""

from __future__ import annotations

from followup_scheduler.models import FollowedLead, Task
from leadnet_shared.auth import Principal
from leadnet_shared.visibility import DealerScoped, dealer_own

TASKS: DealerScoped[Task] = DealerScoped("task", lambda task: (task.dealer,), (Task.dealer,))
LEADS: DealerScoped[FollowedLead] = DealerScoped("lead", lambda lead: (lead.assigned_dealer,))


def own_plan(principal: Principal, dealer: str) -> None:
    dealer_own(principal, dealer, what="plan")
