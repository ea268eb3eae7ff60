"""Deadlines around a task (domain.md "Deadlines in one place"): overdue escalation, result reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from leadnet_shared.policy import cached_policy

from .business_calendar import BusinessCalendar
from .policy_values import policy_bool, policy_int, policy_section
from .vocabulary import PACKAGE


@dataclass(frozen=True)
class DeadlinesPolicy:
    """How long an overdue task waits before escalation; how long a promotion result may take to report."""

    version: str
    escalate_after: timedelta
    report_within_days: int
    report_shift_off_non_working_days: bool


def parse_deadlines_policy(data: Mapping[str, Any]) -> DeadlinesPolicy:
    """Check and type a deadlines policy document."""
    overdue = policy_section(data, "overdue", policy="deadlines")
    report = policy_section(data, "promotion_result", policy="deadlines")
    return DeadlinesPolicy(
        version=str(data["version"]),
        escalate_after=timedelta(hours=policy_int(overdue, "escalate_after_hours", policy="deadlines")),
        report_within_days=policy_int(report, "report_within_days", policy="deadlines"),
        report_shift_off_non_working_days=policy_bool(
            report, "shift_off_non_working_days", policy="deadlines"
        ),
    )


def deadlines_policy() -> DeadlinesPolicy:
    """The task deadlines in force."""
    return parse_deadlines_policy(cached_policy(PACKAGE, "deadlines"))


def overdue_escalation_at(*, due_at: datetime, policy: DeadlinesPolicy | None = None) -> datetime:
    """When a task still open after its due time is escalated: a late contact must reach a manager."""
    if due_at.tzinfo is None:
        raise ValueError("due_at must be an aware datetime")
    return due_at.astimezone(UTC) + (policy or deadlines_policy()).escalate_after


def promotion_result_due_at(
    *, carried_out_at: datetime, calendar: BusinessCalendar, policy: DeadlinesPolicy | None = None
) -> datetime:
    """When the result of a promotion action done at `carried_out_at` must be reported (domain.md §5)."""
    rules = policy or deadlines_policy()
    due = calendar.due_in_days(
        start=carried_out_at, days=rules.report_within_days, shift=rules.report_shift_off_non_working_days
    )
    return due.at
