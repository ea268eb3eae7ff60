"""Withdrawn dealer: region, product line, capability; the HQ queue; never back to the withdrawn dealer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dedup_router.territories import DealerProfile, TerritoryIndex, is_authorized
from dedup_router.withdrawal import HeldItem, plan_withdrawal


def dealer(
    code: str, territories: tuple[str, ...], lines: tuple[str, ...] = ("tractor",), capability: int = 50
) -> DealerProfile:
    return DealerProfile.build(code=code, territories=territories, product_lines=lines, capability=capability)


GONE = dealer("D001", ("3707",), ("tractor", "dump"), 90)
BIG = dealer("D002", ("3707",), ("tractor",), 80)
SMALL = dealer("D003", ("3707",), ("tractor",), 40)
DUMP_COUNTY = dealer("D004", ("370782",), ("dump",), 30)
DEALERS = [GONE, BIG, SMALL, DUMP_COUNTY]


def lead(n: int, region: str = "370781", line: str = "tractor", customer: str | None = None) -> HeldItem:
    return HeldItem(item_id=f"L{n:04d}", region_code=region, product_line=line, customer_id=customer)


class TestPlan:
    def test_region_then_product_line_then_capability(self) -> None:
        items = [lead(i) for i in range(6)] + [lead(10, "370782", "dump"), lead(11, "110101")]
        plan = plan_withdrawal(withdrawn_dealer="D001", dealers=DEALERS, items=items)
        # six tractor leads in Weifang shared 80:40 -> 4 and 2; the dump lead goes to the county dump dealer.
        assert plan.per_dealer == {"D002": 4, "D003": 2, "D004": 1}
        assert plan.reassigned == 7
        assert plan.unplaced == 1
        moves = {m.item_id: m.new_dealer for m in plan.moves}
        assert moves["L0010"] == "D004"
        assert moves["L0011"] is None
        assert plan.summary() == {
            "withdrawn_dealer": "D001",
            "reassigned": 7,
            "unplaced": 1,
            "per_dealer": {"D002": 4, "D003": 2, "D004": 1},
        }

    def test_existing_pool_counts_are_taken_into_account(self) -> None:
        # D002 holds 10: (10+1)/80 = 0.1375 beats none of D003's 1/40, 2/40, 3/40; D001's 99 are ignored.
        plan = plan_withdrawal(
            withdrawn_dealer="D001",
            dealers=DEALERS,
            items=[lead(i) for i in range(3)],
            pool_counts={("3707", "tractor"): {"D002": 10, "D003": 0, "D001": 99}},
        )
        assert plan.per_dealer == {"D003": 3}

    def test_a_customer_and_its_leads_stay_together(self) -> None:
        items = [lead(i, customer="C1") for i in range(3)] + [lead(9, customer="C2")]
        plan = plan_withdrawal(withdrawn_dealer="D001", dealers=DEALERS, items=items)
        c1 = {m.new_dealer for m in plan.moves if m.item_id in {"L0000", "L0001", "L0002"}}
        assert c1 == {"D002"}
        assert plan.per_dealer == {"D002": 3, "D003": 1}

    def test_nobody_left_means_everything_waits_in_the_hq_queue(self) -> None:
        plan = plan_withdrawal(withdrawn_dealer="D001", dealers=[GONE], items=[lead(1), lead(2)])
        assert plan.reassigned == 0
        assert plan.unplaced == 2
        assert all(m.explanation["rule"] == "no_authorized_dealer" for m in plan.moves)

    def test_same_item_twice_is_refused(self) -> None:
        with pytest.raises(ValueError, match="listed twice"):
            plan_withdrawal(withdrawn_dealer="D001", dealers=DEALERS, items=[lead(1), lead(1)])


region = st.sampled_from(["370782", "370781", "370702", "371002", "110101"])
line = st.sampled_from(["tractor", "dump", "mixer"])


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[DealerProfile], list[HeldItem]]:
    n = draw(st.integers(1, 8))
    dealers = [
        dealer(
            f"D{i:03d}",
            tuple(draw(st.lists(st.sampled_from(["37", "3707", "370782", "3710", "11"]), min_size=1, max_size=2))),
            tuple(draw(st.lists(line, min_size=1, max_size=3))),
            draw(st.integers(0, 100)),
        )
        for i in range(n)
    ]
    count = draw(st.integers(0, 40))
    items = [
        HeldItem(
            item_id=f"L{i:04d}",
            region_code=draw(region),
            product_line=draw(line),
            kind=draw(st.sampled_from(["lead", "customer"])),
            customer_id=draw(st.sampled_from([None, "C1", "C2"])),
        )
        for i in range(count)
    ]
    return dealers, items


class TestInvariants:
    @given(scenario())
    def test_never_the_withdrawn_dealer_and_always_an_authorized_longest_prefix_one(
        self, case: tuple[list[DealerProfile], list[HeldItem]]
    ) -> None:
        dealers, items = case
        plan = plan_withdrawal(withdrawn_dealer="D000", dealers=dealers, items=items)
        by_code = {d.code: d for d in dealers}
        others = TerritoryIndex.build(dealers, exclude=("D000",))
        items_by_id = {i.item_id: i for i in items}
        assert plan.reassigned + plan.unplaced == len(items)
        assert "D000" not in plan.per_dealer
        for move in plan.moves:
            item = items_by_id[move.item_id]
            expected = others.candidates(region_code=item.region_code, product_line=item.product_line)
            if move.new_dealer is None:
                assert expected.codes == ()
            else:
                assert move.new_dealer != "D000"
                assert is_authorized(by_code[move.new_dealer], item.region_code, item.product_line)
                assert move.new_dealer in expected.codes

    @given(scenario(), st.data())
    def test_deterministic_whatever_the_order_of_dealers_and_items(
        self, case: tuple[list[DealerProfile], list[HeldItem]], data: st.DataObject
    ) -> None:
        dealers, items = case
        first = plan_withdrawal(withdrawn_dealer="D000", dealers=dealers, items=items)
        again = plan_withdrawal(
            withdrawn_dealer="D000",
            dealers=data.draw(st.permutations(dealers)),
            items=data.draw(st.permutations(items)),
        )
        assert first == again
