"""Sales attribution (domain.md §3 跨區域, contract.md POST /v1/sales): which lead a sale belongs to, whose volume
it is, whether it breaks the cross-region rule, and which rewards it makes due.

- **Which lead.** Of the customer's open leads: (1) the seller's own protected big-customer lead when the sale
  falls inside its protection period; else (2) the earliest cross-region lead entered by a dealer (first to report
  benefits: the lead the rewards hinge on); else (3) the earliest lead assigned to the seller; else (4) the
  customer's earliest lead; none → no attributed lead.
- **Exempt.** A protected big customer sold by its first entrant inside [entered_at, protection_until) is
  `cross_region_exempt`, the volume credited to the authorized dealer.
- **Violation.** A seller not authorized for the customer's region and the vehicle's product line sells
  cross-region; unless exempt, that is `cross_region_sale` when the vehicle was not supplied by a dealer authorized
  there (domain: "take the vehicle from the local authorized dealer").
- **Credited dealer.** Exempt → the authorized dealer; otherwise the supplier (the seller when it supplied itself).
- **Rewards** (cross-region retail lead entered by a dealer, sold at or after entry): a seller other than the
  entrant → `purchase_reward` to the entrant, once per lead whatever the number of vehicles or sales (100 CNY "per
  record"); the entrant selling itself with a vehicle supplied by an authorized dealer → `profit_guarantee` per
  vehicle (default amount by product line) instead of the purchase reward. The ledger pays them only for verified
  leads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dedup_router.territories import DealerProfile, is_authorized
from leadnet_shared.policy import PROFIT_GUARANTEE, PURCHASE_REWARD, rewards_policy

CROSS_REGION_SALE = "cross_region_sale"


@dataclass(frozen=True, slots=True)
class LeadView:
    """What attribution needs of a lead."""

    lead_id: str
    entered_by: str | None
    assigned_dealer: str | None
    authorized_dealer: str | None
    cross_region: bool
    reward_eligible: bool
    protection_until: datetime | None
    entered_at: datetime
    product_line: str | None


@dataclass(frozen=True, slots=True)
class VehicleView:
    vin: str
    product_line: str | None


@dataclass(frozen=True, slots=True)
class Attribution:
    attributed_lead_id: str | None
    credited_dealer: str | None
    cross_region_exempt: bool
    violation: str | None
    rewards: list[dict[str, Any]] = field(default_factory=list)
    explanation: dict[str, Any] = field(default_factory=dict)


def _order(lead: LeadView) -> tuple[datetime, str]:
    return (lead.entered_at, lead.lead_id)


def choose_lead(leads: Sequence[LeadView], *, seller: str, sold_at: datetime) -> tuple[LeadView | None, str]:
    """The lead a sale is attributed to, and the step of the documented order that chose it."""
    ordered = sorted(leads, key=_order)
    for lead in ordered:
        if (
            lead.entered_by == seller
            and lead.protection_until is not None
            and lead.entered_at <= sold_at < lead.protection_until
        ):
            return lead, "sellers_protected_lead"
    for lead in ordered:
        if lead.cross_region and lead.entered_by is not None:
            return lead, "earliest_cross_region_entry"
    for lead in ordered:
        if lead.assigned_dealer == seller:
            return lead, "earliest_assigned_to_seller"
    if ordered:
        return ordered[0], "earliest_lead"
    return None, "no_lead"


def profit_guarantee_fen(product_line: str | None, *, policy: Mapping[str, Any] | None = None) -> int:
    """The default guarantee per vehicle for its product line (HQ may set another amount in range at the ledger)."""
    guarantee = (policy or rewards_policy())["profit_guarantee"]
    by_line: Mapping[str, Any] = guarantee.get("by_product_line", {})
    return int(by_line.get(product_line or "", guarantee["default_fen"]))


def attribute_sale(
    *,
    seller: str,
    supplied_by: str,
    sold_at: datetime,
    region_code: str,
    vehicles: Sequence[VehicleView],
    leads: Sequence[LeadView],
    dealers: Mapping[str, DealerProfile],
    customer_authorized_dealer: str | None,
    purchase_rewards_claimed: frozenset[str],
    policy: Mapping[str, Any] | None = None,
) -> Attribution:
    """Apply the rules in the module docstring; pure, so every verdict can be recomputed from its inputs."""
    policy = policy or rewards_policy()
    lead, why = choose_lead(leads, seller=seller, sold_at=sold_at)
    seller_profile, supplier_profile = dealers.get(seller), dealers.get(supplied_by)

    def line_of(v: VehicleView) -> str:
        return v.product_line or (lead.product_line if lead and lead.product_line else "unknown")

    def authorized(profile: DealerProfile | None, v: VehicleView) -> bool:
        return profile is not None and is_authorized(profile, region_code, line_of(v))

    cross_region = any(not authorized(seller_profile, v) for v in vehicles)
    supplied_locally = supplied_by != seller and all(authorized(supplier_profile, v) for v in vehicles)
    exempt = why == "sellers_protected_lead"
    authorized_dealer = lead.authorized_dealer if lead and lead.authorized_dealer else customer_authorized_dealer
    violation = CROSS_REGION_SALE if cross_region and not exempt and not supplied_locally else None
    credited = authorized_dealer if exempt else supplied_by

    rewards: list[dict[str, Any]] = []
    reward_lead = lead if lead is not None and lead.reward_eligible and lead.entered_by is not None else None
    if reward_lead is not None and sold_at >= reward_lead.entered_at:
        entrant = reward_lead.entered_by
        assert entrant is not None
        if seller != entrant:
            if reward_lead.lead_id not in purchase_rewards_claimed:
                rewards.append(
                    {
                        "kind": PURCHASE_REWARD,
                        "dealer": entrant,
                        "lead_id": reward_lead.lead_id,
                        "amount_fen": int(policy["purchase_reward_fen"]),
                    }
                )
        elif supplied_locally:
            for v in vehicles:
                rewards.append(
                    {
                        "kind": PROFIT_GUARANTEE,
                        "dealer": entrant,
                        "lead_id": reward_lead.lead_id,
                        "vin": v.vin,
                        "product_line": line_of(v),
                        "amount_fen": profit_guarantee_fen(line_of(v), policy=policy),
                    }
                )
    explanation = {
        "lead_choice": why,
        "seller_cross_region": cross_region,
        "supplied_by_authorized_dealer": supplied_locally,
        "authorized_dealer": authorized_dealer,
        "reward_policy_version": policy.get("version"),
        "purchase_reward_already_claimed": lead is not None and lead.lead_id in purchase_rewards_claimed,
    }
    return Attribution(
        attributed_lead_id=lead.lead_id if lead else None,
        credited_dealer=credited,
        cross_region_exempt=exempt,
        violation=violation,
        rewards=rewards,
        explanation=explanation,
    )
