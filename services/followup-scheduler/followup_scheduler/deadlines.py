"""Deadlines around a task (domain.md "Deadlines in one place"): overdue escalation, result reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, get_args

from leadnet_shared.clock import SHANGHAI
from leadnet_shared.policy import PolicyError, cached_policy

from .business_calendar import BusinessCalendar, default_calendar
from .policy_values import policy_bool, policy_int, policy_section
from .vocabulary import PACKAGE

OverdueRule = Literal["end_of_due_day", "at_due_time"]


@dataclass(frozen=True)
class DeadlinesPolicy:
    """When a task is overdue, how long until it is escalated; how long a promotion result may take."""

    version: str
    becomes_overdue: OverdueRule
    escalate_after: timedelta
    report_within_days: int
    report_shift_off_non_working_days: bool
    digest_at: time  # Asia/Shanghai local time from which the day's overdue digest goes out


def parse_deadlines_policy(data: Mapping[str, Any]) -> DeadlinesPolicy:
    """Check and type a deadlines policy document."""
    overdue = policy_section(data, "overdue", policy="deadlines")
    report = policy_section(data, "promotion_result", policy="deadlines")
    digest = policy_section(data, "overdue_digest", policy="deadlines")
    try:
        digest_at = time.fromisoformat(str(digest.get("at_local_time")))
    except ValueError as exc:
        raise PolicyError(f"deadlines policy [overdue_digest] at_local_time must be HH:MM: {exc}") from exc
    rule = overdue.get("becomes_overdue", "end_of_due_day")
    if rule not in get_args(OverdueRule):
        raise PolicyError(f"deadlines policy becomes_overdue must be one of {get_args(OverdueRule)}, got {rule!r}")
    return DeadlinesPolicy(
        version=str(data["version"]),
        becomes_overdue=rule,
        escalate_after=timedelta(hours=policy_int(overdue, "escalate_after_hours", policy="deadlines")),
        report_within_days=policy_int(report, "report_within_days", policy="deadlines"),
        report_shift_off_non_working_days=policy_bool(report, "shift_off_non_working_days", policy="deadlines"),
        digest_at=digest_at,
    )


def deadlines_policy() -> DeadlinesPolicy:
    """The task deadlines in force."""
    return parse_deadlines_policy(cached_policy(PACKAGE, "deadlines"))


def overdue_at(*, due_at: datetime, policy: DeadlinesPolicy | None = None) -> datetime:
    """When a task due at `due_at` and not done becomes overdue (`becomes_overdue` in the policy)."""
    if due_at.tzinfo is None:
        raise ValueError("due_at must be an aware datetime")
    if (policy or deadlines_policy()).becomes_overdue == "at_due_time":
        return due_at.astimezone(UTC)
    # The due day is a Shanghai business date: it ends at the next Shanghai midnight.
    local = due_at.astimezone(SHANGHAI)
    end = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=SHANGHAI)
    return end.astimezone(UTC)


def overdue_escalation_at(*, due_at: datetime, policy: DeadlinesPolicy | None = None) -> datetime:
    """When a task that became overdue at `due_at` (its overdue moment) and is still not done goes to HQ."""
    if due_at.tzinfo is None:
        raise ValueError("due_at must be an aware datetime")
    return due_at.astimezone(UTC) + (policy or deadlines_policy()).escalate_after


@dataclass(frozen=True)
class TaskDeadlines:
    """The two instants stored on a task so the timer worker finds them by index."""

    overdue_at: datetime
    escalate_at: datetime


def task_deadlines(*, due_at: datetime, policy: DeadlinesPolicy | None = None) -> TaskDeadlines:
    """A task's overdue and escalation instants from its due time."""
    rules = policy or deadlines_policy()
    overdue = overdue_at(due_at=due_at, policy=rules)
    return TaskDeadlines(overdue_at=overdue, escalate_at=overdue_escalation_at(due_at=overdue, policy=rules))


def promotion_result_due_at(
    *, action_at: datetime, policy: DeadlinesPolicy | None = None, calendar: BusinessCalendar | None = None
) -> datetime:
    """By when the result of a promotion action carried out at `action_at` is due (domain.md §5: "reports each
    action's result within 2 days of carrying it out"): `report_within_days` later at the same Shanghai time,
    moved earlier off non-working days only if the policy says so."""
    rules = policy or deadlines_policy()
    due = (calendar or default_calendar()).due_in_days(
        start=action_at, days=rules.report_within_days, shift=rules.report_shift_off_non_working_days
    )
    return due.at


def promotion_result_is_late(
    *, action_at: datetime, reported_at: datetime, policy: DeadlinesPolicy | None = None
) -> bool:
    """A result reported after its due moment is late; at the moment itself it is on time."""
    return reported_at > promotion_result_due_at(action_at=action_at, policy=policy)


def overdue_digest_day(*, now: datetime, policy: DeadlinesPolicy | None = None) -> date | None:
    """The Shanghai day whose overdue digest may go out at `now`; None before the policy's time of day."""
    local = now.astimezone(SHANGHAI)
    return local.date() if local.time() >= (policy or deadlines_policy()).digest_at else None
