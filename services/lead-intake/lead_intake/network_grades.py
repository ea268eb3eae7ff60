"""Network grade and authenticity level (domain.md §1): what a network's quarter makes of it.

Grade A–D by the records it supplied in a quarter, on the national or regional thresholds; authenticity level 1–3
by the share of those records later verified true (level 1 at ≥ 50 %); the class combines both ("B-2"). The grade
sets the collection cycle (A, B quarterly; C, D monthly), the level how the network is managed (1–2 main sources,
3 auxiliary). Every number is in `policy/network_grades.toml`; shares are compared exactly, in integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from leadnet_shared.policy import PolicyError, cached_policy

POLICY_PACKAGE = "lead_intake"
POLICY_NAME = "network_grades"
SCOPES = ("national", "regional")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Grades from the highest down, each with the record count it must exceed; `lowest` takes the rest."""

    steps: tuple[tuple[str, int], ...]
    lowest: str


@dataclass(frozen=True, slots=True)
class PercentSteps:
    """Ordered `(value, at_least_percent)` steps from the best down; `lowest` below the last one."""

    steps: tuple[tuple[Any, int], ...]
    lowest: Any

    def of(self, *, part: int, whole: int) -> Any:
        """The first step the share `part / whole` reaches (exactly: part × 100 ≥ percent × whole)."""
        for value, percent in self.steps:
            if part * 100 >= percent * whole:
                return value
        return self.lowest


@dataclass(frozen=True, slots=True)
class GradeRules:
    version: str
    grade: dict[str, Thresholds]
    collection_cycle: dict[str, str]
    authenticity_level: PercentSteps
    management: dict[int, str]


@dataclass(frozen=True, slots=True)
class NetworkGrade:
    """One network's quarter, as the grade and level tables read it."""

    records: int
    verified: int
    grade: str
    collection_cycle: str
    authenticity_share: float | None
    authenticity_level: int | None  # None without records: nothing to be authentic about
    network_class: str | None  # "B-2"; None without records
    management: str | None  # "main" (levels 1-2) or "auxiliary" (level 3)


def percent_steps(table: Any, *, key: str, name: str, value_type: type) -> PercentSteps:
    """Parse `{levels = [{<key> = ..., at_least_percent = N}, ...], lowest = ...}`, strictly decreasing."""
    try:
        steps = tuple((value_type(step[key]), int(step["at_least_percent"])) for step in table["levels"])
        lowest = value_type(table["lowest"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PolicyError(f"policy {name}: malformed percent table: {exc}") from exc
    percents = [p for _, p in steps]
    if not steps or any(not 0 < p <= 100 for p in percents) or percents != sorted(set(percents), reverse=True):
        raise PolicyError(f"policy {name}: at_least_percent must be in (0, 100] and strictly decreasing")
    return PercentSteps(steps=steps, lowest=lowest)


@cache
def grade_rules() -> GradeRules:
    data = cached_policy(POLICY_PACKAGE, POLICY_NAME)
    try:
        grade: dict[str, Thresholds] = {}
        for scope in SCOPES:
            table = dict(data["grade"][scope])
            lowest = str(table.pop("lowest"))
            steps = tuple(sorted(((str(g), int(n)) for g, n in table.items()), key=lambda s: -s[1]))
            if not steps or any(n < 0 for _, n in steps) or len({n for _, n in steps}) != len(steps):
                raise PolicyError(f"policy {POLICY_NAME}: grade.{scope} needs distinct non-negative thresholds")
            grade[scope] = Thresholds(steps=steps, lowest=lowest)
        cycle = {str(g): str(c) for g, c in data["collection_cycle"].items()}
        level = percent_steps(data["authenticity_level"], key="level", name=POLICY_NAME, value_type=int)
        management = {int(k): str(v) for k, v in data["authenticity_level_management"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PolicyError(f"policy {POLICY_NAME} is malformed: {exc!r}") from exc
    for scope, thresholds in grade.items():
        for g in [*(g for g, _ in thresholds.steps), thresholds.lowest]:
            if g not in cycle:
                raise PolicyError(f"policy {POLICY_NAME}: grade {g} ({scope}) has no collection_cycle")
    for lvl in [*(v for v, _ in level.steps), level.lowest]:
        if lvl not in management:
            raise PolicyError(f"policy {POLICY_NAME}: authenticity level {lvl} has no management entry")
    return GradeRules(
        version=str(data["version"]),
        grade=grade,
        collection_cycle=cycle,
        authenticity_level=level,
        management=management,
    )


def grade_of(*, scope: str, records: int) -> str:
    """A–D by the quarter's records on the national or regional thresholds (more than N, so N itself is lower)."""
    thresholds = grade_rules().grade[scope]
    for grade, more_than in thresholds.steps:
        if records > more_than:
            return grade
    return thresholds.lowest


def authenticity_level_of(*, records: int, verified: int) -> int | None:
    """1–3 by verified / records (≥ 50 % is level 1); None without records."""
    if records <= 0:
        return None
    level: int = grade_rules().authenticity_level.of(part=verified, whole=records)
    return level


def collection_cycle_of(grade: str) -> str:
    return grade_rules().collection_cycle[grade]


def grade_network(*, scope: str, records: int, verified: int) -> NetworkGrade:
    """Everything the tables say about one network's quarter."""
    rules = grade_rules()
    grade = grade_of(scope=scope, records=records)
    level = authenticity_level_of(records=records, verified=verified)
    return NetworkGrade(
        records=records,
        verified=verified,
        grade=grade,
        collection_cycle=rules.collection_cycle[grade],
        authenticity_share=None if records == 0 else verified / records,
        authenticity_level=level,
        network_class=None if level is None else f"{grade}-{level}",
        management=None if level is None else rules.management[level],
    )
