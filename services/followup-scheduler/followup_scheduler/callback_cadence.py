"""After a callback outcome (domain.md §4): the next callback follows the customer's purchase horizon.

A customer who plans to buy in half a year or a year is called every 30 / 60 days (policy
`callback_cadence.toml`), the next call landing no later than the day the purchase window becomes near (less than
two months away); from then on, the "more than a month" row of the callback table (3 / 5 / 7 days by tier). The
horizon is counted from the moment the customer stated it: the callback that learnt it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leadnet_shared.policy import PolicyError, cached_policy

from .business_calendar import BusinessCalendar
from .policy_values import policy_int, policy_section
from .timing import FlowStep, PlannedTask, TimingPolicy, plan_from_table, timing_policy
from .vocabulary import HORIZONS, PACKAGE, Tier


@dataclass(frozen=True)
class HorizonCadence:
    window_days: int
    every_days: int


@dataclass(frozen=True)
class CadencePolicy:
    version: str
    near_row: str
    near_within_days: int
    by_horizon: Mapping[str, HorizonCadence]


def parse_cadence_policy(data: Mapping[str, Any], *, timing: TimingPolicy) -> CadencePolicy:
    """Check and type the cadence table against the timing tables it points into."""
    near_row = data.get("near_row")
    if near_row not in timing.callback:
        raise PolicyError(f"callback_cadence policy near_row {near_row!r} is not a callback row")
    near = policy_int(data, "near_within_days", policy="callback_cadence")
    rows: dict[str, HorizonCadence] = {}
    for horizon, raw in policy_section(data, "horizon", policy="callback_cadence").items():
        if horizon not in HORIZONS or not isinstance(raw, Mapping):
            raise PolicyError(f"callback_cadence policy [horizon.{horizon}] is not a purchase horizon's table")
        window = policy_int(raw, "window_days", policy="callback_cadence", minimum=1)
        every = policy_int(raw, "every_days", policy="callback_cadence", minimum=1)
        rows[horizon] = HorizonCadence(window_days=window, every_days=every)
    return CadencePolicy(version=str(data["version"]), near_row=str(near_row), near_within_days=near, by_horizon=rows)


def cadence_policy(*, timing: TimingPolicy | None = None) -> CadencePolicy:
    """The cadence table in force."""
    return parse_cadence_policy(cached_policy(PACKAGE, "callback_cadence"), timing=timing or timing_policy())


def window_near_at(*, horizon: str, stated_at: datetime, policy: CadencePolicy) -> datetime | None:
    """When the purchase window of `horizon`, stated at `stated_at`, becomes near; None for horizons without a
    cadence row (they follow the outcome table)."""
    row = policy.by_horizon.get(horizon)
    if row is None:
        return None
    return stated_at + timedelta(days=max(row.window_days - policy.near_within_days, 0))


def next_callback_by_horizon(
    *,
    horizon: str,
    tier: Tier,
    stated_at: datetime,
    now: datetime,
    calendar: BusinessCalendar,
    policy: CadencePolicy | None = None,
    timing: TimingPolicy | None = None,
) -> PlannedTask | None:
    """The next callback for a customer whose stated horizon is `horizon`; None when the table has no row for it."""
    tables = timing or timing_policy()
    rules = policy or cadence_policy(timing=tables)
    near_at = window_near_at(horizon=horizon, stated_at=stated_at, policy=rules)
    if near_at is None:
        return None
    cause = f"horizon {horizon} -> "
    if now >= near_at:
        return plan_from_table(
            FlowStep("callback", rules.near_row),
            tier=tier,
            start=now,
            calendar=calendar,
            policy=tables,
            cause=cause + "window less than two months away: ",
        )
    every = rules.by_horizon[horizon].every_days
    days_left = (near_at - now).days  # whole days: the call lands on or before the day the window is near
    days = max(min(every, days_left), 0)
    due = calendar.due_in_days(start=now, days=days)
    reason = (
        f"{cause}callback every {every} days until the purchase window is near ({near_at.date().isoformat()}): "
        f"due in {days} days{due.shift_note}"
    )
    return PlannedTask.on(due, kind="callback", days=days, reason=reason, policy_version=rules.version)
