"""The cross-region rewards of domain.md §3 as pure decisions: which business facts are due to whom, how much.

Given everything the ledger knows about one record (its lead facts, whether and when it was verified, the sales
attributed to it, their cancellations and the guarantee amounts HQ set), `rewards_due` says what should be paid.
Settlement (`settlement.py`) compares that with what was posted and posts the difference, so the outcome does not
depend on the order in which the facts arrived. Amounts are policy data (`leadnet_shared/policy/rewards.toml`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadnet_shared.policy import cached_policy
from leadnet_shared.problems import FieldProblem

INFO_FEE = "info_fee"
PURCHASE_REWARD = "purchase_reward"
PROFIT_GUARANTEE = "profit_guarantee"
REVERSAL = "reversal"

# Rule names stored with every posting, so a statement line says which rule paid it.
RULE_INFO_FEE = "info_fee.cross_region_retail_verified"
RULE_PURCHASE_REWARD = "purchase_reward.customer_bought_from_another_dealer"
RULE_PROFIT_GUARANTEE = "profit_guarantee.entrant_sold_with_authorized_supply"
RULE_PROFIT_GUARANTEE_SET = "profit_guarantee.amount_set_by_hq"


def rewards_policy() -> dict[str, Any]:
    """The reward amounts in force (shared with dedup-router, which announces them in its sale answer)."""
    policy: dict[str, Any] = cached_policy("leadnet_shared", "rewards")
    return policy


@dataclass(frozen=True, slots=True)
class LeadState:
    """What the ledger knows of one record from the public lead events."""

    lead_id: str
    customer_id: str
    entered_by: str | None
    authorized_dealer: str | None
    reward_eligible: bool
    cross_region: bool
    tier: str
    verified: bool
    customer_existed: bool | None = None  # None: lead.accepted not seen (yet)


@dataclass(frozen=True, slots=True)
class SaleState:
    """A sale attributed to a record, as the router published it, and whether it was cancelled since."""

    sale_id: str
    seller: str
    supplied_by: str | None
    sold_at: datetime
    vehicles: tuple[tuple[str, str | None], ...]  # (vin, product line)
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class DueReward:
    """One business fact that should be paid now."""

    fact_key: str
    kind: str
    dealer: str
    amount_fen: int
    rule: str
    lead_id: str
    customer_id: str
    # The sales this fact may be booked against, preferred first (a purchase reward is due once per record,
    # whichever qualifying sale it rests on); empty when it rests on no sale.
    sale_ids: tuple[str, ...] = ()
    vin: str | None = None
    amount_set_by_hq: bool = False


def earns_cross_region_rewards(lead: LeadState) -> bool:
    """A verified cross-region retail record entered by a dealer, not a duplicate of an existing customer."""
    return (lead.verified and lead.reward_eligible and lead.cross_region and lead.tier == "retail"
            and lead.entered_by is not None and lead.customer_existed is not True)


def info_fee_due(lead: LeadState, *, policy: Mapping[str, Any]) -> DueReward | None:
    """Info fee: 200 fen to the entrant, once per record, when it is verified true and valid."""
    if not earns_cross_region_rewards(lead) or lead.entered_by is None:
        return None
    return DueReward(fact_key=f"{INFO_FEE}:{lead.lead_id}", kind=INFO_FEE, dealer=lead.entered_by,
                     amount_fen=int(policy["info_fee_fen"]), rule=RULE_INFO_FEE, lead_id=lead.lead_id,
                     customer_id=lead.customer_id)


def _live(sales: Sequence[SaleState]) -> list[SaleState]:
    return sorted((s for s in sales if not s.cancelled), key=lambda s: (s.sold_at, s.sale_id))


def purchase_reward_due(lead: LeadState, sales: Sequence[SaleState], *,
                        policy: Mapping[str, Any]) -> DueReward | None:
    """Purchase reward: 10000 fen to the entrant, once per record, when the customer buys from another dealer."""
    if not earns_cross_region_rewards(lead) or lead.entered_by is None:
        return None
    qualifying = tuple(s.sale_id for s in _live(sales) if s.seller != lead.entered_by)
    if not qualifying:
        return None
    return DueReward(fact_key=f"{PURCHASE_REWARD}:{lead.lead_id}", kind=PURCHASE_REWARD, dealer=lead.entered_by,
                     amount_fen=int(policy["purchase_reward_fen"]), rule=RULE_PURCHASE_REWARD,
                     lead_id=lead.lead_id, customer_id=lead.customer_id, sale_ids=qualifying)


def is_guaranteed_sale(*, entered_by: str | None, authorized_dealer: str | None, sale: SaleState) -> bool:
    """The entrant sold itself, with the vehicle supplied by the dealer authorized for the customer's region."""
    if entered_by is None or sale.seller != entered_by:
        return False
    if sale.supplied_by is None or sale.supplied_by == sale.seller:
        return False  # sold from its own stock: a cross-region sale, not a coordinated one
    return authorized_dealer is None or sale.supplied_by == authorized_dealer


def guarantee_default_fen(product_line: str | None, *, policy: Mapping[str, Any]) -> int:
    """The default guarantee of a vehicle: by product line, else the table's default."""
    table = policy["profit_guarantee"]
    return int(table.get("by_product_line", {}).get(product_line or "", table["default_fen"]))


def guarantee_amount_problems(amount_fen: int, *, policy: Mapping[str, Any]) -> list[FieldProblem]:
    """HQ may set a guarantee anywhere in the policy's range (1000-3000 CNY), nowhere else."""
    table = policy["profit_guarantee"]
    low, high = int(table["min_fen"]), int(table["max_fen"])
    if not low <= amount_fen <= high:
        return [FieldProblem("/amount_fen", "out_of_range",
                             f"A profit guarantee is between {low} and {high} fen per vehicle.")]
    return []


def profit_guarantees_due(lead: LeadState, sales: Sequence[SaleState], *, set_by_hq: Mapping[tuple[str, str], int],
                          policy: Mapping[str, Any]) -> list[DueReward]:
    """Profit guarantee: per vehicle the entrant sold with the authorized dealer's supply (instead of 10000 fen)."""
    if not earns_cross_region_rewards(lead) or lead.entered_by is None:
        return []
    due = []
    for sale in _live(sales):
        if not is_guaranteed_sale(entered_by=lead.entered_by, authorized_dealer=lead.authorized_dealer, sale=sale):
            continue
        for vin, product_line in sale.vehicles:
            hq_amount = set_by_hq.get((sale.sale_id, vin))
            amount = hq_amount if hq_amount is not None else guarantee_default_fen(product_line, policy=policy)
            due.append(DueReward(
                fact_key=f"{PROFIT_GUARANTEE}:{sale.sale_id}:{vin}", kind=PROFIT_GUARANTEE, dealer=lead.entered_by,
                amount_fen=amount, rule=RULE_PROFIT_GUARANTEE_SET if hq_amount is not None else RULE_PROFIT_GUARANTEE,
                lead_id=lead.lead_id, customer_id=lead.customer_id, sale_ids=(sale.sale_id,), vin=vin,
                amount_set_by_hq=hq_amount is not None,
            ))
    return due


def rewards_due(lead: LeadState | None, sales: Sequence[SaleState], *,
                set_by_hq: Mapping[tuple[str, str], int] | None = None,
                policy: Mapping[str, Any] | None = None) -> list[DueReward]:
    """Everything one record should have paid, given what is known now."""
    if lead is None:
        return []  # a sale whose record the ledger has not seen yet is held until it is
    policy = policy or rewards_policy()
    due: list[DueReward] = []
    for one in (info_fee_due(lead, policy=policy), purchase_reward_due(lead, sales, policy=policy)):
        if one is not None:
            due.append(one)
    due.extend(profit_guarantees_due(lead, sales, set_by_hq=set_by_hq or {}, policy=policy))
    return due
