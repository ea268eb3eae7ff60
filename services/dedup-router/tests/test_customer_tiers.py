"""Tier and nature follow the newest information (contract.md "Lead life cycle across the services")."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dedup_router.customer_tiers import (
    apply_later_record,
    change_customer_tier,
    customer_tier_policy,
    parse_customer_tier_policy,
    tier_after_record,
)
from dedup_router.models import Customer
from leadnet_shared.policy import PolicyError

TIERS = ["gold_silver", "general_big", "retail"]
NATURES = ["new", "own_brand", "competitor"]
AT = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)


def _customer(tier: str = "retail", nature: str = "new") -> Customer:
    return Customer(customer_id="c1", tier=tier, nature=nature, updated_at=AT)


class TestLaterRecords:
    def test_a_record_saying_gold_silver_upgrades_a_retail_customer(self) -> None:
        customer = _customer()
        event = apply_later_record(
            customer, said_tier="gold_silver", said_nature="new", lead_id="L2", entered_by="D003", now=AT
        )
        assert event is not None
        assert (event.old_tier, event.new_tier, event.reason, event.lead_id, event.changed_by) == (
            "retail",
            "gold_silver",
            "later_record",
            "L2",
            "D003",
        )
        assert customer.tier == "gold_silver"
        # Ids and tiers only: nothing personal on the public topic.
        assert set(event.model_dump(mode="json")) <= {
            "customer_id", "old_tier", "new_tier", "old_nature", "new_nature", "reason", "lead_id", "changed_by",
            "changed_at",
        }  # fmt: skip

    def test_a_record_saying_retail_is_no_news(self) -> None:
        customer = _customer("general_big")
        assert (
            apply_later_record(customer, said_tier="retail", said_nature="new", lead_id="L2", entered_by=None, now=AT)
            is None
        )
        assert customer.tier == "general_big"

    def test_a_stated_nature_replaces_the_known_one_and_new_never_does(self) -> None:
        customer = _customer(nature="own_brand")
        assert (
            apply_later_record(customer, said_tier="retail", said_nature="new", lead_id="L", entered_by=None, now=AT)
            is None
        )
        event = apply_later_record(
            customer, said_tier="retail", said_nature="competitor", lead_id="L", entered_by=None, now=AT
        )
        assert event is not None and (event.old_nature, event.new_nature, event.new_tier) == (
            "own_brand",
            "competitor",
            "retail",
        )

    def test_a_correction_may_lower_the_tier(self) -> None:
        customer = _customer("gold_silver")
        event = change_customer_tier(customer, tier="retail", nature=None, reason="correction", now=AT)
        assert event is not None and (event.old_tier, event.new_tier, event.reason) == (
            "gold_silver",
            "retail",
            "correction",
        )


class TestProperties:
    @given(said=st.lists(st.tuples(st.sampled_from(TIERS), st.sampled_from(NATURES)), min_size=1, max_size=6))
    def test_the_tier_is_the_highest_any_record_said_and_each_change_is_announced_once(
        self, said: list[tuple[str, str]]
    ) -> None:
        first_tier, first_nature = said[0]
        customer = _customer(first_tier, first_nature)
        events = []
        for i, (tier, nature) in enumerate(said[1:], start=1):
            event = apply_later_record(
                customer, said_tier=tier, said_nature=nature, lead_id=f"L{i}", entered_by=None, now=AT + timedelta(i)
            )
            if event is not None:
                events.append(event)
        assert customer.tier == min((t for t, _ in said), key=TIERS.index)
        # The announced changes chain from the first record's tier to the current one, never downwards.
        tiers = [first_tier] + [e.new_tier for e in events]
        assert all(TIERS.index(b) <= TIERS.index(a) for a, b in itertools.pairwise(tiers))
        assert all((e.old_tier, e.old_nature) != (e.new_tier, e.new_nature) for e in events)
        assert tiers[-1] == customer.tier

    @given(current=st.sampled_from(TIERS), said=st.sampled_from(TIERS), other=st.sampled_from(TIERS))
    def test_the_order_of_two_records_does_not_change_the_tier(self, current: str, said: str, other: str) -> None:
        one = tier_after_record(current=tier_after_record(current=current, said=said), said=other)
        two = tier_after_record(current=tier_after_record(current=current, said=other), said=said)
        assert one == two


class TestPolicy:
    def test_the_file_in_force(self) -> None:
        assert customer_tier_policy().tier_order == tuple(TIERS)

    @pytest.mark.parametrize("order", [[], ["retail", "retail"], "retail"])
    def test_a_bad_order_is_refused(self, order: object) -> None:
        with pytest.raises(PolicyError):
            parse_customer_tier_policy({"version": "x", "tier_order": order})
