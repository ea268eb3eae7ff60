"""Sharing leads by marketing capability (domain.md §3, 行銷作業能力) among dealers of one territory.

The rule is a divisor method: the candidate with the lowest next load `(assigned + offset) / capability` wins,
ties to the lower assigned count, then to the dealer code. It needs only the pool's current counts (no hidden
round-robin state), never draws a random number, and its explanation lists every number compared, so HQ can
re-check any single assignment from the record alone.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from dedup_router.territories import DealerProfile, TerritoryIndex, TerritoryMatch
from leadnet_shared.policy import cached_policy

POLICY = "fairness"

PoolKey = tuple[str, str]
"""(territory prefix, product line): the set of dealers that share leads, and whose counts are compared."""

PoolCounts = Mapping[PoolKey, Mapping[str, int]]
"""Leads already assigned per pool and dealer code; a missing entry counts as zero."""


def fairness_policy() -> dict[str, Any]:
    """The fairness rule in force."""
    return cached_policy("dedup_router", POLICY)


@dataclass(frozen=True, slots=True)
class FairChoice:
    """The chosen dealer and why, as stored beside the assignment for audit."""

    dealer: str
    explanation: dict[str, Any]


@functools.lru_cache(maxsize=16_384)  # a pool's counts move by one per decision: each figure is reused many times
def _scored(
    code: str, capability: int, assigned: int, offset_text: str
) -> tuple[tuple[int, Fraction, int, str], tuple[tuple[str, Any], ...]]:
    """A dealer's sort key and its line of the explanation (Fraction arithmetic is the costly part)."""
    offset = _offset(offset_text)  # the cache is keyed by the offset's text: hashing a Fraction is slow
    if capability <= 0:
        load = None
        key = (1, Fraction(0), assigned, code)
    else:  # (assigned + p/q) / capability from integers: one normalization instead of Fraction arithmetic
        load = Fraction(assigned * offset.denominator + offset.numerator, capability * offset.denominator)
        key = (0, load, assigned, code)
    entry = (
        ("dealer", code),
        ("capability", capability),
        ("assigned", assigned),
        ("next_load", None if load is None else f"{load.numerator}/{load.denominator}"),
        ("next_load_value", None if load is None else round(float(load), 6)),
    )
    return key, entry


@functools.lru_cache(maxsize=64)
def _offset(text: str) -> Fraction:
    return Fraction(text)


def choose_dealer(
    *,
    candidates: Iterable[DealerProfile],
    assigned_counts: Mapping[str, int],
    policy: Mapping[str, Any] | None = None,
) -> FairChoice:
    """Pick the candidate furthest below its capability share; same input, same dealer, whatever the order."""
    policy = policy or fairness_policy()
    if policy.get("rule") != "lowest_next_load":
        raise ValueError(f"unknown fairness rule {policy.get('rule')!r}")
    offset_text = str(policy.get("offset", 1))
    offset = _offset(offset_text)
    pool = sorted({d.code: d for d in candidates}.values(), key=lambda d: d.code)
    if not pool:
        raise ValueError("no candidates to choose from")
    scored = [(_scored(d.code, d.capability, assigned_counts.get(d.code, 0), offset_text), d) for d in pool]
    keyed = sorted(((key, d) for (key, _), d in scored), key=lambda kd: kd[0])
    best_key, best = keyed[0]
    ties = [d.code for k, d in keyed if k[:2] == best_key[:2]]
    if len(ties) == 1:
        tie_break = None
    elif len({assigned_counts.get(code, 0) for code in ties}) > 1:
        tie_break = "lower_assigned_count"
    else:
        tie_break = "dealer_code"
    compared = [dict(entry) for (_, entry), _ in scored]
    explanation: dict[str, Any] = {
        "rule": policy["rule"],
        "policy_version": policy["version"],
        "formula": f"(assigned + {offset}) / capability, lowest wins",
        "compared": compared,
        "chosen": best.code,
        "tie_break": tie_break,
    }
    return FairChoice(dealer=best.code, explanation=explanation)


@dataclass(frozen=True, slots=True)
class RoutedDealer:
    """The authorized dealer for a region and product line, or None for the HQ queue."""

    dealer: DealerProfile | None
    match: TerritoryMatch
    explanation: dict[str, Any]

    @property
    def pool(self) -> PoolKey | None:
        return self.match.pool


def route_to_authorized_dealer(
    *,
    index: TerritoryIndex,
    region_code: str,
    product_line: str,
    pool_counts: PoolCounts,
    policy: Mapping[str, Any] | None = None,
) -> RoutedDealer:
    """Region first (longest prefix), then product line, then capability: the authorized dealer for a lead."""
    match = index.candidates(region_code=region_code, product_line=product_line)
    if match.pool is None:
        return RoutedDealer(
            dealer=None,
            match=match,
            explanation={
                "rule": "no_authorized_dealer",
                "region_code": region_code,
                "product_line": product_line,
            },
        )
    if len(match.dealers) == 1:
        only = match.dealers[0]
        return RoutedDealer(
            dealer=only,
            match=match,
            explanation={"rule": "single_candidate", "prefix": match.prefix, "chosen": only.code},
        )
    choice = choose_dealer(candidates=match.dealers, assigned_counts=pool_counts.get(match.pool, {}), policy=policy)
    chosen = next(d for d in match.dealers if d.code == choice.dealer)
    return RoutedDealer(dealer=chosen, match=match, explanation={**choice.explanation, "prefix": match.prefix})
