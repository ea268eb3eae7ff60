"""Sales attribution: which lead, exempt protected sales, cross-region violations, rewards with domain.md amounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dedup_router.sales_attribution import LeadView, VehicleView, attribute_sale, choose_lead
from dedup_router.territories import DealerProfile

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
DEALERS = {
    "D001": DealerProfile.build(code="D001", territories=["3707"], product_lines=["tractor", "dump"], capability=80),
    "D002": DealerProfile.build(code="D002", territories=["3701"], product_lines=["tractor"], capability=60),
    "D003": DealerProfile.build(code="D003", territories=["3702"], product_lines=["tractor"], capability=40),
}
V1, V2 = (
    VehicleView(vin="LRDS6PEB5KR000001", product_line="tractor"),
    VehicleView(vin="LRDS6PEB5KR000002", product_line="tractor"),
)


# A tractor lead D002 entered across regions, assigned to its authorized dealer D001, not protected.
LEAD: dict[str, Any] = {
    "entered_by": "D002",
    "assigned_dealer": "D001",
    "authorized_dealer": "D001",
    "cross_region": True,
    "reward_eligible": True,
    "protection_until": None,
    "entered_at": T0,
    "product_line": "tractor",
}


def lead(lead_id: str = "L1", **changes: Any) -> LeadView:
    """`LEAD` with the fields a test is about changed."""
    return LeadView(lead_id=lead_id, **(LEAD | changes))


def sale(
    *,
    seller: str,
    supplied_by: str | None = None,
    leads: list[LeadView],
    vehicles: tuple[VehicleView, ...] = (V1,),
    at: datetime = T0 + timedelta(days=10),
    claimed: frozenset[str] = frozenset(),
) -> dict[str, object]:
    a = attribute_sale(
        seller=seller,
        supplied_by=supplied_by or seller,
        sold_at=at,
        region_code="370782",
        vehicles=vehicles,
        leads=leads,
        dealers=DEALERS,
        customer_authorized_dealer="D001",
        purchase_rewards_claimed=claimed,
    )
    return {
        "lead": a.attributed_lead_id,
        "credited": a.credited_dealer,
        "exempt": a.cross_region_exempt,
        "violation": a.violation,
        "rewards": [(r["kind"], r["dealer"], r["amount_fen"]) for r in a.rewards],
    }


class TestPurchaseReward:
    def test_customer_buys_from_the_authorized_dealer_entrant_earns_100_cny(self) -> None:
        assert sale(seller="D001", leads=[lead()]) == {
            "lead": "L1",
            "credited": "D001",
            "exempt": False,
            "violation": None,
            "rewards": [("purchase_reward", "D002", 10000)],
        }

    def test_once_per_lead_not_per_vehicle_nor_per_sale(self) -> None:
        assert sale(seller="D001", leads=[lead()], vehicles=(V1, V2))["rewards"] == [("purchase_reward", "D002", 10000)]
        assert sale(seller="D001", leads=[lead()], claimed=frozenset({"L1"}))["rewards"] == []

    def test_nothing_for_an_in_region_lead_or_a_sale_before_the_record(self) -> None:
        in_region = lead(entered_by="D001", cross_region=False, reward_eligible=False)
        assert sale(seller="D001", leads=[in_region])["rewards"] == []
        assert sale(seller="D001", leads=[lead()], at=T0 - timedelta(days=1))["rewards"] == []


class TestProfitGuarantee:
    def test_entrant_selling_with_the_authorized_dealers_vehicle_gets_the_guarantee_per_vehicle(self) -> None:
        result = sale(seller="D002", supplied_by="D001", leads=[lead()], vehicles=(V1, V2))
        assert result["rewards"] == [("profit_guarantee", "D002", 200000)] * 2  # tractor default: 2000 CNY
        assert result["violation"] is None and result["credited"] == "D001"

    def test_entrant_selling_its_own_vehicle_is_a_cross_region_sale_without_reward(self) -> None:
        result = sale(seller="D002", leads=[lead()])
        assert result["violation"] == "cross_region_sale" and result["rewards"] == []


class TestProtectedBigCustomer:
    def test_entrant_selling_inside_the_month_is_exempt_volume_to_the_authorized_dealer(self) -> None:
        big = lead(assigned_dealer="D002", reward_eligible=False, protection_until=T0 + timedelta(days=30))
        assert sale(seller="D002", leads=[big], at=T0 + timedelta(days=29)) == {
            "lead": "L1",
            "credited": "D001",
            "exempt": True,
            "violation": None,
            "rewards": [],
        }

    def test_after_the_month_the_same_sale_is_a_violation(self) -> None:
        big = lead(assigned_dealer="D002", reward_eligible=False, protection_until=T0 + timedelta(days=30))
        result = sale(seller="D002", leads=[big], at=T0 + timedelta(days=30))
        assert result["exempt"] is False and result["violation"] == "cross_region_sale"
        assert result["credited"] == "D002"


class TestWhichLead:
    def test_earliest_cross_region_entry_wins_over_later_and_in_region_leads(self) -> None:
        own = lead("L0", entered_by="D001", cross_region=False, reward_eligible=False, entered_at=T0 - timedelta(1))
        first = lead("L1", entered_by="D002", entered_at=T0)
        second = lead("L2", entered_by="D003", entered_at=T0 + timedelta(hours=1))
        chosen, why = choose_lead([second, own, first], seller="D001", sold_at=T0 + timedelta(days=3))
        assert chosen is not None and chosen.lead_id == "L1" and why == "earliest_cross_region_entry"
        chosen, why = choose_lead([own], seller="D001", sold_at=T0)
        assert chosen is not None and chosen.lead_id == "L0" and why == "earliest_assigned_to_seller"
        assert choose_lead([], seller="D001", sold_at=T0) == (None, "no_lead")

    def test_a_sale_of_a_customer_without_leads_by_an_outsider_is_flagged(self) -> None:
        assert sale(seller="D003", leads=[]) == {
            "lead": None,
            "credited": "D003",
            "exempt": False,
            "violation": "cross_region_sale",
            "rewards": [],
        }
