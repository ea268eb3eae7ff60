"""Customer tiers and nature follow the newest information (contract.md "Lead life cycle across the services").

The router sees every record of a customer, so it alone decides: a later record that raises the tier (policy
`customer_tiers.toml`: the tier order) or states a nature updates the registry and publishes
`leadnet.customer.tier_changed` with old and new values and the reason. A correction goes through the same
function (`change_customer_tier`, reason `correction`), which may also lower the tier. Other services read the
decision (the scheduler times its tasks by it), they never recompute it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.models import Customer
from dedup_router.repository.customers import customer_by_id
from dedup_router.repository.leads import customer_of_lead
from leadnet_shared.events import CustomerTierChanged, LeadCorrected
from leadnet_shared.policy import PolicyError, cached_policy

PACKAGE = "dedup_router"
Reason = Literal["later_record", "correction"]


@dataclass(frozen=True)
class CustomerTierPolicy:
    version: str
    tier_order: tuple[str, ...]  # most important first
    record_sets_nature: frozenset[str]

    def rank(self, tier: str) -> int:
        """0 for the most important tier; an unknown tier ranks below every known one."""
        return self.tier_order.index(tier) if tier in self.tier_order else len(self.tier_order)


def parse_customer_tier_policy(data: Mapping[str, Any]) -> CustomerTierPolicy:
    order = data.get("tier_order")
    if not isinstance(order, list) or not order or len(set(order)) != len(order):
        raise PolicyError("customer_tiers policy tier_order must list each tier once")
    natures = data.get("record_sets_nature", [])
    if not isinstance(natures, list):
        raise PolicyError("customer_tiers policy record_sets_nature must be a list")
    return CustomerTierPolicy(
        version=str(data["version"]),
        tier_order=tuple(str(t) for t in order),
        record_sets_nature=frozenset(str(n) for n in natures),
    )


def customer_tier_policy() -> CustomerTierPolicy:
    return parse_customer_tier_policy(cached_policy(PACKAGE, "customer_tiers"))


def tier_after_record(*, current: str, said: str, policy: CustomerTierPolicy | None = None) -> str:
    """The customer's tier once a later record says `said`: raised, never lowered."""
    rules = policy or customer_tier_policy()
    return said if rules.rank(said) < rules.rank(current) else current


def nature_after_record(*, current: str, said: str, policy: CustomerTierPolicy | None = None) -> str:
    """The customer's nature once a later record says `said`: only a stated nature replaces what is known."""
    rules = policy or customer_tier_policy()
    return said if said in rules.record_sets_nature else current


def change_customer_tier(
    customer: Customer,
    *,
    tier: str,
    nature: str | None,
    reason: Reason,
    now: datetime,
    lead_id: str | None = None,
    changed_by: str | None = None,
) -> CustomerTierChanged | None:
    """Apply a new tier (and nature) to the registry row; the event to publish when anything changed, else None."""
    new_nature = nature or customer.nature
    if tier == customer.tier and new_nature == customer.nature:
        return None
    event = CustomerTierChanged(
        customer_id=customer.customer_id,
        old_tier=customer.tier,
        new_tier=tier,
        old_nature=customer.nature,
        new_nature=new_nature,
        reason=reason,
        lead_id=lead_id,
        changed_by=changed_by,
        changed_at=now,
    )
    customer.tier, customer.nature, customer.updated_at = tier, new_nature, now
    return event


def apply_later_record(
    customer: Customer,
    *,
    said_tier: str,
    said_nature: str,
    lead_id: str,
    entered_by: str | None,
    now: datetime,
    policy: CustomerTierPolicy | None = None,
) -> CustomerTierChanged | None:
    """What a later record of a known customer changes of its tier and nature (see the module docstring)."""
    rules = policy or customer_tier_policy()
    return change_customer_tier(
        customer,
        tier=tier_after_record(current=customer.tier, said=said_tier, policy=rules),
        nature=nature_after_record(current=customer.nature, said=said_nature, policy=rules),
        reason="later_record",
        now=now,
        lead_id=lead_id,
        changed_by=entered_by,
    )


async def apply_recheck_corrections(
    session: AsyncSession, corrections: list[LeadCorrected], *, now: datetime
) -> list[CustomerTierChanged]:
    """A dealer's re-check corrected a returned record's tier or nature (`leadnet.lead.corrected`): the customer's
    class changes through `change_customer_tier` like any correction; the events to publish."""
    changed: list[CustomerTierChanged] = []
    for corrected in corrections:
        said = corrected.corrections.get("customer") or {}
        if not (said.get("tier") or said.get("nature")):
            continue
        customer_id = corrected.customer_id or await customer_of_lead(session, corrected.lead_id)
        customer = await customer_by_id(session, customer_id, for_update=True) if customer_id else None
        if customer is None:
            continue  # erased, or a lead this router never routed
        event = change_customer_tier(
            customer,
            tier=said.get("tier") or customer.tier,
            nature=said.get("nature"),
            reason="correction",
            now=now,
            lead_id=corrected.lead_id,
            changed_by=corrected.corrected_by,
        )
        if event is not None:
            changed.append(event)
    return changed
