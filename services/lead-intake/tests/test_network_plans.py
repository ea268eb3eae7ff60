"""Network development plans (domain.md §1): periods, due days in Asia/Shanghai, and the plan's fields."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lead_intake.network_plans import check_plan, months_of, plan_period
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.problems import ValidationFailed


def shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)  # type: ignore[misc]


def test_fixed_networks_are_planned_per_quarter_due_by_the_5th_of_its_first_month() -> None:
    q = plan_period("2027Q1")
    assert (q.kind, q.quarter) == ("fixed", "2027Q1")
    assert (q.start, q.end, q.due_by) == (shanghai(2027, 1, 1), shanghai(2027, 4, 1), shanghai(2027, 1, 6))
    assert plan_period("2026Q4").end == shanghai(2027, 1, 1)


def test_temporary_networks_are_planned_per_month_due_by_the_5th() -> None:
    m = plan_period("2026-12")
    assert (m.kind, m.quarter) == ("temporary", "2026Q4")
    assert (m.start, m.end, m.due_by) == (shanghai(2026, 12, 1), shanghai(2027, 1, 1), shanghai(2026, 12, 6))
    assert months_of("2026Q4") == ["2026-10", "2026-11", "2026-12"]


@pytest.mark.parametrize("period", ["2026Q5", "2026-13", "2026-1", "26Q1", ""])
def test_a_period_that_is_neither(period: str) -> None:
    with pytest.raises(ValidationFailed):
        plan_period(period)


def test_every_problem_of_a_plan_at_once() -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_plan({"planned_networks": True, "responsible": {"planner": "precall_agent", "boss": "x"}, "late": 1})
    assert {(e.field, e.code) for e in caught.value.errors} == {
        ("/planned_networks", "invalid_value"),
        ("/responsible/planner", "invalid_enum"),
        ("/responsible/boss", "unknown_field"),
        ("/late", "unknown_field"),
    }
    plan = check_plan({"planned_networks": 3, "responsible": {"development_lead": "general_manager"}})
    assert (plan.planned_networks, plan.responsible) == (3, {"development_lead": "general_manager"})
