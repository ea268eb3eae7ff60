"""One rule, one place (issue 16 §1b): the same histories through the router's attribution (what a sale's answer
tells the seller) and the ledger's settlement rule (what it posts): the ledger pays exactly the rewards the standing
sales' answers list, once the record is verified, and nothing a sale's answer does not list.

The histories are those where the two used to disagree: sales dated before the record was entered (the router
answered `[]`, the ledger posted the purchase reward), guaranteed sales on unverified records (answered with an
unqualified guarantee the ledger held), guarantees supplied by an authorized dealer other than the one the record
was routed to, repeated and cancelled sales."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dedup_router.models import Sale
from dedup_router.sales import sale_body
from dedup_router.sales_attribution import LeadView, VehicleView, attribute_sale
from dedup_router.territories import DealerProfile, is_authorized
from rewards_ledger.rewards import INFO_FEE, Claim, LeadState, SaleState, rewards_due

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
REGION = "370782"
DEALERS = {
    "D001": DealerProfile.build(code="D001", territories=["3707"], product_lines=["tractor", "dump"], capability=80),
    "D004": DealerProfile.build(code="D004", territories=["370782"], product_lines=["tractor"], capability=50),
    "D002": DealerProfile.build(code="D002", territories=["3701"], product_lines=["tractor"], capability=60),
    "D003": DealerProfile.build(code="D003", territories=["3702"], product_lines=["tractor"], capability=40),
}
CODES = sorted(DEALERS)


@dataclass(frozen=True)
class SaleSpec:
    seller: str
    supplied_by: str
    lines: tuple[str, ...]
    days_after_entry: int
    cancelled: bool


sales_strategy = st.builds(
    SaleSpec,
    seller=st.sampled_from(CODES),
    supplied_by=st.sampled_from(CODES),
    lines=st.lists(st.sampled_from(["tractor", "dump"]), min_size=1, max_size=3).map(tuple),
    days_after_entry=st.integers(-3, 40),
    cancelled=st.booleans(),
)


def _lead(entrant: str | None, tier: str, authorized: str) -> LeadView:
    cross_region = entrant is not None and not is_authorized(DEALERS[entrant], REGION, "tractor")
    # The router's flag (cross_region.py): a new customer's cross-region retail record entered by a dealer.
    eligible = cross_region and tier == "retail"
    return LeadView(
        lead_id="L1",
        entered_by=entrant,
        assigned_dealer=authorized,
        authorized_dealer=authorized,
        cross_region=cross_region,
        reward_eligible=eligible,
        protection_until=None,
        entered_at=T0,
        product_line="tractor",
    )


def _answered(sale: Sale) -> list[tuple[str, str, str | None, int]]:
    return [(r["kind"], r["dealer"], r.get("vin"), r["amount_fen"]) for r in sale_body(sale)["rewards"]]


@settings(max_examples=300, deadline=None)
@given(
    entrant=st.sampled_from([*CODES, None]),
    tier=st.sampled_from(["retail", "big"]),
    authorized=st.sampled_from(["D001", "D004"]),
    verified=st.booleans(),
    specs=st.lists(sales_strategy, min_size=1, max_size=4),
)
def test_the_ledger_pays_what_the_answers_list_and_nothing_else(
    entrant: str | None, tier: str, authorized: str, verified: bool, specs: list[SaleSpec]
) -> None:
    lead = _lead(entrant, tier, authorized)
    router_sales: list[Sale] = []
    ledger_sales: list[SaleState] = []
    for i, spec in enumerate(specs):
        vins = [f"S{i}V{j}" for j in range(len(spec.lines))]
        claimed = frozenset(
            s.attributed_lead_id
            for s in router_sales
            if s.status == "attributed"
            and s.attributed_lead_id
            and any(r["kind"] == "purchase_reward" for r in s.rewards)
        )
        vehicles = tuple(zip(vins, spec.lines, strict=True))
        attribution = attribute_sale(
            seller=spec.seller,
            supplied_by=spec.supplied_by,
            sold_at=T0 + timedelta(days=spec.days_after_entry),
            region_code=REGION,
            vehicles=[VehicleView(vin=v, product_line=line) for v, line in vehicles],
            leads=[lead],
            dealers=DEALERS,
            customer_authorized_dealer=authorized,
            purchase_rewards_claimed=claimed,
        )
        # A confirmed sale (what the ledger hears of); a cancellation comes after the next sales were reported.
        sale = Sale(
            sale_id=f"S{i}",
            customer_id="C1",
            seller=spec.seller,
            supplied_by=spec.supplied_by,
            sold_at=T0 + timedelta(days=spec.days_after_entry),
            attributed_lead_id=attribution.attributed_lead_id,
            credited_dealer=attribution.credited_dealer,
            cross_region_exempt=attribution.cross_region_exempt,
            violation=attribution.violation,
            rewards=attribution.rewards,
            explanation=attribution.explanation,
            status="attributed",
            confirmer=None,
            decided_at=None,
            created_at=T0,
            cancelled_at=None,
        )
        router_sales.append(sale)
        # The event carries the claims as the router stored them; the ledger keeps them (handlers.py).
        claims = tuple(Claim.of(r) for r in sale.rewards)
        ledger_sales.append(
            SaleState(
                sale_id=sale.sale_id,
                seller=spec.seller,
                supplied_by=spec.supplied_by,
                sold_at=sale.sold_at,
                vehicles=vehicles,
                claims=claims,
            )
        )
    for i, spec in enumerate(specs):
        if spec.cancelled:
            router_sales[i].status = "cancelled"
            ledger_sales[i] = SaleState(**{**_fields(ledger_sales[i]), "cancelled": True})

    promised = sorted(r for sale in router_sales for r in _answered(sale))
    for sale in router_sales:
        for reward in sale_body(sale)["rewards"]:
            assert reward["pending_on"] == ["record_verification"]  # confirmed: only the ledger's own fact waits
    state = LeadState(
        lead_id="L1",
        customer_id="C1",
        entered_by=entrant,
        authorized_dealer=authorized,
        reward_eligible=lead.reward_eligible,
        cross_region=lead.cross_region,
        tier=tier,
        verified=verified,
        customer_existed=False,
    )
    paid = sorted(
        (d.kind, d.dealer, d.vin, d.amount_fen) for d in rewards_due(state, ledger_sales) if d.kind != INFO_FEE
    )
    assert paid == (promised if verified else [])
    if not lead.reward_eligible:
        assert promised == []


def _fields(sale: SaleState) -> dict[str, Any]:
    return {name: getattr(sale, name) for name in SaleState.__slots__}


def test_a_sale_before_the_record_is_neither_promised_nor_paid() -> None:
    """The review's example: the router answered `[]`, the ledger posted 10000 fen."""
    lead = _lead("D002", "retail", "D001")
    attribution = attribute_sale(
        seller="D001",
        supplied_by="D001",
        sold_at=T0 - timedelta(days=1),
        region_code=REGION,
        vehicles=[VehicleView(vin="V1", product_line="tractor")],
        leads=[lead],
        dealers=DEALERS,
        customer_authorized_dealer="D001",
        purchase_rewards_claimed=frozenset(),
    )
    assert attribution.rewards == []
    sale = SaleState(
        sale_id="S1",
        seller="D001",
        supplied_by="D001",
        sold_at=T0 - timedelta(days=1),
        vehicles=(("V1", "tractor"),),
        claims=tuple(Claim.of(r) for r in attribution.rewards),
    )
    state = LeadState(
        lead_id="L1",
        customer_id="C1",
        entered_by="D002",
        authorized_dealer="D001",
        reward_eligible=True,
        cross_region=True,
        tier="retail",
        verified=True,
        customer_existed=False,
    )
    assert [d.kind for d in rewards_due(state, [sale])] == [INFO_FEE]
