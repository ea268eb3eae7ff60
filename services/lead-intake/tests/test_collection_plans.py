"""Dealer collection targets from policy by sales level × network grades (domain.md §2), and the breakdown's
checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lead_intake.collection_plans import (
    check_breakdown,
    check_hq_plan,
    collection_rules,
    dealer_target,
    hand_on_due_by,
    hand_on_reminder_due,
    hand_on_status,
)
from lead_intake.records import industries
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.events import SALES_LEVELS
from leadnet_shared.problems import ValidationFailed

grades = st.lists(st.sampled_from("ABCD"), max_size=40)
levels = st.sampled_from([*SALES_LEVELS, None])


def test_targets_by_sales_level_and_grade_read_from_policy() -> None:
    rules = collection_rules()
    assert dealer_target(sales_level="gte_1000", network_grades=["A", "B", "C", "D"]) == 2000 + 800 + 250 + 60
    assert dealer_target(sales_level="300_999", network_grades=["A"]) == rules.per_network["300_999"]["A"]
    assert dealer_target(sales_level="lt_300", network_grades=[]) == rules.minimum["lt_300"]
    assert dealer_target(sales_level=None, network_grades=["B"]) == dealer_target(
        sales_level="lt_300", network_grades=["B"]
    )


@given(level=levels, network_grades=grades, index=st.integers(min_value=0))
def test_a_better_grade_never_lowers_the_target(level: str | None, network_grades: list[str], index: int) -> None:
    before = dealer_target(sales_level=level, network_grades=network_grades)
    assert before >= collection_rules().minimum[level or "lt_300"]
    if network_grades:
        i = index % len(network_grades)
        better = [*network_grades[:i], "A", *network_grades[i + 1 :]]
        assert dealer_target(sales_level=level, network_grades=better) >= before


@given(network_grades=grades)
def test_the_order_of_networks_does_not_matter(network_grades: list[str]) -> None:
    for level in SALES_LEVELS:
        assert dealer_target(sales_level=level, network_grades=network_grades) == dealer_target(
            sales_level=level, network_grades=sorted(network_grades)
        )


def test_a_breakdown_names_the_dealers_own_networks_and_counts() -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_breakdown(
            {"networks": {"N1": 10, "OTHER": 1, "N2": -1}, "people": "x", "total": 1}, own_networks={"N1", "N2"}
        )
    assert {(e.field, e.code) for e in caught.value.errors} == {
        ("/networks/OTHER", "unknown_network"),
        ("/networks/N2", "invalid_value"),
        ("/people", "invalid_type"),
        ("/total", "unknown_field"),
    }
    ok = check_breakdown({"networks": {"N1": 10}, "people": {"wang": 10}}, own_networks={"N1"})
    assert (ok.networks, ok.people) == ({"N1": 10}, {"wang": 10})


def shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)  # type: ignore[misc]


def test_hq_plans_by_industry_from_the_policy_list_and_its_own_national_networks() -> None:
    plan = check_hq_plan(
        {"industries": {"coal": 4000, "logistics": 1000}, "networks": {"NAT-1": 500}}, national_networks={"NAT-1"}
    )
    assert (plan.industries, plan.networks, plan.total) == ({"coal": 4000, "logistics": 1000}, {"NAT-1": 500}, 5000)
    with pytest.raises(ValidationFailed) as caught:
        check_hq_plan(
            {"industries": {"coal": -1, "fishing": 5}, "networks": {"D-NET": 1}, "dealers": {}}, national_networks=set()
        )
    found = {e.field: e for e in caught.value.errors}
    assert {(f, e.code) for f, e in found.items()} == {
        ("/industries/coal", "invalid_value"),
        ("/industries/fishing", "invalid_enum"),
        ("/networks/D-NET", "unknown_network"),
        ("/dealers", "unknown_field"),
    }
    assert all(i in found["/industries/fishing"].message for i in industries())  # the 422 lists the allowed values
    with pytest.raises(ValidationFailed) as caught:
        check_hq_plan({}, national_networks=set())
    assert [(e.field, e.code) for e in caught.value.errors] == [("/industries", "missing_field")]


def test_the_hand_on_is_due_by_the_end_of_the_25th_in_shanghai() -> None:
    assert hand_on_due_by("2027-01") == shanghai(2027, 1, 26)
    assert hand_on_due_by("2026-12") == shanghai(2026, 12, 26)


@given(target=st.integers(0, 10_000), handed_on=st.integers(0, 10_000), minutes=st.integers(-100_000, 100_000))
def test_met_open_or_short(target: int, handed_on: int, minutes: int) -> None:
    due = shanghai(2027, 1, 26)
    now = due + timedelta(minutes=minutes)
    status = hand_on_status(target=target, handed_on=handed_on, now=now, due_by=due)
    if handed_on >= target:
        assert status == "met"
    else:
        assert status == ("open" if now < due else "short")


def test_hand_on_reminders_before_the_25th_closest_first() -> None:
    assert hand_on_reminder_due(shanghai(2027, 1, 22, 8, 59)) is None
    first = hand_on_reminder_due(shanghai(2027, 1, 22, 9, 0))
    assert first is not None and (first.month, first.days_before, first.due_by) == ("2027-01", 3, shanghai(2027, 1, 26))
    later = hand_on_reminder_due(shanghai(2027, 1, 25, 23, 0))
    assert later is not None and later.days_before == 1  # a service down on the 22nd sends only the closest
    assert hand_on_reminder_due(shanghai(2027, 1, 26, 0, 0)) is None  # after the deadline: a flag, not a reminder
