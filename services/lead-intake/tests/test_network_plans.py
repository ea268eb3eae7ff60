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


def test_reminders_come_before_the_5th_closest_first() -> None:
    from lead_intake.network_plans import due_reminders

    assert due_reminders(shanghai(2027, 1, 2, 8, 59)) == []
    on_2nd = due_reminders(shanghai(2027, 1, 2, 9, 0))  # 3 days before the 5th: January's and 2027Q1's plans
    assert sorted((r.period.period, r.days_before) for r in on_2nd) == [("2027-01", 3), ("2027Q1", 3)]
    on_4th = due_reminders(shanghai(2027, 1, 4, 9, 0))  # the 1-day reminder replaces the 3-day one
    assert sorted((r.period.period, r.days_before) for r in on_4th) == [("2027-01", 1), ("2027Q1", 1)]
    assert due_reminders(shanghai(2027, 1, 6, 0, 0)) == []  # past the due day: nothing left to remind
    assert [(r.period.period, r.days_before) for r in due_reminders(shanghai(2027, 2, 2, 9, 0))] == [("2027-02", 3)]
