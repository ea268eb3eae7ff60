"""Masking of personal data, as contract.md says: phone `138****8000`, address as the region's province, city and
county names plus `***`, name = family name plus `*`. Used for every role that does not need the full value, every
public topic, every log.
"""

from __future__ import annotations

import csv
import functools
import re
from importlib import resources

# Common two-character family names; anything else masks after the first character.
_COMPOUND_SURNAMES = frozenset(
    (
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "轩辕",
        "令狐",
        "端木",
        "百里",
        "呼延",
        "南宫",
        "独孤",
        "西门",
        "万俟",
        "闻人",
        "赫连",
        "澹台",
        "歐陽",
        "司馬",
        "諸葛",
        "東方",
        "長孫",
        "夏侯",
        "軒轅",
        "南宮",
        "獨孤",
        "單于",
    )
)

# Placeholder names in the official table that stand for "the province's own districts/counties", not a place.
_PLACEHOLDERS = frozenset(("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"))


@functools.cache
def _region_names() -> dict[str, str]:
    """6-digit adcode → official name (generated from cpca's table by scripts/make_regions.py)."""
    source = resources.files("leadnet_shared") / "data" / "regions.csv"
    with source.open(encoding="utf-8") as handle:
        return {row["adcode"]: row["name"] for row in csv.DictReader(handle)}


def region_label(region_code: str | None) -> str | None:
    """Province, city and county names of a county-level adcode: `370782` → `山东省潍坊市诸城市`; None if unknown."""
    if not region_code or len(region_code) != 6 or not region_code.isdigit():
        return None
    names = _region_names()
    parts: list[str] = []
    for code in (region_code[:2] + "0000", region_code[:4] + "00", region_code):
        name = names.get(code)
        if name and name not in _PLACEHOLDERS and name not in parts:
            parts.append(name)
    return "".join(parts) or None


def mask_phone(phone: str | None) -> str | None:
    """Keep the first 3 and last 4 digits: `+8613800138000` → `138****8000`."""
    if not phone:
        return phone
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("86") and len(digits) > 11:
        digits = digits[2:]
    if len(digits) <= 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_name(name: str | None) -> str | None:
    """Family name plus `*`: `张三` → `张*`, `欧阳修` → `欧阳*`."""
    if not name:
        return name
    name = name.strip()
    if name[:2] in _COMPOUND_SURNAMES and len(name) > 2:
        return name[:2] + "*"
    return name[:1] + "*"


def mask_address(address: str | None, region_code: str | None) -> str | None:
    """The region's official names plus `***`: `山东潍坊诸城密州街道…` with `370782` → `山东省潍坊市诸城市***`.

    Built from the resolved region code, never cut from the free text: short forms (`山东潍坊诸城…`) and unusual
    spellings have no reliable cut point, and a wrong cut publishes a street address for ever on a compacted topic.
    Without a known region only `***` remains."""
    if not address:
        return address
    return (region_label(region_code) or "") + "***"
