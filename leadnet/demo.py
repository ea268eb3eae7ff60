"""Demo data for `leadnet up --demo`: dealers in Shandong and a few records, loaded through the public API."""

from __future__ import annotations

import time
from typing import Any

import httpx

DEMO_DEALERS: list[dict[str, Any]] = [
    {
        "code": "D001",
        "name": "潍坊欧曼汽车销售服务有限公司",
        "territories": ["3707"],
        "product_lines": ["tractor", "dump", "cargo"],
        "capability": 80,
        "sales_level": "300_999",
    },
    {
        "code": "D002",
        "name": "济南欧曼汽车销售有限公司",
        "territories": ["3701"],
        "product_lines": ["tractor", "dump", "mixer", "cargo"],
        "capability": 90,
        "sales_level": "gte_1000",
    },
    {
        "code": "D003",
        "name": "诸城欧曼专营店",
        "territories": ["370782"],
        "product_lines": ["tractor"],
        "capability": 40,
        "sales_level": "lt_300",
    },
    {
        "code": "D004",
        "name": "青岛欧曼汽车销售有限公司",
        "territories": ["3702"],
        "product_lines": ["tractor", "dump", "mixer"],
        "capability": 70,
        "sales_level": "300_999",
    },
]

DEMO_RECORD: dict[str, Any] = {
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
    "usage": {"cargo": "煤炭", "load_tons": 49, "haul_distance_km": 300, "consumer_credit": "无", "insurance": "人保"},
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


# The maker's registry for the demo (GB 16735 check digits): tractors in stock at D001 (Weifang, authorized for the
# demo record's customer) and at D002 (Jinan, which enters it), so a sale can be reported and confirmed.
DEMO_VEHICLES: list[dict[str, Any]] = [
    {
        "vin": vin,
        "model": "EST 6",
        "product_line": "tractor",
        "delivered_to": holder,
        "delivered_at": "2026-10-01T09:00:00+08:00",
    }
    for vin, holder in (("LRDS6PEB2KR000001", "D001"), ("LRDS6PEB4KR000002", "D001"), ("LRDS6PEB6KR000003", "D002"))
]


def _client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def _post_each(
    client: httpx.Client, path: str, bodies: list[dict[str, Any]], *, wait_seconds: float = 0.0
) -> list[str]:
    """POST each body; the codes of those created (one already there, 409, is left as it is). While the service
    does not know the writing dealer yet (403 `dealer_not_active`) a body is sent again for up to `wait_seconds`."""
    loaded = []
    for body in bodies:
        deadline = time.monotonic() + wait_seconds
        response = client.post(path, json=body)
        while _dealer_not_known_yet(response) and time.monotonic() < deadline:
            time.sleep(0.5)
            response = client.post(path, json=body)
        if response.status_code == 201:
            loaded.append(body["code"])
        elif response.status_code != 409:
            response.raise_for_status()
    return loaded


def load_demo_vehicles(router_url: str, hq_token: str) -> int:
    """Put the demo vehicles into the registry (an upsert: loading them again changes nothing)."""
    with _client(router_url, hq_token) as client:
        response = client.put("/v1/vehicles", json={"vehicles": DEMO_VEHICLES})
        response.raise_for_status()
        return int(response.json()["created"])


def load_demo_dealers(router_url: str, hq_token: str) -> list[str]:
    """Register the demo dealers (already registered ones are left as they are)."""
    with _client(router_url, hq_token) as client:
        return _post_each(client, "/v1/dealers", DEMO_DEALERS)


# The network the walkthrough's record names: a regional network of D002 (who enters the record), so it counts.
DEMO_NETWORKS: list[dict[str, Any]] = [
    {
        "code": "NET-SD-0007",
        "name": "济南车管所信息网络",
        "kind": "fixed",
        "members": [{"name": "济南市车管所", "type": "vehicle_admin_office"}],
    },
]


def load_demo_networks(intake_url: str, dealer_token: str, *, wait_seconds: float = 60.0) -> list[str]:
    """Register the demo information networks as dealer D002 (already registered ones are left as they are).

    Intake lets a dealer write once it has read the dealer's registration from the dealers topic, a moment after
    `load_demo_dealers`: until then it answers 403 `dealer_not_active`, and this waits for it (at most
    `wait_seconds`). Once this returns, D002 can submit the walkthrough's record."""
    with _client(intake_url, dealer_token) as client:
        return _post_each(client, "/v1/networks", DEMO_NETWORKS, wait_seconds=wait_seconds)


def _dealer_not_known_yet(response: httpx.Response) -> bool:
    return response.status_code == 403 and response.json().get("code") == "dealer_not_active"
