"""The reward rules of domain.md §3, as data-driven decisions: which business fact pays whom how much."""

from __future__ import annotations

from typing import Any

from leadnet_shared.events import LeadVerified
from leadnet_shared.policy import cached_policy
from rewards_ledger.postings import PostingRequest


def rewards_policy() -> dict[str, Any]:
    return cached_policy("leadnet_shared", "rewards")


def info_fee_for_verified_lead(event: LeadVerified, *, policy: dict[str, Any] | None = None) -> PostingRequest | None:
    """Info fee: 200 fen to the entering dealer of a cross-region retail record, once, when it is verified."""
    policy = policy or rewards_policy()
    eligible = event.cross_region and event.tier == "retail" and event.entered_by is not None
    if not (eligible and event.reward_eligible) or event.entered_by is None:
        return None  # in-region, big-customer, HQ-collected: nothing is paid
    return PostingRequest(
        idempotency_key=f"info_fee:{event.lead_id}", kind="info_fee", dealer=event.entered_by,
        amount_fen=int(policy["info_fee_fen"]), rule="info_fee.cross_region_retail_verified",
        policy_version=str(policy["version"]), lead_id=event.lead_id, customer_id=event.customer_id,
    )
