"""Customer address -> county-level region (adcode), which decides the authorized dealer (domain.md §3).

`cpca` resolves ~1,650 addresses a second when called per record (a pandas frame per call): too slow for
intake. This module reads cpca's own bundled region file once, builds an Aho-Corasick automaton over full and
short names, and resolves an address in a few microseconds.

Matching: every region name found in the text (leftmost-longest) is a candidate; candidates form chains
province -> city -> county; the longest chain ending in a county-level region wins, and among equally long
ones the region named first (addresses run from large to small, and street names after the county often reuse
other places' names). Two regions named at the same place with equally long chains (朝阳区 alone: Beijing or
Changchun) is ambiguous: unresolved.
"""

from __future__ import annotations

import csv
import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import ahocorasick  # pyahocorasick, the matcher cpca itself uses

from lead_intake.normalize import NormalizationError
from lead_intake.normalize.chinese import to_simplified, to_traditional
from leadnet_shared.policy import PolicyError, cached_policy

_PROVINCE, _CITY, _COUNTY = 0, 1, 2
_ADCODE = re.compile(r"^[0-9]{6}$")


@dataclass(frozen=True, slots=True)
class Region:
    """One GB/T 2260 region: 6-digit adcode, official name, rank (0 province, 1 city, 2 county)."""

    adcode: str
    name: str
    rank: int
    county_level: bool


@dataclass(frozen=True, slots=True)
class RegionNames:
    """Names along an adcode's path; `city` is None under a municipality or a province-administered county."""

    province: str
    city: str | None
    county: str | None


@dataclass(frozen=True, slots=True)
class RegionIndex:
    """Everything resolution needs, built once per process."""

    regions: dict[str, Region]
    automaton: Any  # ahocorasick.Automaton: name -> tuple[Region, ...]


def _bundled_adcodes_csv() -> Path:
    """cpca's data file, found without importing cpca (whose import builds its own matcher, loads pandas)."""
    spec = importlib.util.find_spec("cpca")
    if spec is None or not spec.submodule_search_locations:
        raise PolicyError("the cpca package (region data) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "resources" / "adcodes.csv"


def _rank(adcode: str) -> int:
    if adcode.endswith("0000"):
        return _PROVINCE
    return _CITY if adcode.endswith("00") else _COUNTY


def _short_names(name: str, *, suffixes: list[str], special: dict[str, str]) -> list[str]:
    if name in special:
        return [special[name]]
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return [name[: -len(suffix)]]
    return []


@cache
def region_index() -> RegionIndex:
    """Read the bundled region file and build the name automaton (a few ms, once)."""
    policy = cached_policy("lead_intake", "regions")
    placeholders = frozenset(policy["placeholder_names"])
    suffixes = list(policy["abbreviation_suffixes"])
    special = dict(policy.get("special_abbreviations", {}))
    childless_city_counts = bool(policy.get("childless_city_is_county_level", True))

    raw: dict[str, str] = {}
    with _bundled_adcodes_csv().open(encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            adcode, name = row["adcode"][:6], row["name"].strip()
            if name not in placeholders and _ADCODE.match(adcode):
                raw[adcode] = name
    cities_with_counties = {code[:4] for code in raw if _rank(code) == _COUNTY}

    regions: dict[str, Region] = {}
    by_name: dict[str, list[Region]] = {}
    for adcode, name in raw.items():
        rank = _rank(adcode)
        county_level = rank == _COUNTY or (
            rank == _CITY and childless_city_counts and adcode[:4] not in cities_with_counties
        )
        region = Region(adcode=adcode, name=name, rank=rank, county_level=county_level)
        regions[adcode] = region
        names = {name, *_short_names(name, suffixes=suffixes, special=special)}
        # Addresses pass through t2s before matching; t2s rewrites a few simplified place names (乾县 -> 干县)
        # and leaves some traditional ones (澂江 for 澄江), so those spellings are keys as well.
        variants = {to_simplified(n) for n in names} | {to_simplified(to_traditional(n)) for n in names}
        for key in names | variants:
            by_name.setdefault(key, []).append(region)

    automaton = ahocorasick.Automaton()
    for key, found in by_name.items():
        automaton.add_word(key, tuple(sorted(found, key=lambda r: r.adcode)))
    automaton.make_automaton()
    return RegionIndex(regions=regions, automaton=automaton)


def _descends(region: Region, ancestor: Region) -> bool:
    if region.rank <= ancestor.rank:
        return False
    width = 2 if ancestor.rank == _PROVINCE else 4
    return region.adcode[:width] == ancestor.adcode[:width]


def resolve_county(address: str, /) -> str | None:
    """The county-level adcode an address names, or None when it names none or more than one."""
    text = to_simplified(address)
    # (chain length, position in text, region) for every candidate seen so far.
    chains: list[tuple[int, int, Region]] = []
    for end, candidates in region_index().automaton.iter_long(text):
        extended = []
        for region in candidates:
            length = 1
            for prior_length, _, prior in chains:
                if prior_length >= length and _descends(region, prior):
                    length = prior_length + 1
            extended.append((length, end, region))
        chains.extend(extended)
    best: tuple[int, int] | None = None
    winners: set[str] = set()
    for length, end, region in chains:
        if not region.county_level:
            continue
        key = (length, -end)
        if best is None or key > best:
            best, winners = key, {region.adcode}
        elif key == best:
            winners.add(region.adcode)
    return next(iter(winners)) if len(winners) == 1 else None


def is_county_level(adcode: str, /) -> bool:
    """A known county-level code (a county, district, county-level city, or a city with no counties)."""
    region = region_index().regions.get(adcode)
    return region is not None and region.county_level


def region_names(adcode: str, /) -> RegionNames | None:
    """Province, city and county names for an adcode (for display and masking), None for an unknown code."""
    regions = region_index().regions
    region = regions.get(adcode)
    if region is None:
        return None
    province = regions.get(adcode[:2] + "0000")
    city = regions.get(adcode[:4] + "00") if region.rank >= _CITY else None
    return RegionNames(
        province=province.name if province else "",
        city=city.name if city else None,
        county=region.name if region.rank == _COUNTY else None,
    )


def normalize_region(*, address: str, region_code: str | None) -> str:
    """The customer's county-level adcode: the caller's `region_code` if given (it wins), else the address."""
    if region_code is not None:
        code = region_code.strip()
        if not _ADCODE.match(code) or not is_county_level(code):
            raise NormalizationError("address_unresolved", "region_code is not a known county-level adcode")
        return code
    resolved = resolve_county(address)
    if resolved is None:
        raise NormalizationError(
            "address_unresolved",
            "the address names no single county-level region; add the county or give region_code",
        )
    return resolved
