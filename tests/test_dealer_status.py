"""A withdrawn or unknown dealer's tokens stop working for writes (issue 16 §4, review M2).

Tokens cannot be taken back before they expire, so each service checks the dealer behind a dealer token on every
write: intake and the scheduler in the directory they keep from `leadnet.public.dealers.v1`, the router in its own
dealer table. A dealer nobody registered cannot submit (its records were routed as if HQ had entered them); a
withdrawn dealer can no longer submit, report or confirm sales, or complete tasks (and so claim rewards); both get
403 `dealer_not_active`. HQ is not a dealer and writes as before.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from dedup_router.vin import with_check_digit
from leadnet.demo import DEMO_RECORD
from leadnet_shared.testing import Infra, eventually
from tests.fixtures import JINAN, WEIFANG
from tests.pipeline import Pipeline, pipeline

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

DEALERS = [WEIFANG, JINAN]
SALE = {
    "customer_phone": "138 0013 8000",
    "sold_at": "2026-11-02T10:00:00+08:00",
    "vehicles": [{"vin": with_check_digit("LFWSRXRJ0N1000001"), "product_line": "tractor"}],
}
NETWORK = {"code": "NET-X", "name": "n", "kind": "fixed", "members": [{"name": "m", "type": "insurer"}]}


def _not_active(response: Any, status: str) -> bool:
    body = response.json()
    return bool(response.status_code == 403 and body["code"] == "dealer_not_active" and body["dealer_status"] == status)


async def _writes(p: Pipeline, dealer: str, *, task_id: str) -> dict[str, Any]:
    """Every kind of write a dealer token makes, one each, with bodies valid in shape."""
    headers = p.auth("dealer", dealer)
    return {
        "submit": await p.intake.post("/v1/leads", json=DEMO_RECORD, headers=headers),
        "batch": await p.intake.post("/v1/leads/batch", json={"records": [DEMO_RECORD]}, headers=headers),
        "network": await p.intake.post("/v1/networks", json={**NETWORK, "code": f"NET-{dealer}"}, headers=headers),
        "sale": await p.router.post("/v1/sales", json=SALE, headers=headers),
        "confirm": await p.router.post(f"/v1/sales/{uuid.uuid4()}/confirm", headers=headers),
        "reject": await p.router.post(f"/v1/sales/{uuid.uuid4()}/reject", headers=headers),
        "complete": await p.scheduler.post(
            f"/v1/tasks/{task_id}/complete", json={"outcome": "within_1_month"}, headers=headers
        ),
        "plan": await p.scheduler.put(f"/v1/plans/{dealer}/2026-11", json={"sales_plan": 3}, headers=headers),
    }


class TestOnlyActiveDealersWrite:
    async def test_unknown_and_withdrawn_dealers_are_refused_every_write(self, infra: Infra) -> None:
        async with pipeline(infra) as p:
            await p.register_dealers(*DEALERS)

            # A dealer nobody registered: refused everywhere, and nothing of it is saved or routed.
            answers = await _writes(p, "D077", task_id=str(uuid.uuid4()))
            assert {name: _not_active(r, "unknown") for name, r in answers.items()} == dict.fromkeys(answers, True)
            hq_view = await p.router.get("/v1/customers", headers=p.auth("hq_admin"))
            assert hq_view.json()["items"] == []

            # D002 enters a Zhucheng customer: cross-region, assigned to D001, which gets a callback task.
            r = await p.intake.post("/v1/leads", json=DEMO_RECORD, headers=p.auth("dealer", "D002"))
            assert r.status_code == 201 and r.json()["assigned_dealer"] == "D001", r.text
            lead_id = r.json()["lead_id"]

            task_id = await p.first_task("D001")

            # HQ withdraws D001: its customer and lead go to the HQ queue, its tokens stop writing.
            r = await p.router.post("/v1/dealers/D001/withdraw", headers=p.auth("hq_admin"))
            assert r.status_code == 200, r.text
            await p.dealers_known({"D001": "withdrawn", "D002": "active"})
            # Intake trusts an "active" answer for a few seconds (dealer_status_ttl_seconds): eventually refused.
            d001 = p.auth("dealer", "D001")

            async def intake_refuses() -> bool:
                return _not_active(await p.intake.post("/v1/leads", content=b"{", headers=d001), "withdrawn")

            await eventually(intake_refuses)
            answers = await _writes(p, "D001", task_id=task_id)
            assert {name: _not_active(r, "withdrawn") for name, r in answers.items()} == dict.fromkeys(answers, True)

            # The refusals are the dealer rule, not the objects: an active dealer gets past it to their checks.
            d002 = p.auth("dealer", "D002")
            assert (await p.router.post(f"/v1/sales/{uuid.uuid4()}/confirm", headers=d002)).status_code == 404
            r = await p.scheduler.post(f"/v1/tasks/{task_id}/complete", json={"outcome": "no_demand"}, headers=d002)
            assert r.status_code == 404
            # Reads stay allowed: D002 still sees what it entered (masked), HQ writes as before.
            r = await p.intake.get(f"/v1/leads/{lead_id}", headers=d002)
            assert r.status_code == 200 and r.json()["record"]["customer"]["phone"] == "138****8000"
            r = await p.scheduler.post(
                f"/v1/tasks/{task_id}/complete", json={"outcome": "no_demand"}, headers=p.auth("hq_admin")
            )
            assert r.status_code == 200, r.text
