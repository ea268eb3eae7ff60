"""Order of a dealer's open tasks (domain.md §4): earliest due, then demand, reachable, big first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from followup_scheduler.ordering import (
    has_demand,
    parse_ordering_policy,
    task_priority_key,
    task_priority_rank,
    tie_break_rank,
)
from followup_scheduler.vocabulary import HORIZONS, TIERS, Tier
from leadnet_shared.policy import PolicyError

DUE = datetime(2025, 10, 13, 2, 0, tzinfo=UTC)


def key(
    *, due_at: datetime = DUE, demand: bool = True, reachable: bool = True, tier: Tier = "retail"
) -> tuple[datetime, int, int, int]:
    return task_priority_key(due_at=due_at, has_demand=demand, reachable=reachable, tier=tier)


class TestPriorityKey:
    def test_earliest_due_first_whatever_else(self) -> None:
        early_weak = key(due_at=DUE, demand=False, reachable=False, tier="retail")
        late_strong = key(due_at=DUE + timedelta(seconds=1), demand=True, reachable=True, tier="gold_silver")
        assert early_weak < late_strong

    def test_demand_before_reachable_before_tier(self) -> None:
        tasks = {
            "no demand, reachable, gold": key(demand=False, reachable=True, tier="gold_silver"),
            "demand, unreachable, gold": key(demand=True, reachable=False, tier="gold_silver"),
            "demand, reachable, retail": key(demand=True, reachable=True, tier="retail"),
            "demand, reachable, general": key(demand=True, reachable=True, tier="general_big"),
            "demand, reachable, gold": key(demand=True, reachable=True, tier="gold_silver"),
        }
        assert sorted(tasks, key=tasks.__getitem__) == [
            "demand, reachable, gold",
            "demand, reachable, general",
            "demand, reachable, retail",
            "demand, unreachable, gold",
            "no demand, reachable, gold",
        ]

    def test_tiers_big_customers_first(self) -> None:
        ranks = [tie_break_rank(has_demand=True, reachable=True, tier=tier) for tier in TIERS]
        assert ranks == sorted(ranks)
        assert ranks == [0, 1, 2]

    def test_same_instant_in_other_zones_ties(self) -> None:
        from leadnet_shared.clock import SHANGHAI

        assert key(due_at=DUE) == key(due_at=DUE.astimezone(SHANGHAI))

    def test_unknown_tier_is_refused(self) -> None:
        with pytest.raises(ValueError):
            key(tier="platinum")  # type: ignore[arg-type]


class TestHasDemand:
    @pytest.mark.parametrize("horizon", [h for h in HORIZONS if h.startswith("within_")])
    def test_stated_horizons_are_demand(self, horizon: str) -> None:
        assert has_demand(horizon=horizon)

    @pytest.mark.parametrize("horizon", ["uncertain", "none", None])
    def test_unknown_or_no_demand(self, horizon: str | None) -> None:
        assert not has_demand(horizon=horizon)


class TestOrderingPolicyChecks:
    def test_tier_order_must_cover_every_tier(self) -> None:
        with pytest.raises(PolicyError):
            parse_ordering_policy({"version": "t", "tier_order": ["retail"], "demand_horizons": []})

    def test_demand_horizons_must_be_horizons(self) -> None:
        with pytest.raises(PolicyError):
            parse_ordering_policy({"version": "t", "tier_order": list(TIERS), "demand_horizons": ["soon"]})


tasks = st.tuples(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.booleans(),
    st.booleans(),
    st.sampled_from(TIERS),
)


class TestIntegerRank:
    @given(a=tasks, b=tasks)
    def test_rank_orders_like_the_key(
        self, a: tuple[datetime, bool, bool, Tier], b: tuple[datetime, bool, bool, Tier]
    ) -> None:
        def both(t: tuple[datetime, bool, bool, Tier]) -> tuple[tuple[datetime, int, int, int], int]:
            due, demand, reachable, tier = t
            return (
                task_priority_key(due_at=due, has_demand=demand, reachable=reachable, tier=tier),
                task_priority_rank(due_at=due, has_demand=demand, reachable=reachable, tier=tier),
            )

        (key_a, rank_a), (key_b, rank_b) = both(a), both(b)
        assert (key_a < key_b) == (rank_a < rank_b)
        assert (key_a == key_b) == (rank_a == rank_b)

    def test_fits_a_bigint(self) -> None:
        rank = task_priority_rank(
            due_at=datetime(9999, 12, 31, tzinfo=UTC), has_demand=False, reachable=False, tier="retail"
        )
        assert rank < 2**63
