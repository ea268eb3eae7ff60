"""One rule, one place (issue 16 §1b): the same histories through the router's attribution (what a sale's answer
tells the seller) and the ledger's settlement rule (what it posts): the ledger pays exactly the rewards the standing
sales' answers list, once the record is verified, and nothing a sale's answer does not list.

The histories are those where the two used to disagree: sales dated before the record was entered (the router
answered `[]`, the ledger posted the purchase reward), guaranteed sales on unverified records (answered with an
unqualified guarantee the ledger held), guarantees supplied by an authorized dealer other than the one the record
was routed to, repeated and cancelled sales."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dedup_router.models import Sale
from dedup_router.sales import sale_body
from dedup_router.sales_attribution import Attribution, LeadView, VehicleView, attribute_sale
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
# The lead of every history: a tractor record entered at T0 that no protection covers.
UNPROTECTED = {"lead_id": "L1", "protection_until": None, "entered_at": T0, "product_line": "tractor"}


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
    routed = {"entered_by": entrant, "assigned_dealer": authorized, "authorized_dealer": authorized}
    return LeadView(**UNPROTECTED, **routed, cross_region=cross_region, reward_eligible=eligible)


def _attribute(
    lead: LeadView, vehicles: tuple[tuple[str, str], ...], *, claimed: frozenset[str] = frozenset(), **sale: Any
) -> Attribution:
    """The router's attribution of a sale (`sale`: seller, supplied_by, sold_at) of the Zhucheng customer, whose
    authorized dealer is the lead's."""
    return attribute_sale(
        **sale,
        region_code=REGION,
        vehicles=[VehicleView(vin=v, product_line=line) for v, line in vehicles],
        leads=[lead],
        dealers=DEALERS,
        customer_authorized_dealer=lead.authorized_dealer,
        purchase_rewards_claimed=claimed,
    )


# What the lead events tell the ledger of a lead, as attribution sees it.
_LEDGER_KNOWS = ("lead_id", "entered_by", "authorized_dealer", "cross_region", "reward_eligible")


def _ledger_state(lead: LeadView, *, tier: str, verified: bool) -> LeadState:
    """What the ledger knows of the lead from its events (a new customer's record)."""
    facts = {name: getattr(lead, name) for name in _LEDGER_KNOWS}
    return LeadState(**facts, customer_id="C1", tier=tier, verified=verified, customer_existed=False)


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
        sold = {
            "seller": spec.seller,
            "supplied_by": spec.supplied_by,
            "sold_at": T0 + timedelta(days=spec.days_after_entry),
        }
        attribution = _attribute(lead, vehicles, claimed=claimed, **sold)
        # A confirmed sale (what the ledger hears of); a cancellation comes after the next sales were reported.
        # Not yet stored: no confirmer, decision or cancellation (None).
        sale = Sale(
            **sold,
            **dataclasses.asdict(attribution),
            sale_id=f"S{i}",
            customer_id="C1",
            status="attributed",
            created_at=T0,
        )
        router_sales.append(sale)
        # The event carries the claims as the router stored them; the ledger keeps them (handlers.py).
        claims = tuple(Claim.of(r) for r in sale.rewards)
        ledger_sales.append(SaleState(**sold, sale_id=sale.sale_id, vehicles=vehicles, claims=claims))
    for i, spec in enumerate(specs):
        if spec.cancelled:
            router_sales[i].status = "cancelled"
            ledger_sales[i] = dataclasses.replace(ledger_sales[i], cancelled=True)

    promised = sorted(r for sale in router_sales for r in _answered(sale))
    for sale in router_sales:
        for reward in sale_body(sale)["rewards"]:
            assert reward["pending_on"] == ["record_verification"]  # confirmed: only the ledger's own fact waits
    state = _ledger_state(lead, tier=tier, verified=verified)
    paid = sorted(
        (d.kind, d.dealer, d.vin, d.amount_fen) for d in rewards_due(state, ledger_sales) if d.kind != INFO_FEE
    )
    assert paid == (promised if verified else [])
    if not lead.reward_eligible:
        assert promised == []


def test_a_sale_before_the_record_is_neither_promised_nor_paid() -> None:
    """The review's example: the router answered `[]`, the ledger posted 10000 fen."""
    lead = _lead("D002", "retail", "D001")
    sold = {"seller": "D001", "supplied_by": "D001", "sold_at": T0 - timedelta(days=1)}
    vehicles = (("V1", "tractor"),)
    attribution = _attribute(lead, vehicles, **sold)
    assert attribution.rewards == []
    sale = SaleState(**sold, sale_id="S1", vehicles=vehicles, claims=tuple(Claim.of(r) for r in attribution.rewards))
    assert (lead.cross_region, lead.reward_eligible) == (True, True)  # D002's retail record across regions
    assert [d.kind for d in rewards_due(_ledger_state(lead, tier="retail", verified=True), [sale])] == [INFO_FEE]
