"""Withdrawn dealer (domain.md §3, 撤點經銷商): the plan handing its customers and open leads on.

HQ takes back every record of the withdrawn dealer and redistributes it by (1) region (longest territory
prefix), (2) product line, (3) marketing capability (the fairness rule, counting the plan's own assignments).
Records nobody else is authorized for wait in the HQ queue. Items that share a customer id, region and product
line (a customer and its open leads) are placed together with one dealer. The plan is pure and deterministic:
items are placed in order of their id, so the same records and dealers always give the same plan, whatever
order they come in; a dry run and the real run therefore agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dedup_router.fairness import PoolCounts, PoolKey, RoutedDealer, route_to_authorized_dealer
from dedup_router.territories import DealerProfile, TerritoryIndex


@dataclass(frozen=True, slots=True)
class HeldItem:
    """A customer or open lead the withdrawn dealer holds: what routing needs, nothing personal."""

    item_id: str
    region_code: str
    product_line: str
    kind: str = "lead"
    customer_id: str | None = None


@dataclass(frozen=True, slots=True)
class PlannedMove:
    """Where one item goes; `new_dealer` None means the HQ queue."""

    item_id: str
    kind: str
    new_dealer: str | None
    pool: PoolKey | None
    explanation: dict[str, Any]


@dataclass(frozen=True, slots=True)
class WithdrawalPlan:
    """The whole plan, with the counts the withdraw endpoint reports."""

    withdrawn_dealer: str
    moves: tuple[PlannedMove, ...]
    per_dealer: dict[str, int]

    @property
    def reassigned(self) -> int:
        return sum(self.per_dealer.values())

    @property
    def unplaced(self) -> int:
        return sum(1 for m in self.moves if m.new_dealer is None)

    def summary(self) -> dict[str, Any]:
        """The dry-run body: counts only, no item ids or personal data."""
        return {
            "withdrawn_dealer": self.withdrawn_dealer,
            "reassigned": self.reassigned,
            "unplaced": self.unplaced,
            "per_dealer": dict(sorted(self.per_dealer.items())),
        }


def plan_withdrawal(
    *,
    withdrawn_dealer: str,
    dealers: Iterable[DealerProfile],
    items: Iterable[HeldItem],
    pool_counts: PoolCounts | None = None,
    territory_policy: Mapping[str, Any] | None = None,
    fairness_policy: Mapping[str, Any] | None = None,
) -> WithdrawalPlan:
    """Plan the redistribution of a withdrawn dealer's records; never places one with the withdrawn dealer."""
    index = TerritoryIndex.build(dealers, exclude=(withdrawn_dealer,), policy=territory_policy)
    moves, per_dealer = place_items(
        index=index,
        items=items,
        pool_counts={
            pool: {code: n for code, n in by_dealer.items() if code != withdrawn_dealer}
            for pool, by_dealer in (pool_counts or {}).items()
        },
        fairness_policy=fairness_policy,
    )
    return WithdrawalPlan(withdrawn_dealer=withdrawn_dealer, moves=moves, per_dealer=per_dealer)


def plan_queued(
    *,
    dealers: Iterable[DealerProfile],
    items: Iterable[HeldItem],
    pool_counts: PoolCounts | None = None,
    territory_policy: Mapping[str, Any] | None = None,
    fairness_policy: Mapping[str, Any] | None = None,
) -> tuple[PlannedMove, ...]:
    """Place customers and leads waiting in the HQ queue with the dealers now authorized for them (by the same
    rule as a withdrawal: region, product line, capability); those nobody is authorized for stay queued."""
    index = TerritoryIndex.build(dealers, policy=territory_policy)
    moves, _ = place_items(
        index=index,
        items=items,
        pool_counts={pool: dict(by_dealer) for pool, by_dealer in (pool_counts or {}).items()},
        fairness_policy=fairness_policy,
    )
    return moves


def place_items(
    *,
    index: TerritoryIndex,
    items: Iterable[HeldItem],
    pool_counts: dict[PoolKey, dict[str, int]],
    fairness_policy: Mapping[str, Any] | None = None,
) -> tuple[tuple[PlannedMove, ...], dict[str, int]]:
    """Each item routed by `route_to_authorized_dealer` in id order, counting the placements as it goes; a
    customer and its open leads on one product line stay together with one dealer. Returns the moves and the
    count per dealer."""
    counts = pool_counts
    ordered = sorted(items, key=lambda i: (i.item_id, i.kind))
    seen: set[tuple[str, str]] = set()
    moves: list[PlannedMove] = []
    per_dealer: dict[str, int] = {}
    # A customer and its open leads on one product line stay together with one dealer.
    placed_groups: dict[tuple[str, str, str], RoutedDealer] = {}
    for item in ordered:
        if (item.item_id, item.kind) in seen:
            raise ValueError(f"{item.kind} {item.item_id!r} listed twice")
        seen.add((item.item_id, item.kind))
        group = None if item.customer_id is None else (item.customer_id, item.region_code, item.product_line)
        routed = placed_groups.get(group) if group is not None else None
        decided = routed is None
        if routed is None:
            routed = route_to_authorized_dealer(
                index=index,
                region_code=item.region_code,
                product_line=item.product_line,
                pool_counts=counts,
                policy=fairness_policy,
            )
            if group is not None:
                placed_groups[group] = routed
        new_dealer = None if routed.dealer is None else routed.dealer.code
        if new_dealer is not None and routed.pool is not None:
            # The fairness input counts a group once, when its dealer is chosen: counting each of its items as it
            # comes (a customer and its leads sit apart in id order) made the split depend on the ids' order.
            if decided:
                pool = counts.setdefault(routed.pool, {})
                pool[new_dealer] = pool.get(new_dealer, 0) + 1
            per_dealer[new_dealer] = per_dealer.get(new_dealer, 0) + 1
        moves.append(
            PlannedMove(
                item_id=item.item_id,
                kind=item.kind,
                new_dealer=new_dealer,
                pool=routed.pool,
                explanation=routed.explanation,
            )
        )
    return tuple(moves), dict(sorted(per_dealer.items()))
