"""Sales and follow-up meet (contract.md "Lead life cycle across the services"): the rule's table and timings.

What a confirmed sale stops (`[on_sale] cancels`), and the `sale_report` task a `bought` outcome asks for (due in
`[sale_report] due_days`, unless a sale of the customer is already known). The database side, which applies a
sale to the customer's leads and tasks, is `sales.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leadnet_shared.policy import PolicyError, cached_policy

from .business_calendar import BusinessCalendar
from .policy_values import policy_int, policy_section
from .timing import PlannedTask
from .vocabulary import PACKAGE, TASK_KINDS

SALE_REPORT = "sale_report"


@dataclass(frozen=True)
class SaleFollowupPolicy:
    version: str
    cancels: frozenset[str]
    report_due_days: int
    known_sale_within_days: int


def parse_sale_followup_policy(data: Mapping[str, Any]) -> SaleFollowupPolicy:
    on_sale = policy_section(data, "on_sale", policy="sale_followup")
    cancels = on_sale.get("cancels")
    if not isinstance(cancels, list) or not set(cancels) <= set(TASK_KINDS):
        raise PolicyError("sale_followup policy [on_sale] cancels must list task kinds")
    report = policy_section(data, "sale_report", policy="sale_followup")
    return SaleFollowupPolicy(
        version=str(data["version"]),
        cancels=frozenset(str(kind) for kind in cancels),
        report_due_days=policy_int(report, "due_days", policy="sale_followup"),
        known_sale_within_days=policy_int(report, "known_sale_within_days", policy="sale_followup"),
    )


def sale_followup_policy() -> SaleFollowupPolicy:
    return parse_sale_followup_policy(cached_policy(PACKAGE, "sale_followup"))


def sale_already_known(
    *, latest_sold_at: datetime | None, bought_at: datetime, policy: SaleFollowupPolicy | None = None
) -> bool:
    """Whether the purchase a `bought` outcome reports is a sale the scheduler already has."""
    if latest_sold_at is None:
        return False
    rules = policy or sale_followup_policy()
    return latest_sold_at >= bought_at - timedelta(days=rules.known_sale_within_days)


def sale_report_task(
    *, bought_at: datetime, calendar: BusinessCalendar, policy: SaleFollowupPolicy | None = None
) -> PlannedTask:
    """The assigned dealer's task to report the sale a callback heard of."""
    rules = policy or sale_followup_policy()
    due = calendar.due_in_days(start=bought_at, days=rules.report_due_days)
    reason = f"outcome bought -> report the sale (POST /v1/sales) within {rules.report_due_days} days"
    return PlannedTask.on(
        due,
        kind="sale_report",
        days=rules.report_due_days,
        reason=reason + due.shift_note,
        policy_version=rules.version,
    )
