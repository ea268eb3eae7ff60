"""Cross-region records (domain.md §3, 跨區域): who gets a record entered outside the entrant's territory.

A record is cross-region when the entering dealer is not authorized for the customer's region or for its
product line. A retail record goes at once to the authorized dealer (the entrant may earn the info fee).
A big customer stays with the first entrant for a protection period of one calendar month
(誰第一時間提報誰受益), then moves to the authorized dealer. A record entered by HQ has no entrant territory:
it is routed by the same rules, is never cross-region and never earns a cross-region reward.

The HQ queue is `assigned_dealer = None` (JSON null) with rule `hq_queue`: a code like "HQ" could collide with
a real dealer code and would look like a dealer that tasks and rewards can be sent to.
"""

from __future__ import annotations

import calendar
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dedup_router.territories import DealerProfile, is_authorized
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.policy import cached_policy

POLICY = "cross_region"

# Rule names, stored with every assignment so a verdict can be explained later.
IN_REGION = "in_region"
CROSS_REGION_RETAIL = "cross_region_retail_to_authorized"
CROSS_REGION_BIG_PROTECTED = "cross_region_big_customer_protected"
HQ_ENTRY = "hq_entry_routed"
HQ_QUEUE = "hq_queue"


def cross_region_policy() -> dict[str, Any]:
    """The cross-region table in force (big tiers, protection months)."""
    return cached_policy("dedup_router", POLICY)


def is_big_customer(tier: str, *, policy: Mapping[str, Any] | None = None) -> bool:
    """Big customers (general_big, gold_silver) get first-entrant protection; retail ones do not."""
    policy = policy or cross_region_policy()
    return tier in set(policy["big_customer_tiers"])


def add_calendar_months(moment: datetime, months: int) -> datetime:
    """Same wall time `months` later, the day clamped to the month's last day (Jan 31 + 1 → Feb 28/29)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def protection_until(entered_at: datetime, *, policy: Mapping[str, Any] | None = None) -> datetime:
    """End of a big customer's protection: one calendar month of Shanghai wall time after entry."""
    if entered_at.tzinfo is None:
        raise ValueError("entered_at must be timezone-aware")
    policy = policy or cross_region_policy()
    # Asia/Shanghai has had no DST since 1991, so a wall time a month later always exists exactly once.
    local = entered_at.astimezone(SHANGHAI)
    return add_calendar_months(local, int(policy["protection_months"]))


def is_protected(*, protection_until: datetime | None, at: datetime) -> bool:
    """Inside the period [entry, until) the first entrant keeps the customer and sells without a penalty."""
    return protection_until is not None and at < protection_until


def is_cross_region(*, entering_dealer: DealerProfile | None, region_code: str, product_line: str) -> bool:
    """Outside the entrant's territory or product lines; HQ entries are never cross-region."""
    if entering_dealer is None:
        return False
    return not is_authorized(entering_dealer, region_code, product_line)


def needs_authorized_dealer(*, entering_dealer: DealerProfile | None, region_code: str, product_line: str) -> bool:
    """Whether the caller must route (and count) an authorized dealer: in-region entrants keep theirs."""
    return entering_dealer is None or not is_authorized(entering_dealer, region_code, product_line)


@dataclass(frozen=True, slots=True)
class Assignment:
    """The verdict for one record: who works it now, who is authorized for it, and under which rule."""

    assigned_dealer: str | None
    authorized_dealer: str | None
    cross_region: bool
    rule: str
    # Most verdicts carry neither: only a first cross-region big entrant is protected, only retail earns a reward.
    protection_until: datetime | None = None
    reward_eligible: bool = False

    @property
    def in_hq_queue(self) -> bool:
        return self.assigned_dealer is None

    def dealer_at(self, at: datetime) -> str | None:
        """Who should hold the customer at `at`: the protected entrant, then the authorized one."""
        if self.protection_until is None:
            return self.assigned_dealer
        if not is_protected(protection_until=self.protection_until, at=at):
            return self.authorized_dealer
        return self.assigned_dealer

    def as_dict(self) -> dict[str, Any]:
        return {
            "assigned_dealer": self.assigned_dealer,
            "authorized_dealer": self.authorized_dealer,
            "cross_region": self.cross_region,
            "protection_until": None if self.protection_until is None else self.protection_until.isoformat(),
            "rule": self.rule,
            "reward_eligible": self.reward_eligible,
        }


def decide_assignment(
    *,
    entering_dealer: DealerProfile | None,
    region_code: str,
    product_line: str,
    tier: str,
    entered_at: datetime,
    authorized_dealer: DealerProfile | None,
    policy: Mapping[str, Any] | None = None,
) -> Assignment:
    """Apply §3: an in-region entrant keeps its record; cross-region retail moves now, big ones later.

    `authorized_dealer` is the dealer routed by region, product line and capability (None = nobody is
    authorized); it is ignored when the entrant is itself authorized, so callers may skip routing then (see
    `needs_authorized_dealer`).
    """
    if entered_at.tzinfo is None:
        raise ValueError("entered_at must be timezone-aware")
    policy = policy or cross_region_policy()
    if authorized_dealer is not None and not is_authorized(authorized_dealer, region_code, product_line):
        raise ValueError(f"dealer {authorized_dealer.code!r} not authorized for {region_code}/{product_line}")
    authorized_code = None if authorized_dealer is None else authorized_dealer.code

    if entering_dealer is None or entering_dealer.withdrawn:
        # HQ (or a dealer already withdrawn, whose records HQ takes back) enters nothing for itself.
        return Assignment(
            assigned_dealer=authorized_code,
            authorized_dealer=authorized_code,
            cross_region=False,
            rule=HQ_ENTRY if authorized_code is not None else HQ_QUEUE,
        )
    if is_authorized(entering_dealer, region_code, product_line):
        # 誰收集誰負責: an authorized entrant keeps its record even where a narrower territory matches.
        return Assignment(
            assigned_dealer=entering_dealer.code,
            authorized_dealer=entering_dealer.code,
            cross_region=False,
            rule=IN_REGION,
        )
    if is_big_customer(tier, policy=policy):
        return Assignment(
            assigned_dealer=entering_dealer.code,
            authorized_dealer=authorized_code,
            cross_region=True,
            protection_until=protection_until(entered_at, policy=policy),
            rule=CROSS_REGION_BIG_PROTECTED,
        )
    return Assignment(
        assigned_dealer=authorized_code,
        authorized_dealer=authorized_code,
        cross_region=True,
        rule=CROSS_REGION_RETAIL if authorized_code is not None else HQ_QUEUE,
        reward_eligible=True,
    )


# A later entrant of a big customer someone reported first (誰第一時間提報誰受益: only the first benefits).
HELD_BY_FIRST_ENTRANT = "cross_region_big_customer_held_by_first_entrant"
NOT_FIRST_ENTRANT = "cross_region_big_customer_not_first_entrant"


def first_entrant_rule(
    assignment: Assignment,
    *,
    customer_is_new: bool,
    protected_by: str | None,
    protection_until: datetime | None,
    at: datetime,
) -> Assignment:
    """Protection belongs to the customer's first record only; later cross-region big records get none.

    While the first entrant's protection runs, a later cross-region record of the customer is worked by the
    protected entrant (the customer is with it for that month) and moves with it when the protection ends;
    otherwise it goes to the authorized dealer like a retail record, without a reward. A later record of a known
    customer, retail or big, earns no reward either.
    """
    if not customer_is_new and assignment.reward_eligible:
        # A record of a customer the system already knew brings no new information and earns no reward (domain.md
        # §3). Decided here, once: the sale's answer and the ledger both read this flag, so they cannot disagree.
        return dataclasses.replace(assignment, reward_eligible=False)
    if assignment.rule != CROSS_REGION_BIG_PROTECTED or customer_is_new:
        return assignment
    if protected_by is not None and is_protected(protection_until=protection_until, at=at):
        return Assignment(
            assigned_dealer=protected_by,
            authorized_dealer=assignment.authorized_dealer,
            cross_region=True,
            rule=HELD_BY_FIRST_ENTRANT,
        )
    return Assignment(
        assigned_dealer=assignment.authorized_dealer,
        authorized_dealer=assignment.authorized_dealer,
        cross_region=True,
        rule=NOT_FIRST_ENTRANT if assignment.authorized_dealer is not None else HQ_QUEUE,
    )
