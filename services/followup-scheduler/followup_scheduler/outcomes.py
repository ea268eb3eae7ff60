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
from .policy_values import policy_int, policy_section
from .relationship_maintenance import MaintenancePolicy, first_maintenance_contact
from .timing import PlannedTask, TimingPolicy, plan_from_table, timing_policy
from .vocabulary import OUTCOMES, PACKAGE, Outcome, Tier

NextKind = Literal["callback", "promotion", "maintenance"]


@dataclass(frozen=True)
class OutcomeRule:
    """One row of the outcome table: the next task's kind and, for callbacks and promotions, its table row."""

    next: NextKind
    row: str | None


@dataclass(frozen=True)
class OutcomesPolicy:
    """The outcome table and the unreachable limit."""

    version: str
    rules: Mapping[Outcome, OutcomeRule]
    unreachable_close_after: int


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
        if next_kind == "maintenance":
            rules[outcome] = OutcomeRule(next="maintenance", row=None)
            continue
        if next_kind not in ("callback", "promotion"):
            raise PolicyError(
                f"outcomes policy [outcome.{outcome}] next must be callback, promotion or maintenance"
            )
        row = str(raw.get("row"))
        rows = timing.callback if next_kind == "callback" else timing.promotion
        if row not in rows:
            raise PolicyError(f"outcomes policy [outcome.{outcome}] names unknown {next_kind} row {row!r}")
        rules[outcome] = OutcomeRule(next=next_kind, row=row)
    return OutcomesPolicy(
        version=str(data["version"]),
        rules=rules,
        unreachable_close_after=policy_int(data, "unreachable_close_after", policy="outcomes", minimum=1),
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
) -> NextStep:
    """The next step once a callback ends with `outcome`.

    `unreachable_count` is the number of consecutive unreachable callbacks BEFORE this one; the returned
    `unreachable_streak` is the count to store after it (0 once the customer answers).
    """
    if unreachable_count < 0:
        raise ValueError("unreachable_count must not be negative")
    tables = timing or timing_policy()
    rules = policy or outcomes_policy(timing=tables)
    if outcome not in rules.rules:
        raise ValueError(f"unknown callback outcome {outcome!r}")
    streak = unreachable_count + 1 if outcome == "unreachable" else 0
    if outcome == "unreachable" and streak >= rules.unreachable_close_after:
        return NextStep(
            outcome=outcome,
            task=None,
            close_lead_as_invalid=True,
            unreachable_streak=streak,
            reason=f"unreachable {streak} times in a row -> invalid-information handling: close as invalid",
            policy_version=rules.version,
        )
    rule = rules.rules[outcome]
    if rule.next == "maintenance":
        task = first_maintenance_contact(purchased_at=completed_at, calendar=calendar, policy=maintenance)
    else:
        assert rule.row is not None  # parse_outcomes_policy gives callback/promotion rules a row
        task = plan_from_table(
            kind=rule.next,
            row=rule.row,
            tier=tier,
            start=completed_at,
            calendar=calendar,
            policy=tables,
            cause=f"outcome {outcome} -> ",
        )
    reason = task.reason
    if outcome == "unreachable":
        reason += f" (unreachable {streak} of {rules.unreachable_close_after} before closing as invalid)"
    return NextStep(
        outcome=outcome,
        task=task,
        close_lead_as_invalid=False,
        unreachable_streak=streak,
        reason=reason,
        policy_version=rules.version,
    )
