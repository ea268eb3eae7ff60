"""Network development plans (domain.md §1): fixed networks are planned per quarter (due by the 5th of the
quarter's first month), temporary ones per month (due by the 5th); the plan names who is responsible, and is read
against the networks actually developed (registered) in its period. Tables: `policy/network_development_plans.toml`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any

from lead_intake.checks import json_object, unknown_fields
from lead_intake.information_networks import parse_quarter
from lead_intake.periods import MONTH, closest_reminder, local_midnight, month_days
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.policy import PolicyError, cached_policy
from leadnet_shared.problems import FieldProblem, ProblemCollector, ValidationFailed

POLICY_PACKAGE = "lead_intake"
POLICY_NAME = "network_development_plans"
_FIELDS = frozenset({"planned_networks", "responsible"})


@dataclass(frozen=True, slots=True)
class PlanRules:
    version: str
    fixed_day: int
    temporary_day: int
    responsible: dict[str, frozenset[str]]
    max_planned: int
    max_name_length: int
    remind_days_before: tuple[int, ...]
    remind_at: time


@cache
def plan_rules() -> PlanRules:
    data = cached_policy(POLICY_PACKAGE, POLICY_NAME)
    try:
        rules = PlanRules(
            version=str(data["version"]),
            fixed_day=int(data["due"]["fixed_day_of_first_month"]),
            temporary_day=int(data["due"]["temporary_day_of_month"]),
            responsible={str(k): frozenset(str(p) for p in v) for k, v in data["responsible"].items()},
            max_planned=int(data["limits"]["max_planned"]),
            max_name_length=int(data["limits"]["max_name_length"]),
            remind_days_before=tuple(sorted({int(d) for d in data["reminders"]["days_before"]})),
            remind_at=time.fromisoformat(str(data["reminders"]["at"])),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PolicyError(f"policy {POLICY_NAME} is malformed: {exc!r}") from exc
    if any(not 0 <= d <= 27 for d in rules.remind_days_before):
        raise PolicyError(f"policy {POLICY_NAME}: reminders.days_before must be 0..27")
    if not (1 <= rules.fixed_day <= 28 and 1 <= rules.temporary_day <= 28):
        raise PolicyError(f"policy {POLICY_NAME}: due days must be 1..28")
    return rules


@dataclass(frozen=True, slots=True)
class PlanPeriod:
    period: str  # 2027Q1 (fixed networks) or 2027-01 (temporary networks)
    kind: str  # fixed | temporary
    start: datetime  # [start, end) in Asia/Shanghai, as UTC instants
    end: datetime
    due_by: datetime  # the end of the due day, Asia/Shanghai
    quarter: str  # the quarter the period lies in


def plan_period(period: str) -> PlanPeriod:
    """`2027Q1` → the fixed-network plan of that quarter; `2027-01` → the temporary-network plan of that month."""
    rules = plan_rules()
    month = MONTH.match(period)
    if month is not None:
        year, m = int(month.group(1)), int(month.group(2))
        start, end = month_days(year, m)
        due_day = date(year, m, rules.temporary_day)
        kind, quarter = "temporary", f"{year}Q{(m - 1) // 3 + 1}"
    else:
        try:
            year, q = parse_quarter(period)
        except ValidationFailed:
            raise ValidationFailed(
                "period must look like 2027Q1 (fixed networks) or 2027-01 (temporary networks).",
                errors=[FieldProblem("/period", "invalid_value", "must look like 2027Q1 or 2027-01")],
            ) from None
        start = date(year, 3 * (q - 1) + 1, 1)
        end = date(year + (q == 4), (3 * q) % 12 + 1, 1)
        due_day = date(year, 3 * (q - 1) + 1, rules.fixed_day)
        kind, quarter = "fixed", period
    return PlanPeriod(
        period=period,
        kind=kind,
        start=local_midnight(start),
        end=local_midnight(end),
        due_by=local_midnight(due_day + timedelta(days=1)),
        quarter=quarter,
    )


def months_of(quarter: str) -> list[str]:
    year, q = parse_quarter(quarter)
    return [f"{year}-{m:02d}" for m in range(3 * (q - 1) + 1, 3 * q + 1)]


@dataclass(frozen=True, slots=True)
class PlanBody:
    planned_networks: int
    responsible: dict[str, str]  # role in the plan -> position


def check_plan(body: object) -> PlanBody:
    """`{"planned_networks": N, "responsible": {"development_lead": "...", "planner": "...", "channel_admin": ...}}`;
    every problem at once."""
    rules = plan_rules()
    body = json_object(body)
    problems = ProblemCollector()
    unknown_fields(body, _FIELDS, problems, "not a field of a development plan")
    planned = body.get("planned_networks")
    if planned is None:
        problems.add("/planned_networks", "missing_field", "planned_networks is required")
    elif not isinstance(planned, int) or isinstance(planned, bool) or not 0 <= planned <= rules.max_planned:
        problems.add("/planned_networks", "invalid_value", f"must be an integer 0..{rules.max_planned}")
    responsible: Any = body.get("responsible", {})
    checked: dict[str, str] = {}
    if not isinstance(responsible, dict):
        problems.add("/responsible", "invalid_type", "must be an object {role: position}")
    else:
        for role, position in responsible.items():
            allowed = rules.responsible.get(role)
            if allowed is None:
                problems.add(f"/responsible/{role}", "unknown_field", f"one of: {', '.join(sorted(rules.responsible))}")
            elif position not in allowed:
                problems.add(f"/responsible/{role}", "invalid_enum", f"must be one of: {', '.join(sorted(allowed))}")
            else:
                checked[role] = position
    problems.raise_if_any("The development plan has field problems; see errors.")
    assert isinstance(planned, int)
    return PlanBody(planned_networks=planned, responsible=checked)


@dataclass(frozen=True, slots=True)
class DueReminder:
    period: PlanPeriod
    days_before: int
    remind_at: datetime


def _next_periods(now: datetime) -> list[str]:
    local = now.astimezone(SHANGHAI)
    year, month = local.year, local.month
    q = (month - 1) // 3 + 1
    next_month = f"{year + (month == 12)}-{month % 12 + 1:02d}"
    next_q = f"{year + (q == 4)}Q{q % 4 + 1}"
    return [f"{year}-{month:02d}", next_month, f"{year}Q{q}", next_q]


def due_reminders(now: datetime) -> list[DueReminder]:
    """Per plan period not yet due: the reminder whose time has come, the closest to the due day only (a service
    that was down does not send the 3-days reminder beside the 1-day one)."""
    rules = plan_rules()
    found = []
    for name in _next_periods(now):
        period = plan_period(name)
        if now >= period.due_by:
            continue
        due_day = (period.due_by - timedelta(days=1)).astimezone(SHANGHAI).date()
        reminder = closest_reminder(due_day, rules.remind_days_before, rules.remind_at, now)
        if reminder is not None:
            found.append(DueReminder(period, *reminder))
    return found
