"""Masking of personal data, as contract.md says: phone `138****8000`, address cut after the county plus `***`,
name = family name plus `*`. Used for every role that does not need the full value, every public topic, every log.
"""

from __future__ import annotations

import re

# Common two-character family names; anything else masks after the first character.
_COMPOUND_SURNAMES = frozenset((
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
    "宇文", "司徒", "夏侯", "轩辕", "令狐", "端木", "百里", "呼延", "南宫", "独孤",
    "西门", "万俟", "闻人", "赫连", "澹台", "歐陽", "司馬", "諸葛", "東方", "長孫",
    "夏侯", "軒轅", "南宮", "獨孤", "單于",
))

# The county-level unit ends with one of these; the address is cut right after it.
_COUNTY_END = re.compile(r"^.*?(?:自治县|自治旗|林区|特区|新区|县|区|市|旗)")
_PROVINCE_CITY = re.compile(r"^(?:.*?(?:自治区|特别行政区|省))?(?:.*?(?:自治州|地区|盟|市))?")


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


def mask_address(address: str | None) -> str | None:
    """Cut after the county/district and add `***`: `山东省潍坊市诸城市密州街道` → `山东省潍坊市诸城市***`."""
    if not address:
        return address
    head = _PROVINCE_CITY.match(address)
    start = head.end() if head else 0
    county = _COUNTY_END.match(address[start:])
    if county and county.end() > 0:
        return address[: start + county.end()] + "***"
    if start > 0:
        return address[:start] + "***"
    return address[: min(len(address), 3)] + "***"
