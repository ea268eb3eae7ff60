"""Figures written as text ("49吨", "300公里", "2台", "四十九") -> numbers, refusing what means two things.

A lead's load and haul distance pick the truck that is offered; a wrong guess is worse than asking the
dealer, so only one unambiguous figure is accepted: ranges, vague words and colloquial shortenings
("三千五" = 3500 or 3005?) are `invalid_number`. Units and limits per field are policy (`[numbers]` in
information_blocks.toml).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from lead_intake.normalize import NormalizationError
from lead_intake.normalize.chinese import to_simplified
from leadnet_shared.policy import PolicyError, cached_policy

_ARABIC = re.compile(r"^(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.[0-9]+)?$")
_DIGITS = {
    digit: value
    for value, digits in enumerate(("零〇", "一", "二两", "三", "四", "五", "六", "七", "八", "九"))
    for digit in digits
}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_WAN = "万"
_NO_UNIT_YET = 10**9


@dataclass(frozen=True, slots=True)
class NumberRule:
    """How one numeric field is read: whole or not, its range, the units it may be written with."""

    integer: bool
    min: float
    max: float
    units: tuple[str, ...]  # lower-case, longest first so "匹马力" wins over "马力"


@dataclass(frozen=True, slots=True)
class NumberPolicy:
    rules: Mapping[str, NumberRule]
    approximate_prefixes: tuple[str, ...]
    approximate_suffixes: tuple[str, ...]


@cache
def number_policy() -> NumberPolicy:
    """Compile `[numbers]` of the information-blocks policy once."""
    data = cached_policy("lead_intake", "information_blocks").get("numbers", {})
    rules: dict[str, NumberRule] = {}
    for name, table in data.items():
        if not isinstance(table, dict):
            continue
        try:
            rules[name] = NumberRule(
                integer=bool(table["integer"]),
                min=float(table["min"]),
                max=float(table["max"]),
                units=tuple(sorted((u.lower() for u in table.get("units", [])), key=len, reverse=True)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PolicyError(f"information_blocks: numbers.{name} needs integer, min, max") from exc
    return NumberPolicy(
        rules=MappingProxyType(rules),
        approximate_prefixes=tuple(data.get("approximate_prefixes", [])),
        approximate_suffixes=tuple(data.get("approximate_suffixes", [])),
    )


def _section(text: str, *, after_wan: bool) -> int | None:
    """A Chinese numeral below 10,000 in full (四十九, 一百零五), or None when not exactly one figure."""
    total, last_unit, pending, zero_seen, seen = 0, _NO_UNIT_YET, -1, False, False
    for char in text:
        seen = True
        if char in _DIGITS:
            if pending >= 0:
                return None  # two digits in a row: 三五 is "three to five"
            digit = _DIGITS[char]
            if digit == 0:
                zero_seen = True
            else:
                pending = digit
        elif char in _UNITS:
            unit = _UNITS[char]
            if unit >= last_unit:
                return None
            if pending < 0:
                if char != "十" or total or zero_seen or after_wan:
                    return None
                pending = 1  # 十五 = 15
            total += pending * unit
            last_unit, pending, zero_seen = unit, -1, False
        else:
            return None
    if pending >= 0:
        first_section = last_unit == _NO_UNIT_YET and not after_wan
        # A last digit is ones only after 十, after 零, or alone: 三千五, 一百五, 三万五 are colloquial.
        if not (first_section or last_unit == 10 or zero_seen):
            return None
        total += pending
    return total if seen else None


def parse_chinese_numeral(text: str, /) -> float | None:
    """四十九 -> 49, 两 -> 2, 一万二千 -> 12000, 四十九点五 -> 49.5; None unless one clear figure."""
    whole_text, point, fraction_text = text.partition("点")
    if point:
        if not fraction_text or any(c not in _DIGITS for c in fraction_text):
            return None
        fraction = float("0." + "".join(str(_DIGITS[c]) for c in fraction_text))
    else:
        fraction = 0.0
    if _WAN in whole_text:
        high_text, _, low_text = whole_text.partition(_WAN)
        high = _section(high_text, after_wan=False)
        low = _section(low_text, after_wan=True) if low_text else 0
        if high is None or high == 0 or low is None:
            return None
        whole = high * 10_000 + low
    else:
        section = _section(whole_text, after_wan=False)
        if section is None:
            return None
        whole = section
    return whole + fraction


def _number_from_text(text: str, *, rule: NumberRule, policy: NumberPolicy) -> float | None:
    text = unicodedata.normalize("NFKC", text).strip().lower().replace(" ", "")
    for prefix in policy.approximate_prefixes:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    for suffix in policy.approximate_suffixes:
        if text.endswith(suffix):
            text = text[: -len(suffix)]
            break
    for unit in rule.units:
        if text.endswith(unit):
            text = text[: -len(unit)]
            break
    if _ARABIC.match(text):
        return float(text.replace(",", ""))
    return parse_chinese_numeral(text)


def normalize_number(value: object, /, *, field: str) -> int | float:
    """The number a numeric field holds (int when whole); `invalid_number`, `out_of_range`, `invalid_type`."""
    policy = number_policy()
    rule = policy.rules[field]
    if value.__class__ is int and rule.min <= value <= rule.max:
        return value
    number: float | None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise NormalizationError("invalid_type", "must be a number or a text holding one number")
    if isinstance(value, str):
        # Units and numerals written in traditional characters (輛, 噸, 四十九萬) read like simplified ones.
        number = _number_from_text(value, rule=rule, policy=policy)
        if number is None and not value.isascii():
            number = _number_from_text(to_simplified(value), rule=rule, policy=policy)
        if number is None:
            raise NormalizationError(
                "invalid_number", f'{value!r} is not one unambiguous number (e.g. 49, "49.5", "四十九")'
            )
    else:
        try:
            number = float(value)
        except OverflowError as exc:
            raise NormalizationError("out_of_range", "far too large") from exc
    if not math.isfinite(number):
        raise NormalizationError("invalid_number", "must be a finite number")
    if rule.integer and not number.is_integer():
        raise NormalizationError("invalid_number", "must be a whole number")
    if not rule.min <= number <= rule.max:
        raise NormalizationError("out_of_range", f"must be between {rule.min:g} and {rule.max:g}")
    return int(number) if number.is_integer() else number
