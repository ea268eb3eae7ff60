"""Who sees what and which facts a filter keeps: the one place the console turns a caller and a query's filters
into SQL conditions (every query module builds its WHERE here, never by hand)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from leadnet_shared.auth import Principal
from leadnet_shared.problems import FieldProblem, Forbidden, ValidationFailed

_REGION = re.compile(r"^[1-8][0-9](?:[0-9]{2}){0,2}$")
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


@dataclass(frozen=True)
class Scope:
    """What the caller may see: HQ roles everything (masked), regional HQ staff only their regions' facts (a fact
    of unknown region is outside every region), dealers nothing."""

    regions: tuple[str, ...] = ()

    @classmethod
    def of(cls, principal: Principal) -> Scope:
        if not principal.is_hq:
            raise Forbidden("The HQ console is for HQ; a dealer reads its own figures through the dealer APIs.")
        return cls(regions=tuple(principal.regions))

    def covers(self, region_code: str | None) -> bool:
        if not self.regions:
            return True
        return region_code is not None and any(region_code.startswith(p) for p in self.regions)


@dataclass(frozen=True)
class Filters:
    """The filters every page takes (besides the period): a region (adcode prefix: province 2 digits, city 4,
    county 6), a product line, a dealer, a source, a tier, an information network."""

    region: str | None = None
    product_line: str | None = None
    dealer: str | None = None
    source: str | None = None
    tier: str | None = None
    network: str | None = None

    @classmethod
    def parse(
        cls,
        *,
        region: str | None = None,
        product_line: str | None = None,
        dealer: str | None = None,
        source: str | None = None,
        tier: str | None = None,
        network: str | None = None,
    ) -> Filters:
        """Checked filters; every bad value at once (422)."""
        problems = []
        if region and not _REGION.fullmatch(region):
            problems.append(FieldProblem("/region", "invalid_region", "region is an adcode prefix: 2, 4 or 6 digits"))
        for name, value in (
            ("product_line", product_line),
            ("dealer", dealer),
            ("source", source),
            ("tier", tier),
            ("network", network),
        ):
            if value and not _NAME.fullmatch(value):
                problems.append(
                    FieldProblem(f"/{name}", "invalid_value", f"{name} is a code of 1-64 letters or digits")
                )
        if problems:
            raise ValidationFailed("The filters have problems; see errors.", errors=problems)
        return cls(
            region=region or None,
            product_line=product_line or None,
            dealer=dealer or None,
            source=source or None,
            tier=tier or None,
            network=network or None,
        )


@dataclass
class Where:
    """SQL conditions with their bind parameters, built up per query."""

    clauses: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def add(self, clause: str, **params: Any) -> Where:
        self.clauses.append(clause)
        self.params.update(params)
        return self

    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "TRUE"

    def used_params(self) -> dict[str, Any]:
        """The parameters the conditions name (a `text()` construct refuses others)."""
        sql = self.sql()
        return {name: value for name, value in self.params.items() if re.search(rf":{name}\b", sql)}


def dims(
    where: Where,
    alias: str,
    filters: Filters,
    scope: Scope,
    *,
    dealer: str | None,
    has: frozenset[str] = frozenset({"region", "product_line", "tier", "source", "network"}),
) -> Where:
    """Add the filters and the caller's scope for a fact table `alias` whose dealer column is `dealer` (None: the
    table has no dealer, and a dealer filter keeps nothing of it) and which carries the dimensions `has`."""
    a = alias
    if filters.region:
        where.add(f"{a}.region_code LIKE :f_region", f_region=filters.region + "%")
    if filters.product_line:
        where.add(
            f"{a}.product_line = :f_product_line" if "product_line" in has else "FALSE",
            f_product_line=filters.product_line,
        )
    if filters.tier:
        where.add(f"{a}.tier = :f_tier" if "tier" in has else "FALSE", f_tier=filters.tier)
    if filters.source:
        where.add(f"{a}.source = :f_source" if "source" in has else "FALSE", f_source=filters.source)
    if filters.network:
        where.add(f"{a}.network_code = :f_network" if "network" in has else "FALSE", f_network=filters.network)
    if filters.dealer:
        where.add(f"{dealer} = :f_dealer" if dealer else "FALSE", f_dealer=filters.dealer)
    if scope.regions:
        where.add(
            f"{a}.region_code LIKE ANY(CAST(:scope_regions AS text[]))", scope_regions=[r + "%" for r in scope.regions]
        )
    return where
