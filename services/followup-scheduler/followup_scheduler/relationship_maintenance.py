"""Relationship maintenance and repurchase reminders (domain.md §6 客戶再購買計劃管理辦法, 關係維繫).

After a purchase the customer gets a first care contact and then periodic ones; repurchase reminders
follow the fleet's age and size. The intervals are policy (`policy/maintenance.toml`, which also
states our reading of §6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from leadnet_shared.clock import business_date
from leadnet_shared.policy import cached_policy

from .business_calendar import BusinessCalendar, DueDate
from .policy_values import policy_int, policy_section
from .timing import PlannedTask
from .vocabulary import PACKAGE


@dataclass(frozen=True)
class MaintenancePolicy:
    """Maintenance and repurchase intervals, in days."""

    version: str
    first_contact_after_days: int
    every_days: int
    replacement_age_days: int
    remind_before_days: int
    large_fleet_vehicles: int
    large_fleet_review_days: int
    fleet_review_days: int


def parse_maintenance_policy(data: Mapping[str, Any]) -> MaintenancePolicy:
    """Check and type a maintenance policy document."""
    maintenance = policy_section(data, "maintenance", policy="maintenance")
    repurchase = policy_section(data, "repurchase", policy="maintenance")
    return MaintenancePolicy(
        version=str(data["version"]),
        first_contact_after_days=policy_int(maintenance, "first_contact_after_days", policy="maintenance"),
        every_days=policy_int(maintenance, "every_days", policy="maintenance", minimum=1),
        replacement_age_days=policy_int(repurchase, "replacement_age_days", policy="maintenance", minimum=1),
        remind_before_days=policy_int(repurchase, "remind_before_days", policy="maintenance"),
        large_fleet_vehicles=policy_int(repurchase, "large_fleet_vehicles", policy="maintenance", minimum=1),
        large_fleet_review_days=policy_int(repurchase, "large_fleet_review_days", policy="maintenance", minimum=1),
        fleet_review_days=policy_int(repurchase, "fleet_review_days", policy="maintenance", minimum=1),
    )


def maintenance_policy() -> MaintenancePolicy:
    """The maintenance intervals in force."""
    return parse_maintenance_policy(cached_policy(PACKAGE, "maintenance"))


def _contact(
    *, start: datetime, first: bool, calendar: BusinessCalendar, policy: MaintenancePolicy | None
) -> PlannedTask:
    rules = policy or maintenance_policy()
    days = rules.first_contact_after_days if first else rules.every_days
    due = calendar.due_in_days(start=start, days=days)
    reason = (
        f"bought -> relationship maintenance: first contact in {days} days"
        if first
        else f"relationship maintenance: periodic contact every {days} days"
    )
    return PlannedTask.on(
        due, kind="maintenance", days=days, reason=reason + due.shift_note, policy_version=rules.version
    )


def first_maintenance_contact(
    *, purchased_at: datetime, calendar: BusinessCalendar, policy: MaintenancePolicy | None = None
) -> PlannedTask:
    """The care contact after a purchase, which starts relationship maintenance."""
    return _contact(start=purchased_at, first=True, calendar=calendar, policy=policy)


def next_maintenance_contact(
    *, last_contact_at: datetime, calendar: BusinessCalendar, policy: MaintenancePolicy | None = None
) -> PlannedTask:
    """The periodic maintenance contact after the last one."""
    return _contact(start=last_contact_at, first=False, calendar=calendar, policy=policy)


def repurchase_reminder(
    *,
    vehicles_in_use: int,
    oldest_vehicle_acquired_at: datetime | None,
    as_of: datetime,
    calendar: BusinessCalendar,
    policy: MaintenancePolicy | None = None,
) -> PlannedTask:
    """When to remind the dealer of a likely repurchase: the earlier of fleet ageing and fleet review."""
    if vehicles_in_use < 0:
        raise ValueError("vehicles_in_use must not be negative")
    rules = policy or maintenance_policy()
    large = vehicles_in_use >= rules.large_fleet_vehicles
    review_days = rules.large_fleet_review_days if large else rules.fleet_review_days
    candidates: list[tuple[DueDate, int, str]] = [
        (
            calendar.due_in_days(start=as_of, days=review_days),
            review_days,
            f"repurchase: {'large' if large else 'small'} fleet of {vehicles_in_use}, "
            f"reviewed every {review_days} days",
        )
    ]
    if oldest_vehicle_acquired_at is not None:
        age_days = max(rules.replacement_age_days - rules.remind_before_days, 0)
        candidates.append(
            (
                calendar.due_in_days(start=oldest_vehicle_acquired_at, days=age_days),
                age_days,
                f"repurchase: oldest vehicle nears replacement age, {age_days} days after acquisition",
            )
        )
    due, days, reason = min(candidates, key=lambda candidate: candidate[0].at)
    now = as_of.astimezone(UTC)
    if due.at < now:
        # The fleet is already past the reminder point: remind now rather than never.
        due = DueDate(at=now, table_at=due.table_at, basis=calendar.basis(business_date(now).date()))
        reason += " (already past: due now)"
    else:
        reason += due.shift_note
    return PlannedTask.on(due, kind="repurchase", days=days, reason=reason, policy_version=rules.version)
