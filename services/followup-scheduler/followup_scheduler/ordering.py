"""Order of a dealer's open tasks (domain.md §4): earliest due, then demand, reachability, customer tier.

`task_priority_key` sorts in Python; `task_priority_rank` is the same order as one integer, for a
database column (`ORDER BY priority_rank`), and `tie_break_rank` is the part after the due time
(`ORDER BY due_at, tie_break`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from leadnet_shared.policy import PolicyError, cached_policy

from .vocabulary import HORIZONS, PACKAGE, TIERS, Horizon, Tier

# Room for the tie-break in the integer rank: 2 (demand) x 2 (reachable) x tiers must stay below it, so HQ
# can add up to four tiers without changing what stored ranks mean.
TIE_BREAK_SLOTS: Final = 16
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class OrderingPolicy:
    """Tier precedence and which horizons count as demand."""

    version: str
    tier_rank: Mapping[str, int]
    demand_horizons: frozenset[str]


def parse_ordering_policy(data: Mapping[str, Any]) -> OrderingPolicy:
    """Check and type an ordering policy document."""
    tiers = data.get("tier_order")
    if not isinstance(tiers, list) or len(set(tiers)) != len(tiers) or not set(TIERS) <= set(tiers):
        raise PolicyError(f"ordering policy tier_order must list each of {list(TIERS)} once")
    if 4 * len(tiers) > TIE_BREAK_SLOTS:
        raise PolicyError(f"ordering policy has too many tiers for the integer rank ({len(tiers)})")
    horizons = data.get("demand_horizons")
    if not isinstance(horizons, list) or not set(horizons) <= set(HORIZONS):
        raise PolicyError("ordering policy demand_horizons must be purchase horizons")
    return OrderingPolicy(
        version=str(data["version"]),
        tier_rank={str(tier): index for index, tier in enumerate(tiers)},
        demand_horizons=frozenset(str(horizon) for horizon in horizons),
    )


def ordering_policy() -> OrderingPolicy:
    """The task order in force."""
    return parse_ordering_policy(cached_policy(PACKAGE, "ordering"))


def has_demand(*, horizon: Horizon | str | None, policy: OrderingPolicy | None = None) -> bool:
    """Whether a customer with this purchase horizon counts as "with demand" (`None`: no intent recorded)."""
    return horizon is not None and horizon in (policy or ordering_policy()).demand_horizons


def tie_break_rank(*, has_demand: bool, reachable: bool, tier: Tier, policy: OrderingPolicy | None = None) -> int:
    """Order among tasks due at the same instant, as a small integer (lower first)."""
    rules = policy or ordering_policy()
    if tier not in rules.tier_rank:
        raise ValueError(f"unknown tier {tier!r}")
    tiers = len(rules.tier_rank)
    return (0 if has_demand else 2 * tiers) + (0 if reachable else tiers) + rules.tier_rank[tier]


def task_priority_key(
    *, due_at: datetime, has_demand: bool, reachable: bool, tier: Tier, policy: OrderingPolicy | None = None
) -> tuple[datetime, int, int, int]:
    """Sort key for open tasks: earliest due, then with demand, then reachable, then the bigger customer."""
    if due_at.tzinfo is None:
        raise ValueError("due_at must be an aware datetime")
    rules = policy or ordering_policy()
    if tier not in rules.tier_rank:
        raise ValueError(f"unknown tier {tier!r}")
    return (due_at.astimezone(UTC), 0 if has_demand else 1, 0 if reachable else 1, rules.tier_rank[tier])


def task_priority_rank(
    *, due_at: datetime, has_demand: bool, reachable: bool, tier: Tier, policy: OrderingPolicy | None = None
) -> int:
    """The order of `task_priority_key` as one integer (a BIGINT): due microseconds, then tie-break."""
    if due_at.tzinfo is None:
        raise ValueError("due_at must be an aware datetime")
    delta = due_at.astimezone(UTC) - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    tie = tie_break_rank(has_demand=has_demand, reachable=reachable, tier=tier, policy=policy)
    return micros * TIE_BREAK_SLOTS + tie
