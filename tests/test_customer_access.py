"""Who read a customer unmasked is logged, and who protects a customer is told by one rule (issue 16 §3 "Access";
domain.md §3 保密: "only named positions may see all fields, and who saw what is logged"; review L13).

Through the real pipeline: every answer that shows personal data unmasked (router customer view and list, intake lead
view) appends a row to that service's access log, a masked answer none; hq_admin alone reads the log. The customer
view's `protected_by` follows the protection lookup's rule: HQ and the dealers the customer is with are told, a
dealer that only entered a record learns nothing, as from the lookup, which stays the same answer as for a phone
that is no customer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from leadnet_shared.auth import mint_from_dir
from leadnet_shared.testing import Infra
from tests.fixtures import DEALERS, lead_record
from tests.pipeline import Pipeline, pipeline

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

BIG = {"name": "欧阳明远", "phone": "139 0013 9000", "address": "山东省潍坊市诸城市龙都街道和平路66号"}
BIG["tier"] = "gold_silver"
RETAIL = {"name": "张三丰", "phone": "138 0013 8000", "address": "山东省潍坊市诸城市密州街道幸福路18号"}
RETAIL["tier"] = "retail"


def _record(customer: dict[str, Any]) -> dict[str, Any]:
    return lead_record({**customer, "region_code": "370782"}, bare=True)


async def _submit(p: Pipeline, customer: dict[str, Any], dealer: str) -> dict[str, Any]:
    r = await p.intake.post("/v1/leads", json=_record(customer), headers=p.auth("dealer", dealer))
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _lookup(p: Pipeline, phone: str, headers: dict[str, str]) -> dict[str, Any]:
    r = await p.router.post("/v1/customers/protection-lookup", json={"phone": phone}, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


ROUTER_LOG, INTAKE_LOG = "/v1/customers/access-log", "/v1/leads/access-log"


async def _log(client: Any, path: str, headers: dict[str, str], **query: str) -> list[dict[str, Any]]:
    r = await client.get(path, params=query, headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


class TestCustomerAccess:
    async def test_unmasked_reads_are_logged_and_protected_by_follows_one_rule(self, infra: Infra) -> None:
        async with pipeline(infra) as p:
            await p.register_dealers(*DEALERS)
            big = await _submit(p, BIG, "D002")  # cross-region big customer: D002 holds it for a month
            assert (big["assigned_dealer"], big["authorized_dealer"]) == ("D002", "D001")
            later = await _submit(p, BIG, "D003")  # a later entrant: saved, the customer stays with D002
            assert later["assigned_dealer"] == "D002" and later["customer_existed"] is True
            retail = await _submit(p, RETAIL, "D002")  # cross-region retail: goes to D001
            assert retail["assigned_dealer"] == "D001"
            customer = big["customer_id"]
            alice = {"Authorization": f"Bearer {mint_from_dir(infra.key_dir, role='hq_admin', sub='hq:alice')}"}
            callers = {
                "D002": p.auth("dealer", "D002"),  # holds and is assigned the customer
                "D003": p.auth("dealer", "D003"),  # entered a record of it, nothing more
                "hq_analyst": p.auth("hq_analyst"),
                "hq_admin": alice,
            }

            # protected_by: the customer view and the lookup tell the same callers the same thing.
            nobody = await _lookup(p, "135 0013 5000", callers["D003"])  # a phone that is no customer
            for name, headers in callers.items():
                view = (await p.router.get(f"/v1/customers/{customer}", headers=headers)).json()
                lookup = await _lookup(p, BIG["phone"], headers)
                told = name != "D003"
                assert (view["protected_by"], lookup["protected_by"]) == (("D002", "D002") if told else (None, None))
                assert view["protection_until"] == lookup["protection_until"], name
                assert (view["protection_until"] is not None) is told, name
                if not told:
                    assert lookup == nobody  # no oracle: the same answer as for a phone that is no customer
            r = await p.router.get(f"/v1/customers/{customer}", headers=p.auth("dealer", "D001"))
            assert r.status_code == 404  # the authorized dealer neither holds nor entered it: not found

            # Router access log: D002's and alice's unmasked reads above, none for the masked ones.
            rows = await _log(p.router, ROUTER_LOG, alice, customer_id=customer)
            assert [(r["sub"], r["role"], r["dealer"], r["endpoint"], r["customer_ids"]) for r in rows] == [
                ("dealer:D002", "dealer", "D002", "GET /v1/customers/{customer_id}", [customer]),
                ("hq:alice", "hq_admin", None, "GET /v1/customers/{customer_id}", [customer]),
            ]
            first_read = datetime.fromisoformat(rows[0]["at"])
            assert first_read.tzinfo is not None and first_read <= datetime.now(UTC)

            # A list writes one row naming every customer it showed unmasked; a masked list none.
            assert len((await p.router.get("/v1/customers", headers=alice)).json()["items"]) == 2
            await p.router.get("/v1/customers", headers=callers["hq_analyst"])
            await p.router.get("/v1/customers", headers=callers["D003"])
            d001 = await p.router.get("/v1/customers", headers=p.auth("dealer", "D001"))
            assert [c["masked"] for c in d001.json()["items"]] == [False]
            lists = [r for r in await _log(p.router, ROUTER_LOG, alice) if r["endpoint"] == "GET /v1/customers"]
            assert [(r["sub"], sorted(r["customer_ids"])) for r in lists] == [
                ("hq:alice", sorted([customer, retail["customer_id"]])),
                ("dealer:D001", [retail["customer_id"]]),
            ]
            assert [r["customer_ids"] for r in await _log(p.router, ROUTER_LOG, alice, sub="dealer:D001")] == [
                [retail["customer_id"]]
            ]
            assert await _log(p.router, ROUTER_LOG, alice, since="2999-01-01T00:00:00+08:00") == []
            page = (await p.router.get("/v1/customers/access-log", params={"limit": 1}, headers=alice)).json()
            assert page["total"] == 4 and page["next_cursor"] is not None
            for who in ("hq_analyst", "D002"):
                r = await p.router.get("/v1/customers/access-log", headers=callers[who])
                assert (r.status_code, r.json()["code"]) == (403, "forbidden")
            r = await p.router.get("/v1/customers/access-log", params={"sub": "a\x00b"}, headers=alice)
            assert r.status_code == 422

            # Intake: the lead view, unmasked for HQ admins and the assigned dealer only.
            for headers in (alice, callers["hq_analyst"], callers["D003"], callers["D002"]):
                r = await p.intake.get(f"/v1/leads/{later['lead_id']}", headers=headers)
                assert r.status_code == 200, r.text
            rows = await _log(p.intake, INTAKE_LOG, alice, customer_id=customer)
            assert [(r["sub"], r["endpoint"], r["lead_ids"]) for r in rows] == [
                ("hq:alice", "GET /v1/leads/{lead_id}", [later["lead_id"]]),
                ("dealer:D002", "GET /v1/leads/{lead_id}", [later["lead_id"]]),
            ]
            assert await _log(p.intake, INTAKE_LOG, alice, lead_id=big["lead_id"]) == []
            r = await p.intake.get("/v1/leads/access-log", headers=callers["hq_analyst"])
            assert r.status_code == 403
