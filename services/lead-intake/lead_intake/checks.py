"""The checks intake's small JSON bodies share (plans, breakdowns, registrations): an object of known fields, and
tables of `{name: count}`; every problem is collected, so one 422 lists them all."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from leadnet_shared.problems import FieldProblem, ProblemCollector, ValidationFailed

# A check of one line of a table: None when it passes, else the problem's (code, message).
LineCheck = Callable[[str, object], tuple[str, str] | None]


def json_object(body: object) -> dict[str, Any]:
    """The body, which must be a JSON object."""
    if not isinstance(body, dict):
        raise ValidationFailed(
            "The body must be a JSON object.", errors=[FieldProblem("", "invalid_type", "must be an object")]
        )
    return body


def unknown_fields(body: dict[str, Any], fields: Iterable[str], problems: ProblemCollector, message: str) -> None:
    """A problem for each key of the body that is not one of `fields`."""
    known = set(fields)
    for key in body:
        if key not in known:
            problems.add(f"/{key}", "unknown_field", message)


def count_up_to(maximum: int) -> LineCheck:
    """The line's count is an integer 0..maximum."""

    def check(_name: str, count: object) -> tuple[str, str] | None:
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= maximum:
            return "invalid_value", f"must be an integer 0..{maximum}"
        return None

    return check


def one_of(allowed: Iterable[str], code: str, message: str) -> LineCheck:
    """The line's name is one of `allowed`."""
    names = set(allowed)
    return lambda name, _count: None if name in names else (code, message)


def counts_table(
    body: dict[str, Any], part: str, problems: ProblemCollector, *, max_lines: int, checks: list[LineCheck]
) -> dict[str, int]:
    """The `{name: count}` table at `body[part]` (empty when absent): its lines that pass every check, in order; a
    line gets the problem of the first check it fails."""
    value: Any = body.get(part, {})
    if not isinstance(value, dict):
        problems.add(f"/{part}", "invalid_type", "must be an object {name: records}")
        return {}
    if len(value) > max_lines:
        problems.add(f"/{part}", "too_many_items", f"at most {max_lines}")
        return {}
    table: dict[str, int] = {}
    for name, count in value.items():
        problem = next((found for check in checks if (found := check(name, count)) is not None), None)
        if problem is None:
            table[name] = count
        else:
            problems.add(f"/{part}/{name}", *problem)
    return table
