"""The cross-region rewards of domain.md §3 as pure decisions: which business facts are due to whom, how much.

Given everything the ledger knows about one record (its lead facts, whether and when it was verified, the sales
attributed to it, their cancellations and the guarantee amounts HQ set), `rewards_due` says what should be paid.

One rule, one place (issue 16 §1b): what a *sale* earns (a purchase reward or a guarantee per vehicle, to whom, how
much) is decided once, by the router's attribution, and travels as the `rewards` claims of `leadnet.sale.attributed`
(published only for a sale its supplier or HQ confirmed); the router's answer to the seller lists the same claims.
The ledger does not decide them again: it pays a standing sale's claims when the record earns cross-region rewards
(verified, eligible, retail, a new customer) - the facts it alone learns - once per record for the purchase reward,
once per vehicle for a guarantee, at the amount HQ set if it set one.
Settlement (`settlement.py`) compares that with what was posted and posts the difference, so the outcome does not
depend on the order in which the facts arrived. Amounts are policy data (`leadnet_shared/policy/rewards.toml`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadnet_shared.policy import PROFIT_GUARANTEE, PURCHASE_REWARD, rewards_policy
from leadnet_shared.problems import FieldProblem

# The kinds of posting: the two sale rewards come from the kit (the router claims them), these are the ledger's own.
INFO_FEE = "info_fee"
REVERSAL = "reversal"

# Rule names stored with every posting, so a statement line says which rule paid it.
RULE_INFO_FEE = "info_fee.cross_region_retail_verified"
RULE_PURCHASE_REWARD = "purchase_reward.customer_bought_from_another_dealer"
RULE_PROFIT_GUARANTEE = "profit_guarantee.entrant_sold_with_authorized_supply"
RULE_PROFIT_GUARANTEE_SET = "profit_guarantee.amount_set_by_hq"


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
class Claim:
    """A reward the router's attribution says a sale earns (a guarantee names its vehicle)."""

    kind: str
    dealer: str
    vin: str | None = None
    product_line: str | None = None
    amount_fen: int | None = None  # None (older events): the policy's amount

    @classmethod
    def of(cls, claim: Mapping[str, Any]) -> Claim:
        amount = claim.get("amount_fen")
        return cls(
            kind=str(claim["kind"]),
            dealer=str(claim["dealer"]),
            vin=claim.get("vin"),
            product_line=claim.get("product_line"),
            amount_fen=None if amount is None else int(amount),
        )


@dataclass(frozen=True, slots=True)
class SaleState:
    """A sale attributed to a record, as the router published it, and whether it was cancelled since."""

    sale_id: str
    seller: str
    supplied_by: str | None
    sold_at: datetime
    vehicles: tuple[tuple[str, str | None], ...]  # (vin, product line)
    cancelled: bool = False
    claims: tuple[Claim, ...] = ()


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
    return (
        lead.verified
        and lead.reward_eligible
        and lead.cross_region
        and lead.tier == "retail"
        and lead.entered_by is not None
        and lead.customer_existed is not True
    )


def info_fee_due(lead: LeadState, *, policy: Mapping[str, Any]) -> DueReward | None:
    """Info fee: 200 fen to the entrant, once per record, when it is verified true and valid."""
    if not earns_cross_region_rewards(lead) or lead.entered_by is None:
        return None
    return DueReward(
        fact_key=f"{INFO_FEE}:{lead.lead_id}",
        kind=INFO_FEE,
        dealer=lead.entered_by,
        amount_fen=int(policy["info_fee_fen"]),
        rule=RULE_INFO_FEE,
        lead_id=lead.lead_id,
        customer_id=lead.customer_id,
    )


def _live(sales: Sequence[SaleState]) -> list[SaleState]:
    return sorted((s for s in sales if not s.cancelled), key=lambda s: (s.sold_at, s.sale_id))


def purchase_reward_due(lead: LeadState, sales: Sequence[SaleState], *, policy: Mapping[str, Any]) -> DueReward | None:
    """Purchase reward: 10000 fen to the entrant, once per record, resting on any standing sale that claims it."""
    if not earns_cross_region_rewards(lead):
        return None
    qualifying = [(s, c) for s in _live(sales) for c in s.claims if c.kind == PURCHASE_REWARD]
    if not qualifying:
        return None
    claim = qualifying[0][1]
    amount = claim.amount_fen if claim.amount_fen is not None else int(policy["purchase_reward_fen"])
    return DueReward(
        fact_key=f"{PURCHASE_REWARD}:{lead.lead_id}",
        kind=PURCHASE_REWARD,
        dealer=claim.dealer,
        amount_fen=amount,
        rule=RULE_PURCHASE_REWARD,
        lead_id=lead.lead_id,
        customer_id=lead.customer_id,
        sale_ids=tuple(dict.fromkeys(s.sale_id for s, _ in qualifying)),
    )


def claims_guarantee(sale: SaleState, vin: str) -> bool:
    """Whether the router's attribution gave this vehicle of the sale a profit guarantee."""
    return any(c.kind == PROFIT_GUARANTEE and c.vin == vin for c in sale.claims)


def guarantee_default_fen(product_line: str | None, *, policy: Mapping[str, Any]) -> int:
    """The default guarantee of a vehicle: by product line, else the table's default."""
    table = policy["profit_guarantee"]
    return int(table.get("by_product_line", {}).get(product_line or "", table["default_fen"]))


def guarantee_amount_problems(amount_fen: int, *, policy: Mapping[str, Any]) -> list[FieldProblem]:
    """HQ may set a guarantee anywhere in the policy's range (1000-3000 CNY), nowhere else."""
    table = policy["profit_guarantee"]
    low, high = int(table["min_fen"]), int(table["max_fen"])
    if not low <= amount_fen <= high:
        return [
            FieldProblem(
                "/amount_fen", "out_of_range", f"A profit guarantee is between {low} and {high} fen per vehicle."
            )
        ]
    return []


def profit_guarantees_due(
    lead: LeadState, sales: Sequence[SaleState], *, set_by_hq: Mapping[tuple[str, str], int], policy: Mapping[str, Any]
) -> list[DueReward]:
    """Profit guarantee: per vehicle a standing sale claims it for (the entrant sold with the authorized supply)."""
    if not earns_cross_region_rewards(lead):
        return []
    due = []
    for sale in _live(sales):
        for claim in sale.claims:
            if claim.kind != PROFIT_GUARANTEE or claim.vin is None:
                continue
            vin = claim.vin
            hq_amount = set_by_hq.get((sale.sale_id, vin))
            amount = (
                hq_amount
                if hq_amount is not None
                else (
                    claim.amount_fen
                    if claim.amount_fen is not None
                    else guarantee_default_fen(claim.product_line, policy=policy)
                )
            )
            due.append(
                DueReward(
                    fact_key=f"{PROFIT_GUARANTEE}:{sale.sale_id}:{vin}",
                    kind=PROFIT_GUARANTEE,
                    dealer=claim.dealer,
                    amount_fen=amount,
                    rule=RULE_PROFIT_GUARANTEE_SET if hq_amount is not None else RULE_PROFIT_GUARANTEE,
                    lead_id=lead.lead_id,
                    customer_id=lead.customer_id,
                    sale_ids=(sale.sale_id,),
                    vin=vin,
                    amount_set_by_hq=hq_amount is not None,
                )
            )
    return due


def rewards_due(
    lead: LeadState | None,
    sales: Sequence[SaleState],
    *,
    set_by_hq: Mapping[tuple[str, str], int] | None = None,
    policy: Mapping[str, Any] | None = None,
) -> list[DueReward]:
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
