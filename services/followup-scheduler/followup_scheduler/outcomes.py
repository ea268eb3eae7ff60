"""What follows a completed callback: the outcome table of domain.md §4, intervals from the timing tables.

Which outcome leads to which task and table row, and how many unreachable callbacks in a row close a lead as
invalid information, are policy (`policy/outcomes.toml`); this module applies them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from leadnet_shared.policy import PolicyError, cached_policy

from .business_calendar import BusinessCalendar
from .callback_cadence import CadencePolicy, cadence_policy, next_callback_by_horizon
from .policy_values import policy_int, policy_section
from .relationship_maintenance import MaintenancePolicy, first_maintenance_contact, next_maintenance_contact
from .timing import FlowStep, PlannedTask, TimingPolicy, plan_from_table, timing_policy
from .vocabulary import HORIZONS, OUTCOMES, PACKAGE, Outcome, Tier

NextKind = Literal["callback", "promotion", "maintenance"]


@dataclass(frozen=True)
class OutcomeRule:
    """One row of the outcome table: the next task's kind and, for callbacks and promotions, its table row."""

    next: NextKind
    row: str | None
    horizon: str | None = None  # what the outcome says of the purchase horizon, for the task order


@dataclass(frozen=True)
class OutcomesPolicy:
    """The outcome table and the unreachable limit."""

    version: str
    rules: Mapping[Outcome, OutcomeRule]
    unreachable_close_after: int
    periodic_in_maintenance: frozenset[str] = frozenset()


@dataclass(frozen=True)
class NextStep:
    """The consequence of a callback outcome: a task to plan, or closing the lead as invalid information."""

    outcome: Outcome
    task: PlannedTask | None
    close_lead_as_invalid: bool
    unreachable_streak: int
    reason: str
    policy_version: str


def parse_outcomes_policy(data: Mapping[str, Any], *, timing: TimingPolicy) -> OutcomesPolicy:
    """Check and type an outcomes policy document against the timing tables it points into."""
    table = policy_section(data, "outcome", policy="outcomes")
    rules: dict[Outcome, OutcomeRule] = {}
    for outcome in OUTCOMES:
        raw = table.get(outcome)
        if not isinstance(raw, Mapping):
            raise PolicyError(f"outcomes policy lacks [outcome.{outcome}]")
        next_kind = raw.get("next")
        horizon = raw.get("horizon")
        if horizon is not None and horizon not in HORIZONS:
            raise PolicyError(f"outcomes policy [outcome.{outcome}] horizon {horizon!r} is not a horizon")
        if next_kind == "maintenance":
            rules[outcome] = OutcomeRule(next="maintenance", row=None, horizon=horizon)
            continue
        if next_kind not in ("callback", "promotion"):
            raise PolicyError(f"outcomes policy [outcome.{outcome}] next must be callback, promotion or maintenance")
        row = str(raw.get("row"))
        rows = timing.callback if next_kind == "callback" else timing.promotion
        if row not in rows:
            raise PolicyError(f"outcomes policy [outcome.{outcome}] names unknown {next_kind} row {row!r}")
        rules[outcome] = OutcomeRule(next=next_kind, row=row, horizon=horizon)
    periodic = data.get("in_maintenance", {}).get("periodic_contact_after", [])
    if not isinstance(periodic, list) or not set(periodic) <= set(OUTCOMES):
        raise PolicyError("outcomes policy [in_maintenance] periodic_contact_after must list outcomes")
    return OutcomesPolicy(
        version=str(data["version"]),
        rules=rules,
        unreachable_close_after=policy_int(data, "unreachable_close_after", policy="outcomes", minimum=1),
        periodic_in_maintenance=frozenset(str(outcome) for outcome in periodic),
    )


def outcomes_policy(*, timing: TimingPolicy | None = None) -> OutcomesPolicy:
    """The outcome table in force."""
    return parse_outcomes_policy(cached_policy(PACKAGE, "outcomes"), timing=timing or timing_policy())


def next_step_after_outcome(
    *,
    outcome: Outcome,
    tier: Tier,
    completed_at: datetime,
    unreachable_count: int,
    calendar: BusinessCalendar,
    policy: OutcomesPolicy | None = None,
    timing: TimingPolicy | None = None,
    maintenance: MaintenancePolicy | None = None,
    in_maintenance: bool = False,
    cadence: CadencePolicy | None = None,
) -> NextStep:
    """The next step once a callback ends with `outcome`.

    `unreachable_count` is the number of consecutive unreachable callbacks BEFORE this one; the returned
    `unreachable_streak` is the count to store after it (0 once the customer answers). `in_maintenance`: the
    customer has bought and is in relationship maintenance; the outcomes the policy lists under
    `[in_maintenance]` then plan the next periodic contact (and never close the lead as invalid). A callback
    outcome whose horizon has a row in the cadence table (`callback_cadence.toml`) is timed by it.
    """
    if unreachable_count < 0:
        raise ValueError("unreachable_count must not be negative")
    tables = timing or timing_policy()
    rules = policy or outcomes_policy(timing=tables)
    if outcome not in rules.rules:
        raise ValueError(f"unknown callback outcome {outcome!r}")
    streak = unreachable_count + 1 if outcome == "unreachable" else 0

    def step(task: PlannedTask | None, reason: str) -> NextStep:
        return NextStep(
            outcome=outcome,
            task=task,
            close_lead_as_invalid=task is None,  # no next task only when the lead closes as invalid
            unreachable_streak=streak,
            reason=reason,
            policy_version=rules.version,
        )

    if in_maintenance and outcome in rules.periodic_in_maintenance:
        task = next_maintenance_contact(last_contact_at=completed_at, calendar=calendar, policy=maintenance)
        return step(task, f"outcome {outcome} in relationship maintenance -> {task.reason}")
    if outcome == "unreachable" and streak >= rules.unreachable_close_after:
        return step(None, f"unreachable {streak} times in a row -> invalid-information handling: close as invalid")
    rule = rules.rules[outcome]
    by_horizon = None
    if rule.next == "callback" and rule.horizon is not None:
        # After a callback outcome the next callback follows the stated horizon (callback_cadence.toml).
        by_horizon = next_callback_by_horizon(
            horizon=rule.horizon,
            tier=tier,
            stated_at=completed_at,
            now=completed_at,
            calendar=calendar,
            policy=cadence or cadence_policy(timing=tables),
            timing=tables,
        )
    if rule.next == "maintenance":
        task = first_maintenance_contact(purchased_at=completed_at, calendar=calendar, policy=maintenance)
    elif by_horizon is not None:
        task = by_horizon
    else:
        assert rule.row is not None  # parse_outcomes_policy gives callback/promotion rules a row
        task = plan_from_table(
            FlowStep(rule.next, rule.row),
            tier=tier,
            start=completed_at,
            calendar=calendar,
            policy=tables,
            cause=f"outcome {outcome} -> ",
        )
    reason = task.reason
    if outcome == "unreachable":
        reason += f" (unreachable {streak} of {rules.unreachable_close_after} before closing as invalid)"
    return step(task, reason)
