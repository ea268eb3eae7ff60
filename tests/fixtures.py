"""The Shandong world the cross-service tests share: three dealers, contract.md's example record and the registry's
vehicles. One place, so that a test says only what it changes (a phone, a customer, a dealer's product lines)."""

from __future__ import annotations

import copy
from typing import Any

from leadnet.demo import DEMO_RECORD

# Weifang holds the example record's customer (诸城, 370782); Jinan enters it across regions; Qingdao is a bystander.
WEIFANG: dict[str, Any] = {
    "code": "D001",
    "name": "潍坊欧曼",
    "territories": ["3707"],
    "product_lines": ["tractor"],
    "capability": 80,
}
JINAN: dict[str, Any] = {
    "code": "D002",
    "name": "济南欧曼",
    "territories": ["3701"],
    "product_lines": ["tractor"],
    "capability": 60,
}
QINGDAO: dict[str, Any] = {
    "code": "D003",
    "name": "青岛欧曼",
    "territories": ["3702"],
    "product_lines": ["tractor"],
    "capability": 40,
}
# Weifang also sells dump trucks: a sale of one pays a guarantee per dump truck.
WEIFANG_WITH_DUMPS: dict[str, Any] = {**WEIFANG, "product_lines": ["tractor", "dump"]}

# With their sales levels (issue 19: a network's quarter is graded by its owner's level).
WEIFANG_WITH_LEVEL: dict[str, Any] = {**WEIFANG_WITH_DUMPS, "sales_level": "300_999"}
JINAN_WITH_LEVEL: dict[str, Any] = {**JINAN, "sales_level": "lt_300"}

DEALERS = [WEIFANG, JINAN, QINGDAO]

# The example record's customer with a full street address (privacy tests look for each part of it afterwards).
ZHANG: dict[str, Any] = {
    "name": "张三丰",
    "phone": "138 0013 8000",
    "address": "山东省潍坊市诸城市密州街道幸福路18号",
    "region_code": "370782",
}
DEALERS_WITH_DUMPS = [WEIFANG_WITH_DUMPS, JINAN, QINGDAO]


def lead_record(
    customer: dict[str, Any] | None = None, *, bare: bool = False, phone: str | None = None, **changes: Any
) -> dict[str, Any]:
    """A `POST /v1/leads` body: contract.md's example record (`DEMO_RECORD`, deep-copied), its customer's fields
    updated from `customer` and `phone`, its top-level fields from `changes`. `bare` leaves out the example's
    information network and usage."""
    record = copy.deepcopy(DEMO_RECORD)
    if bare:
        del record["network_code"], record["usage"]
    record["customer"].update(customer or {})
    if phone is not None:
        record["customer"]["phone"] = phone
    record.update(changes)
    return record


def registry_vehicle(
    vin: str, holder: str = "D001", product_line: str = "tractor", *, model: str = "EST 6"
) -> dict[str, Any]:
    """A vehicle of the maker's registry (`PUT /v1/vehicles`), delivered to `holder` before the tests' sales."""
    return {
        "vin": vin,
        "model": model,
        "product_line": product_line,
        "delivered_to": holder,
        "delivered_at": "2026-10-01T00:00:00+08:00",
    }
