"""Who sees what and which facts a filter keeps: the caller's scope and a query's checked filters, the one place the
console turns a caller and a query string into them (`hq_console.repository.measures.dims` makes them SQL)."""

from __future__ import annotations

import re
from dataclasses import dataclass

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
