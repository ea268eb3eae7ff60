"""Dealer collection targets from policy by sales level × network grades (domain.md §2), and the breakdown's
checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lead_intake.collection_plans import check_breakdown, collection_rules, dealer_target
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
