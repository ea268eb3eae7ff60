"""Grade, authenticity level, class, collection cycle and management of a network's quarter (domain.md §1), at
every boundary of the tables, with the tables re-read straight from domain.md as the oracle."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lead_intake.network_grades import (
    authenticity_level_of,
    collection_cycle_of,
    grade_network,
    grade_of,
    grade_rules,
)


def domain_grade(scope: str, n: int) -> str:
    """domain.md §1's grade table, as written there."""
    if scope == "national":
        return "A" if n > 30000 else "B" if n > 10000 else "C" if n > 2000 else "D"
    return "A" if n > 5000 else "B" if n > 2000 else "C" if n > 300 else "D"


def domain_level(records: int, verified: int) -> int:
    share = Fraction(verified, records)
    return 1 if share >= Fraction(1, 2) else 2 if share >= Fraction(1, 5) else 3


BOUNDARIES = {"national": (30000, 10000, 2000), "regional": (5000, 2000, 300)}
near_boundary = st.sampled_from(sorted({b + d for bs in BOUNDARIES.values() for b in bs for d in (-1, 0, 1)}))


class TestGrade:
    @pytest.mark.parametrize(
        ("scope", "records", "grade"),
        [
            ("national", 30000, "B"),
            ("national", 30001, "A"),
            ("national", 10000, "C"),
            ("national", 10001, "B"),
            ("national", 2000, "D"),
            ("national", 2001, "C"),
            ("national", 0, "D"),
            ("regional", 5000, "B"),
            ("regional", 5001, "A"),
            ("regional", 2000, "C"),
            ("regional", 2001, "B"),
            ("regional", 300, "D"),
            ("regional", 301, "C"),
            ("regional", 0, "D"),
        ],
    )
    def test_the_table_of_domain_md(self, scope: str, records: int, grade: str) -> None:
        assert grade_of(scope=scope, records=records) == grade

    @given(
        scope=st.sampled_from(["national", "regional"]),
        records=st.one_of(near_boundary, st.integers(min_value=0, max_value=10**7)),
    )
    @example(scope="national", records=30000)
    @example(scope="regional", records=5000)
    def test_every_count_grades_as_domain_md_says(self, scope: str, records: int) -> None:
        assert grade_of(scope=scope, records=records) == domain_grade(scope, records)

    @given(
        scope=st.sampled_from(["national", "regional"]),
        a=st.integers(min_value=0, max_value=100_000),
        b=st.integers(min_value=0, max_value=100_000),
    )
    def test_more_records_never_lower_the_grade(self, scope: str, a: int, b: int) -> None:
        low, high = sorted((a, b))
        assert grade_of(scope=scope, records=high) <= grade_of(scope=scope, records=low)  # "A" < "B" ...

    def test_the_collection_cycle_follows_the_grade(self) -> None:
        assert [collection_cycle_of(g) for g in "ABCD"] == ["quarterly", "quarterly", "monthly", "monthly"]


class TestAuthenticityLevel:
    @pytest.mark.parametrize(
        ("records", "verified", "level"),
        [(100, 50, 1), (100, 49, 2), (2, 1, 1), (100, 20, 2), (100, 19, 3), (5, 1, 2), (100, 0, 3), (7, 7, 1)],
    )
    def test_exactly_50_percent_is_level_1_and_exactly_20_is_level_2(
        self, records: int, verified: int, level: int
    ) -> None:
        assert authenticity_level_of(records=records, verified=verified) == level

    @given(data=st.data(), records=st.integers(min_value=1, max_value=10**9))
    def test_every_share_levels_as_domain_md_says(self, data: st.DataObject, records: int) -> None:
        # half and a fifth of the records, and one either side, are drawn as often as any other count
        around = [records // 2 + d for d in (-1, 0, 1)] + [records // 5 + d for d in (-1, 0, 1)]
        candidates = [v for v in around if 0 <= v <= records]
        verified = data.draw(st.one_of(st.sampled_from(candidates), st.integers(min_value=0, max_value=records)))
        assert authenticity_level_of(records=records, verified=verified) == domain_level(records, verified)

    def test_no_records_no_level(self) -> None:
        assert authenticity_level_of(records=0, verified=0) is None
        assert grade_network(scope="regional", records=0, verified=0).network_class is None


class TestClass:
    @given(
        scope=st.sampled_from(["national", "regional"]),
        records=st.one_of(near_boundary, st.integers(min_value=1, max_value=100_000)),
        data=st.data(),
    )
    def test_class_cycle_and_management_combine_both_tables(
        self, scope: str, records: int, data: st.DataObject
    ) -> None:
        verified = data.draw(st.integers(min_value=0, max_value=records))
        graded = grade_network(scope=scope, records=records, verified=verified)
        grade, level = domain_grade(scope, records), domain_level(records, verified)
        assert graded.network_class == f"{grade}-{level}"
        assert graded.collection_cycle == ("quarterly" if grade in "AB" else "monthly")
        assert graded.management == ("auxiliary" if level == 3 else "main")
        assert graded.authenticity_share == verified / records

    def test_b_2(self) -> None:
        graded = grade_network(scope="national", records=30000, verified=14999)
        assert (graded.network_class, graded.management, graded.collection_cycle) == ("B-2", "main", "quarterly")

    def test_policy_names_a_version(self) -> None:
        assert grade_rules().version.startswith("network-grades-")
