"""Dealer territories (domain.md "Who is involved"): the dealers authorized for a region and product line.

A territory is an adcode prefix (province 2 digits, city 4, county 6). For a customer's 6-digit region code
the dealers authorized for the product line are found at the longest matching prefix: a county dealer beats a
city dealer, which beats a province dealer. Dealers that are withdrawn, or not authorized for the product
line, are left out before the longest prefix is chosen, so a lead falls back to the city or province dealer
when no county dealer sells that product line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leadnet_shared.policy import cached_policy
from leadnet_shared.problems import FieldProblem, json_pointer

POLICY = "territories"
_REGION_CODE = re.compile(r"^\d{6}$")
_DIGITS = re.compile(r"^\d+$")


def territory_policy() -> dict[str, Any]:
    """The territory table in force (prefix lengths, normalization)."""
    return cached_policy("dedup_router", POLICY)


def _prefix_lengths(policy: Mapping[str, Any]) -> tuple[int, ...]:
    return tuple(sorted((int(n) for n in policy["prefix_lengths"]), reverse=True))


def normalize_territory(territory: str, *, policy: Mapping[str, Any] | None = None) -> str:
    """Turn `"370700"` into `"3707"` so a city written as its full adcode still matches as a city prefix."""
    policy = policy or territory_policy()
    value = territory.strip()
    if policy.get("strip_zero_pairs", False) and len(value) == 6 and _DIGITS.match(value):
        while len(value) > 2 and value.endswith("00"):
            value = value[:-2]
    return value


def territory_problems(
    territories: Sequence[str], *, pointer: str = "/territories", policy: Mapping[str, Any] | None = None
) -> list[FieldProblem]:
    """Every bad territory at once, so HQ fixes a dealer profile in one round trip."""
    policy = policy or territory_policy()
    lengths = set(_prefix_lengths(policy))
    problems = []
    for i, territory in enumerate(territories):
        value = normalize_territory(territory, policy=policy)
        if not _DIGITS.match(value) or len(value) not in lengths:
            allowed = ", ".join(str(n) for n in sorted(lengths))
            problems.append(
                FieldProblem(
                    pointer + json_pointer(i),
                    "invalid_territory",
                    f"A territory is an adcode prefix of {allowed} digits.",
                )
            )
    return problems


def check_region_code(region_code: str) -> str:
    """Refuse anything but a 6-digit adcode: a shorter code would silently match the wrong prefixes."""
    if not _REGION_CODE.match(region_code):
        raise ValueError(f"region code must be 6 digits, got {region_code!r}")
    return region_code


@dataclass(frozen=True, slots=True)
class DealerProfile:
    """What routing needs to know about a dealer; territories are kept normalized."""

    code: str
    territories: frozenset[str]
    product_lines: frozenset[str]
    capability: int
    withdrawn: bool = False

    def __post_init__(self) -> None:
        # A territory of another length would match in is_authorized but never in the index: refuse it.
        lengths = set(_prefix_lengths(territory_policy()))
        bad = sorted(t for t in self.territories if not _DIGITS.match(t) or len(t) not in lengths)
        if bad:
            raise ValueError(f"dealer {self.code!r}: invalid territories {bad}")

    @classmethod
    def build(
        cls,
        *,
        code: str,
        territories: Iterable[str],
        product_lines: Iterable[str],
        capability: int,
        withdrawn: bool = False,
        policy: Mapping[str, Any] | None = None,
    ) -> DealerProfile:
        """Build a profile from raw values (as stored or as posted), normalizing territories."""
        policy = policy or territory_policy()
        return cls(
            code=code,
            territories=frozenset(normalize_territory(t, policy=policy) for t in territories),
            product_lines=frozenset(product_lines),
            capability=capability,
            withdrawn=withdrawn,
        )


def matching_territory(dealer: DealerProfile, region_code: str) -> str | None:
    """The dealer's longest territory that contains the region, or None."""
    best: str | None = None
    for territory in dealer.territories:
        if region_code.startswith(territory) and (best is None or len(territory) > len(best)):
            best = territory
    return best


def is_authorized(dealer: DealerProfile, region_code: str, product_line: str) -> bool:
    """A dealer may work a customer when active, selling the line, in a territory."""
    check_region_code(region_code)
    return (
        not dealer.withdrawn
        and product_line in dealer.product_lines
        and matching_territory(dealer, region_code) is not None
    )


@dataclass(frozen=True, slots=True)
class TerritoryMatch:
    """The authorized candidates for one region and product line, and the (prefix, product line) pool."""

    region_code: str
    product_line: str
    prefix: str | None
    dealers: tuple[DealerProfile, ...] = ()

    @property
    def pool(self) -> tuple[str, str] | None:
        """The (prefix, product line) pool whose assignment counts the fairness rule compares."""
        return None if self.prefix is None else (self.prefix, self.product_line)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(d.code for d in self.dealers)


@dataclass(slots=True)
class TerritoryIndex:
    """Dealers keyed by (territory prefix, product line): a lookup is at most three dict hits."""

    prefix_lengths: tuple[int, ...]
    _pools: dict[tuple[str, str], tuple[DealerProfile, ...]] = field(default_factory=dict)
    _dealers: dict[str, DealerProfile] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        dealers: Iterable[DealerProfile],
        *,
        exclude: Iterable[str] = (),
        policy: Mapping[str, Any] | None = None,
    ) -> TerritoryIndex:
        """Index the active dealers; `exclude` drops dealers by code (a dealer being withdrawn)."""
        policy = policy or territory_policy()
        excluded = frozenset(exclude)
        index = cls(prefix_lengths=_prefix_lengths(policy))
        pools: dict[tuple[str, str], list[DealerProfile]] = {}
        for dealer in dealers:
            if dealer.code in index._dealers:
                raise ValueError(f"dealer {dealer.code!r} listed twice")
            index._dealers[dealer.code] = dealer
            if dealer.withdrawn or dealer.code in excluded:
                continue
            for territory in dealer.territories:
                for line in dealer.product_lines:
                    pools.setdefault((territory, line), []).append(dealer)
        # Sorted by code so a match never depends on the order the dealers were listed in.
        index._pools = {key: tuple(sorted(ds, key=lambda d: d.code)) for key, ds in pools.items()}
        return index

    def dealer(self, code: str) -> DealerProfile | None:
        return self._dealers.get(code)

    def candidates(self, *, region_code: str, product_line: str) -> TerritoryMatch:
        """The authorized candidates at the longest prefix of the region that has any for the product line."""
        check_region_code(region_code)
        for length in self.prefix_lengths:
            prefix = region_code[:length]
            dealers = self._pools.get((prefix, product_line))
            if dealers:
                return TerritoryMatch(region_code, product_line, prefix, dealers)
        return TerritoryMatch(region_code, product_line, None, ())


def authorized_candidates(*, region_code: str, product_line: str, dealers: Iterable[DealerProfile]) -> TerritoryMatch:
    """A one-off lookup without keeping an index; build a TerritoryIndex for repeated use."""
    return TerritoryIndex.build(dealers).candidates(region_code=region_code, product_line=product_line)
