"""Collection plans (domain.md §2): each dealer's monthly target from policy by its sales level × its networks'
grades, and the dealer's second-level breakdown (二次分解) per network and per person, read against what it
collected and what was verified. Tables: `policy/collection_plans.toml`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from lead_intake.network_grades import grade_rules
from leadnet_shared.events import SALES_LEVELS
from leadnet_shared.policy import PolicyError, cached_policy
from leadnet_shared.problems import FieldProblem, ProblemCollector, ValidationFailed

POLICY_PACKAGE = "lead_intake"
POLICY_NAME = "collection_plans"
FALLBACK_LEVEL = "lt_300"
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_FIELDS = frozenset({"networks", "people"})


@dataclass(frozen=True, slots=True)
class CollectionRules:
    version: str
    per_network: dict[str, dict[str, int]]  # sales level -> grade -> records a month
    minimum: dict[str, int]
    max_lines: int
    max_count: int


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
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PolicyError(f"policy {POLICY_NAME} is malformed: {exc!r}") from exc
    grades = {g for g, _ in grade_rules().grade["regional"].steps} | {grade_rules().grade["regional"].lowest}
    for level in SALES_LEVELS:
        if set(rules.per_network.get(level, {})) != grades or level not in rules.minimum:
            raise PolicyError(f"policy {POLICY_NAME}: sales level {level} needs a target for each of {sorted(grades)}")
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
    found = _MONTH.match(month)
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
    if not isinstance(body, dict):
        raise ValidationFailed(
            "The body must be a JSON object.", errors=[FieldProblem("", "invalid_type", "must be an object")]
        )
    problems = ProblemCollector()
    for key in body:
        if key not in _FIELDS:
            problems.add(f"/{key}", "unknown_field", "not a field of a breakdown")
    parts: dict[str, dict[str, int]] = {}
    for part in ("networks", "people"):
        value: Any = body.get(part, {})
        parts[part] = {}
        if not isinstance(value, dict):
            problems.add(f"/{part}", "invalid_type", "must be an object {name: records}")
            continue
        if len(value) > rules.max_lines:
            problems.add(f"/{part}", "too_many_items", f"at most {rules.max_lines}")
            continue
        for name, count in value.items():
            if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= rules.max_count:
                problems.add(f"/{part}/{name}", "invalid_value", f"must be an integer 0..{rules.max_count}")
            elif part == "networks" and name not in own_networks:
                problems.add(f"/{part}/{name}", "unknown_network", "not one of the dealer's regional networks")
            elif not name.strip() or len(name) > 80:
                problems.add(f"/{part}/{name}", "invalid_value", "a name of 1..80 characters")
            else:
                parts[part][name] = count
    problems.raise_if_any("The breakdown has field problems; see errors.")
    return Breakdown(networks=parts["networks"], people=parts["people"])
