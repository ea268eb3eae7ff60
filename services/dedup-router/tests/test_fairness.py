"""Capability sharing: the lowest next load wins, ties explained, deterministic, shares converge."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dedup_router.fairness import choose_dealer, route_to_authorized_dealer
from dedup_router.territories import DealerProfile, TerritoryIndex


def dealer(code: str, capability: int, territories: tuple[str, ...] = ("3707",)) -> DealerProfile:
    return DealerProfile.build(code=code, territories=territories, product_lines=("tractor",), capability=capability)


class TestLowestNextLoad:
    def test_dealer_furthest_below_its_share_wins(self) -> None:
        # D001: (4 + 1) / 80 = 0.0625; D002: (1 + 1) / 40 = 0.05 -> D002.
        choice = choose_dealer(
            candidates=[dealer("D001", 80), dealer("D002", 40)], assigned_counts={"D001": 4, "D002": 1}
        )
        assert choice.dealer == "D002"
        assert choice.explanation["tie_break"] is None

    def test_equal_load_goes_to_the_lower_assigned_count(self) -> None:
        # D001: (3 + 1) / 80 = 0.05; D002: (1 + 1) / 40 = 0.05 -> tie, D002 holds fewer.
        choice = choose_dealer(
            candidates=[dealer("D001", 80), dealer("D002", 40)], assigned_counts={"D001": 3, "D002": 1}
        )
        assert choice.dealer == "D002"
        assert choice.explanation["tie_break"] == "lower_assigned_count"

    def test_full_tie_goes_to_the_lower_code(self) -> None:
        choice = choose_dealer(candidates=[dealer("D002", 50), dealer("D001", 50)], assigned_counts={})
        assert choice.dealer == "D001"
        assert choice.explanation["tie_break"] == "dealer_code"

    def test_explanation_lists_every_number_compared(self) -> None:
        choice = choose_dealer(
            candidates=[dealer("D002", 40), dealer("D001", 80)], assigned_counts={"D001": 4, "D002": 1}
        )
        assert choice.explanation["rule"] == "lowest_next_load"
        assert choice.explanation["policy_version"] == "2026.1"
        assert choice.explanation["chosen"] == "D002"
        assert choice.explanation["compared"] == [
            {
                "dealer": "D001",
                "capability": 80,
                "assigned": 4,
                "next_load": "1/16",
                "next_load_value": 0.0625,
            },
            {"dealer": "D002", "capability": 40, "assigned": 1, "next_load": "1/20", "next_load_value": 0.05},
        ]

    def test_zero_capability_only_when_everyone_has_zero(self) -> None:
        choice = choose_dealer(
            candidates=[dealer("D001", 0), dealer("D002", 1)], assigned_counts={"D001": 0, "D002": 500}
        )
        assert choice.dealer == "D002"
        choice = choose_dealer(
            candidates=[dealer("D001", 0), dealer("D002", 0)], assigned_counts={"D001": 3, "D002": 2}
        )
        assert choice.dealer == "D002"

    def test_no_candidates_is_an_error(self) -> None:
        with pytest.raises(ValueError):
            choose_dealer(candidates=[], assigned_counts={})


def _share(capabilities: dict[str, int], leads: int) -> dict[str, int]:
    dealers = [dealer(code, cap) for code, cap in capabilities.items()]
    counts: dict[str, int] = dict.fromkeys(capabilities, 0)
    for _ in range(leads):
        counts[choose_dealer(candidates=dealers, assigned_counts=counts).dealer] += 1
    return counts


class TestSharesFollowCapability:
    def test_two_to_one(self) -> None:
        assert _share({"D001": 80, "D002": 40}, 30) == {"D001": 20, "D002": 10}

    def test_eighty_forty_twenty_over_700_leads(self) -> None:
        assert _share({"D001": 80, "D002": 40, "D003": 20}, 700) == {"D001": 400, "D002": 200, "D003": 100}

    @given(
        capabilities=st.lists(st.integers(1, 100), min_size=1, max_size=6),
        leads=st.integers(0, 300),
    )
    def test_every_dealer_stays_within_the_divisor_bounds(self, capabilities: list[int], leads: int) -> None:
        caps = {f"D{i:03d}": c for i, c in enumerate(capabilities)}
        counts = _share(caps, leads)
        total, k = sum(caps.values()), len(caps)
        assert sum(counts.values()) == leads
        for code, cap in caps.items():
            # D'Hondt: N*c/C - 1 <= a <= (N+k)*c/C, so a/N -> c/C.
            assert Fraction(leads * cap, total) - 1 <= counts[code] <= Fraction((leads + k) * cap, total)


class TestDeterminism:
    @given(
        pool=st.lists(st.tuples(st.integers(0, 100), st.integers(0, 50)), min_size=1, max_size=8),
        data=st.data(),
    )
    def test_same_input_same_choice_whatever_the_order(self, pool: list[tuple[int, int]], data: st.DataObject) -> None:
        dealers = [dealer(f"D{i:03d}", cap) for i, (cap, _) in enumerate(pool)]
        counts = {f"D{i:03d}": n for i, (_, n) in enumerate(pool)}
        first = choose_dealer(candidates=dealers, assigned_counts=counts)
        again = choose_dealer(candidates=data.draw(st.permutations(dealers)), assigned_counts=dict(counts))
        assert first == again


class TestRouteToAuthorizedDealer:
    def test_pool_counts_are_read_for_the_matched_prefix(self) -> None:
        index = TerritoryIndex.build([dealer("D001", 80), dealer("D002", 40), dealer("D003", 90, ("37",))])
        routed = route_to_authorized_dealer(
            index=index,
            region_code="370782",
            product_line="tractor",
            pool_counts={("3707", "tractor"): {"D001": 4, "D002": 1}, ("37", "tractor"): {"D003": 0}},
        )
        assert routed.dealer is not None and routed.dealer.code == "D002"
        assert routed.pool == ("3707", "tractor")
        assert routed.explanation["prefix"] == "3707"

    def test_single_candidate_and_no_candidate(self) -> None:
        index = TerritoryIndex.build([dealer("D003", 90, ("37",))])
        one = route_to_authorized_dealer(index=index, region_code="370782", product_line="tractor", pool_counts={})
        assert one.dealer is not None and one.dealer.code == "D003"
        assert one.explanation["rule"] == "single_candidate"
        none = route_to_authorized_dealer(index=index, region_code="110101", product_line="tractor", pool_counts={})
        assert none.dealer is None
        assert none.explanation["rule"] == "no_authorized_dealer"
