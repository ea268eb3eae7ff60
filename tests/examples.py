"""Example payloads of contract.md shared by the tests of more than one module."""

from __future__ import annotations

from typing import Any

# The example record of contract.md "lead-intake", verbatim. Tests copy it before changing it.
CONTRACT_RECORD: dict[str, Any] = {
    "source": "walk_in",
    "network_code": "NET-SD-0007",
    "customer": {
        "name": "张三",
        "phone": "138 0013 8000",
        "address": "山东省潍坊市诸城市密州街道",
        "region_code": None,
        "tier": "retail",
        "nature": "new",
    },
    "vehicles_in_use": [
        {
            "brand": "欧曼",
            "model": "EST 6",
            "quantity": 2,
            "function": "tractor",
            "horsepower": 460,
            "body_spec": "半挂牵引",
        }
    ],
    "usage": {
        "cargo": "煤炭",
        "load_tons": 49,
        "haul_distance_km": 300,
        "consumer_credit": "无",
        "insurance": "人保",
    },
    "purchase_intent": {
        "brand": "欧曼",
        "model": "EST 6",
        "quantity": 1,
        "function": "tractor",
        "horsepower": 560,
        "body_spec": "半挂牵引",
        "product_line": "tractor",
        "horizon": "within_2_weeks",
    },
}
