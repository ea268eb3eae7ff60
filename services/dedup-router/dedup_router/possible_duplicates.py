"""Possible duplicates beyond the phone (domain.md §3, 重復信息): the same customer under another number.

Two keys, each stored in an indexed column so candidates are found with an equality lookup:
- `name_county`: the name read as tone-less pinyin (so 張三, 张三 and 章三 meet) in the same county;
- `fleet_city`: the same vehicles in use (brand + model + quantity, order-free) in the same city.
The keys are SHA-256 digests, so the columns, logs and events that carry them hold no readable personal data.
A match only raises the non-blocking `possible_duplicate` warning; the phone number stays the identity.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pypinyin import Style, lazy_pinyin

from dedup_router.territories import check_region_code
from leadnet_shared.policy import cached_policy

POLICY = "possible_duplicates"
WARNING_CODE = "possible_duplicate"
NAME_COUNTY = "name_county"
FLEET_CITY = "fleet_city"

_SEPARATORS = re.compile(r"[\W_]+")


def possible_duplicates_policy() -> dict[str, Any]:
    """Weights, threshold and warning texts in force."""
    return cached_policy("dedup_router", POLICY)


class FleetVehicle(Protocol):
    """A vehicle-in-use line as intake carries it (a pydantic model or a dataclass both fit)."""

    @property
    def brand(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def quantity(self) -> int: ...


def _digest(kind: str, *parts: str) -> str:
    raw = "\x1f".join((kind, *parts)).encode("utf-8")
    return f"{kind}:{hashlib.sha256(raw).hexdigest()[:32]}"


def _fold(text: str) -> str:
    """Full-width to ASCII, lower case, no spaces or punctuation: `ＥＳＴ-6` and `est 6` read the same."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text).casefold())


@functools.lru_cache(maxsize=65_536)  # names and models repeat a lot; the lookup is the costly part
def name_pinyin(name: str) -> str:
    """Tone-less pinyin, so simplified, traditional and homophone spellings meet."""
    syllables = lazy_pinyin(unicodedata.normalize("NFKC", name).strip(), style=Style.NORMAL, errors="default")
    return _fold("".join(syllables))


def fleet_signature(vehicles: Iterable[FleetVehicle]) -> tuple[tuple[str, str, int], ...]:
    """Brand, model (as pinyin: 歐曼 = 欧曼) and total quantity per model, sorted: order is moot."""
    totals: dict[tuple[str, str], int] = {}
    for v in vehicles:
        brand, model = name_pinyin(v.brand or ""), name_pinyin(v.model or "")
        if not (brand or model) or v.quantity <= 0:
            continue
        totals[(brand, model)] = totals.get((brand, model), 0) + v.quantity
    return tuple(sorted((b, m, q) for (b, m), q in totals.items()))


@dataclass(frozen=True, slots=True)
class DuplicateKeys:
    """The index keys of one customer; None where the customer does not have enough data for that key."""

    name_county: str | None
    fleet_city: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {NAME_COUNTY: self.name_county, FLEET_CITY: self.fleet_city}


def duplicate_keys(
    *,
    name: str | None,
    region_code: str,
    vehicles: Iterable[FleetVehicle] = (),
    policy: Mapping[str, Any] | None = None,
) -> DuplicateKeys:
    """Compute the keys to store in the customer's indexed columns and to look candidates up by."""
    policy = policy or possible_duplicates_policy()
    check_region_code(region_code)
    pinyin = name_pinyin(name) if name else ""
    name_key = _digest(NAME_COUNTY, region_code, pinyin) if pinyin else None

    fleet = policy["fleet"]
    signature = fleet_signature(vehicles)
    total = sum(q for _, _, q in signature)
    fleet_key = None
    if signature and total >= int(fleet["min_total_quantity"]):
        city = region_code[: int(fleet["city_prefix_length"])]
        flat = [f"{b}|{m}|{q}" for b, m, q in signature]
        fleet_key = _digest(FLEET_CITY, city, *flat)
    return DuplicateKeys(name_county=name_key, fleet_city=fleet_key)


@dataclass(frozen=True, slots=True)
class DuplicateMatch:
    """Which keys an existing customer shares with the new record, and how strongly."""

    matched: tuple[str, ...]
    strength: float
    warn: bool
    warning: dict[str, str] | None


def warning_text(matched: Iterable[str], strength: float, *, policy: Mapping[str, Any] | None = None) -> str:
    """The warning message: names the matched keys and the strength only, never the customer's data."""
    policy = policy or possible_duplicates_policy()
    messages = policy["messages"]
    keys = " and ".join(messages[k] for k in matched)
    return str(messages[WARNING_CODE]).format(keys=keys, strength=f"{strength:.2f}")


def matched_keys(*, new: DuplicateKeys, existing: DuplicateKeys) -> tuple[str, ...]:
    """The keys two customers share (a key neither has never counts as shared)."""
    matched: tuple[str, ...] = ()
    if new.name_county is not None and new.name_county == existing.name_county:
        matched += (NAME_COUNTY,)
    if new.fleet_city is not None and new.fleet_city == existing.fleet_city:
        matched += (FLEET_CITY,)
    return matched


def _strength(matched: tuple[str, ...], weights: Mapping[str, Any]) -> float:
    return round(min(1.0, sum(float(weights[k]) for k in matched)), 4)


def score_match(
    *, new: DuplicateKeys, existing: DuplicateKeys, policy: Mapping[str, Any] | None = None
) -> DuplicateMatch:
    """Score one candidate found by a key lookup: the sum of the matched keys' policy weights, capped at 1."""
    policy = policy or possible_duplicates_policy()
    matched = matched_keys(new=new, existing=existing)
    strength = _strength(matched, policy["weights"])
    warn = bool(matched) and strength >= float(policy["thresholds"]["warn"])
    warning = {"code": WARNING_CODE, "message": warning_text(matched, strength, policy=policy)} if warn else None
    return DuplicateMatch(matched=matched, strength=strength, warn=warn, warning=warning)


def strongest_match(
    *, new: DuplicateKeys, candidates: Mapping[str, DuplicateKeys], policy: Mapping[str, Any] | None = None
) -> tuple[str, DuplicateMatch] | None:
    """The candidate (by customer id) most likely the same customer (ties: lowest id), or None."""
    policy = policy or possible_duplicates_policy()
    weights, threshold = policy["weights"], float(policy["thresholds"]["warn"])
    name, fleet = new.name_county, new.fleet_city
    # The strength of each way to match, worked out once: per candidate only two comparisons remain. Only the
    # winner's warning text is written.
    by_match = {
        (n, f): _strength(tuple(k for k, hit in ((NAME_COUNTY, n), (FLEET_CITY, f)) if hit), weights)
        for n in (False, True)
        for f in (False, True)
        if n or f
    }
    best_id: str | None = None
    best_strength = -1.0
    for customer_id, existing in candidates.items():
        hit = (name is not None and existing.name_county == name, fleet is not None and existing.fleet_city == fleet)
        if hit == (False, False):
            continue
        strength = by_match[hit]
        if strength < threshold:
            continue
        if strength > best_strength or (strength == best_strength and best_id is not None and customer_id < best_id):
            best_id, best_strength = customer_id, strength
    if best_id is None:
        return None
    return best_id, score_match(new=new, existing=candidates[best_id], policy=policy)


def candidate_limit(policy: Mapping[str, Any] | None = None) -> int:
    """How many registry customers (lowest ids first) one record is compared with."""
    policy = policy or possible_duplicates_policy()
    return int(policy["candidates"]["per_record"])
