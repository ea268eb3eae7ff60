"""Collection plans (domain.md §2): each dealer's monthly target from policy by its sales level × its networks'
grades, and the dealer's second-level breakdown (二次分解) per network and per person, read against what it
collected and what was verified. Tables: `policy/collection_plans.toml`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache

from lead_intake.checks import count_up_to, counts_table, json_object, one_of, unknown_fields
from lead_intake.network_grades import grade_rules
from lead_intake.periods import MONTH, closest_reminder, local_midnight, month_days
from lead_intake.records import industries
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.events import SALES_LEVELS
from leadnet_shared.policy import PolicyError, cached_policy
from leadnet_shared.problems import FieldProblem, ProblemCollector, ValidationFailed

POLICY_PACKAGE = "lead_intake"
POLICY_NAME = "collection_plans"
FALLBACK_LEVEL = "lt_300"
_FIELDS = frozenset({"networks", "people"})


@dataclass(frozen=True, slots=True)
class CollectionRules:
    version: str
    per_network: dict[str, dict[str, int]]  # sales level -> grade -> records a month
    minimum: dict[str, int]
    max_lines: int
    max_count: int
    hq_max_count: int
    hand_on_day: int
    hand_on_remind_days: tuple[int, ...]  # ascending
    hand_on_remind_at: time


@cache
def collection_rules() -> CollectionRules:
    data = cached_policy(POLICY_PACKAGE, POLICY_NAME)
    try:
        table = data["dealer_target"]
        per_network = {
            str(level): {str(g): int(n) for g, n in grades.items()} for level, grades in table["per_network"].items()
        }
        minimum = {str(level): int(n) for level, n in table["minimum"].items()}
        rules = CollectionRules(
            version=str(data["version"]),
            per_network=per_network,
            minimum=minimum,
            max_lines=int(data["limits"]["max_lines"]),
            max_count=int(data["limits"]["max_count"]),
            hq_max_count=int(data["hq_plan"]["max_count"]),
            hand_on_day=int(data["hand_on"]["day"]),
            hand_on_remind_days=tuple(sorted({int(d) for d in data["hand_on"]["reminders"]["days_before"]})),
            hand_on_remind_at=time.fromisoformat(str(data["hand_on"]["reminders"]["at"])),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PolicyError(f"policy {POLICY_NAME} is malformed: {exc!r}") from exc
    grades = {g for g, _ in grade_rules().grade["regional"].steps} | {grade_rules().grade["regional"].lowest}
    for level in SALES_LEVELS:
        if set(rules.per_network.get(level, {})) != grades or level not in rules.minimum:
            raise PolicyError(f"policy {POLICY_NAME}: sales level {level} needs a target for each of {sorted(grades)}")
    if not 1 <= rules.hand_on_day <= 28 or any(not 0 <= d < rules.hand_on_day for d in rules.hand_on_remind_days):
        raise PolicyError(f"policy {POLICY_NAME}: hand_on.day must be 1..28 and its reminders within the month")
    if any(n < 0 for row in rules.per_network.values() for n in row.values()):
        raise PolicyError(f"policy {POLICY_NAME}: targets must not be negative")
    return rules


def dealer_target(*, sales_level: str | None, network_grades: list[str]) -> int:
    """The month's target: Σ per network of its grade for the dealer's level, at least the level's minimum."""
    rules = collection_rules()
    level = sales_level if sales_level in rules.per_network else FALLBACK_LEVEL
    row = rules.per_network[level]
    lowest = grade_rules().grade["regional"].lowest
    return max(rules.minimum[level], sum(row.get(g, row[lowest]) for g in network_grades))


def parse_month(month: str) -> tuple[int, int]:
    found = MONTH.match(month)
    if found is None:
        raise ValidationFailed(
            "month must look like 2026-10.", errors=[FieldProblem("/month", "invalid_value", "must look like 2026-10")]
        )
    return int(found.group(1)), int(found.group(2))


@dataclass(frozen=True, slots=True)
class Breakdown:
    networks: dict[str, int]  # network code -> records planned
    people: dict[str, int]  # person (token subject) -> records planned


def check_breakdown(body: object, *, own_networks: set[str]) -> Breakdown:
    """`{"networks": {code: n}, "people": {person: n}}`: the dealer's own networks only; every problem at once."""
    rules = collection_rules()
    body = json_object(body)
    problems = ProblemCollector()
    unknown_fields(body, _FIELDS, problems, "not a field of a breakdown")
    count, named = count_up_to(rules.max_count), _named
    own = one_of(own_networks, "unknown_network", "not one of the dealer's regional networks")
    networks = counts_table(body, "networks", problems, max_lines=rules.max_lines, checks=[count, own, named])
    people = counts_table(body, "people", problems, max_lines=rules.max_lines, checks=[count, named])
    problems.raise_if_any("The breakdown has field problems; see errors.")
    return Breakdown(networks=networks, people=people)


def _named(name: str, _count: object) -> tuple[str, str] | None:
    return None if name.strip() and len(name) <= 80 else ("invalid_value", "a name of 1..80 characters")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The month's [start, end) in Asia/Shanghai, as UTC instants."""
    year, m = parse_month(month)
    start, end = month_days(year, m)
    return local_midnight(start), local_midnight(end)


def hand_on_due_by(month: str) -> datetime:
    """The end of the month's hand-on day (the 25th), Asia/Shanghai: records entered before it are handed on in
    time."""
    year, m = parse_month(month)
    return local_midnight(date(year, m, collection_rules().hand_on_day) + timedelta(days=1))


def hand_on_status(*, target: int, handed_on: int, now: datetime, due_by: datetime) -> str:
    """met: the records handed on by the deadline reach the target; open: not yet, the deadline still ahead;
    short: the deadline passed below the target (the dealer is flagged)."""
    if handed_on >= target:
        return "met"
    return "open" if now < due_by else "short"


def month_of(now: datetime) -> str:
    local = now.astimezone(SHANGHAI)
    return f"{local.year}-{local.month:02d}"


@dataclass(frozen=True, slots=True)
class HandOnReminder:
    month: str
    due_by: datetime
    days_before: int
    remind_at: datetime


def hand_on_reminder_due(now: datetime) -> HandOnReminder | None:
    """The hand-on reminder whose time has come this month, the closest to the deadline only; None once the
    deadline passed or before the first reminder."""
    rules = collection_rules()
    month = month_of(now)
    due_by = hand_on_due_by(month)
    if now >= due_by:
        return None
    due_day = (due_by - timedelta(days=1)).astimezone(SHANGHAI).date()
    found = closest_reminder(due_day, rules.hand_on_remind_days, rules.hand_on_remind_at, now)
    return None if found is None else HandOnReminder(month, due_by, *found)


@dataclass(frozen=True, slots=True)
class HqPlan:
    industries: dict[str, int]  # industry -> records planned
    networks: dict[str, int]  # national network code -> records planned

    @property
    def total(self) -> int:
        """The month's total: by industry (the per-network counts say where HQ expects them from, not more)."""
        return sum(self.industries.values())


_HQ_FIELDS = frozenset({"industries", "networks"})


def check_hq_plan(body: object, *, national_networks: set[str]) -> HqPlan:
    """`{"industries": {industry: n}, "networks": {national code: n}}`: industries from the policy list (a 422 names
    the allowed ones), networks HQ's own national ones; every problem at once."""
    rules = collection_rules()
    allowed = industries()
    body = json_object(body)
    problems = ProblemCollector()
    unknown_fields(body, _HQ_FIELDS, problems, "not a field of a collection plan: industries, networks")
    if "industries" not in body:
        problems.add("/industries", "missing_field", "industries is required: {industry: records}")
    count, limit = count_up_to(rules.hq_max_count), rules.max_lines
    industry = one_of(allowed, "invalid_enum", f"must be one of: {', '.join(allowed)}")
    national = one_of(national_networks, "unknown_network", "not one of HQ's national networks")
    planned = counts_table(body, "industries", problems, max_lines=limit, checks=[industry, count])
    networks = counts_table(body, "networks", problems, max_lines=limit, checks=[national, count])
    problems.raise_if_any("The collection plan has field problems; see errors.")
    return HqPlan(industries=planned, networks=networks)
