"""Information networks over HTTP on the real pipeline (issue 19): sales_level validated by the router and learnt
by intake from the dealers topic, a network's quarter graded, the quarterly evaluation on demand (HQ only, once per
owner and quarter) and who sees which evaluation."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from leadnet.demo import DEMO_RECORD
from leadnet_shared.clock import SHANGHAI, FrozenClock
from leadnet_shared.testing import Infra, eventually
from tests.fixtures import WEIFANG_WITH_LEVEL
from tests.pipeline import pipeline

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

DEALER = WEIFANG_WITH_LEVEL


def record(phone: str, **changes: Any) -> dict[str, Any]:
    rec = copy.deepcopy(DEMO_RECORD)
    rec["customer"]["phone"] = phone
    rec.update(changes)
    return rec


async def test_sales_level_grades_and_the_quarterly_evaluation(infra: Infra) -> None:
    clock = FrozenClock(datetime(2026, 8, 14, 10, 0, tzinfo=SHANGHAI).astimezone(UTC))
    async with pipeline(infra, clock=clock) as p:
        hq, d1, d2 = p.auth("hq_admin"), p.auth("dealer", "D001"), p.auth("dealer", "D002")
        # sales_level is one of the three levels of domain.md, every problem at once
        r = await p.router.post("/v1/dealers", json={**DEALER, "sales_level": "big", "capability": -1}, headers=hq)
        assert r.status_code == 422
        assert {e["field"] for e in r.json()["errors"]} == {"/sales_level", "/capability"}
        assert (await p.router.post("/v1/dealers", json=DEALER, headers=hq)).status_code == 201

        async def level() -> Any:
            async with p.apps["intake"].state.runtime.db.sessions() as session:
                found = await session.execute(text("SELECT sales_level FROM dealers WHERE code = 'D001'"))
                return found.scalar_one_or_none()

        assert await eventually(level, within=30) == "300_999"

        network = {
            "code": "NET-SD-0007",
            "name": "潍坊车管所",
            "kind": "fixed",
            "members": [{"name": "潍坊市车管所", "type": "vehicle_admin_office"}, {"name": "车队", "type": "fleet"}],
        }
        assert (await p.intake.post("/v1/networks", json=network, headers=d1)).status_code == 201
        r = await p.intake.post("/v1/networks", json={**network, "code": "evaluations"}, headers=d1)
        assert (r.status_code, r.json()["errors"][0]["code"]) == (422, "reserved_value")
        r = await p.intake.post("/v1/leads", json=record("13900000001", network_code="NET-SD-0007"), headers=d1)
        assert r.status_code in (201, 202), r.text

        r = await p.intake.get("/v1/networks/NET-SD-0007/evaluation?quarter=2026Q3", headers=d1)
        assert r.status_code == 200, r.text
        assert {k: r.json()[k] for k in ("records", "grade", "authenticity_level", "collection_cycle")} == {
            "records": 1,
            "grade": "D",
            "authenticity_level": 3,
            "collection_cycle": "monthly",
        }
        assert (await p.intake.get("/v1/networks/NET-SD-0007/evaluation", headers=d2)).status_code == 404

        # The dealer's fixed-network plan for the quarter, filed after the 5th of July: kept, flagged late; another
        # dealer cannot see or change it.
        plan = {"planned_networks": 2, "responsible": {"development_lead": "customer_manager"}}
        r = await p.intake.put("/v1/networks/plans/D001/2026Q3", json=plan, headers=d1)
        assert r.status_code == 200, r.text
        assert (r.json()["kind"], r.json()["late"], r.json()["developed_networks"]) == ("fixed", True, 1)
        assert (await p.intake.put("/v1/networks/plans/D001/2026Q3", json=plan, headers=d2)).status_code == 404
        assert (await p.intake.get("/v1/networks/plans/D001/2026Q3", headers=d2)).status_code == 404
        r = await p.intake.put(
            "/v1/networks/plans/D001/2026-13", json={"planned_networks": -1, "responsible": {"x": "y"}}, headers=d1
        )
        assert r.status_code == 422
        r = await p.intake.put(
            "/v1/networks/plans/D001/2026-09", json={"planned_networks": -1, "responsible": {"x": "y"}}, headers=d1
        )
        assert {(e["field"], e["code"]) for e in r.json()["errors"]} == {
            ("/planned_networks", "invalid_value"),
            ("/responsible/x", "unknown_field"),
        }

        # On demand: HQ only, and only a quarter that is over.
        r = await p.intake.post("/v1/networks/evaluations?quarter=2026Q3", headers=hq)
        assert (r.status_code, r.json()["errors"][0]["code"]) == (422, "quarter_not_over")
        clock.set(datetime(2026, 10, 2, 9, 0, tzinfo=SHANGHAI).astimezone(UTC))
        assert (await p.intake.post("/v1/networks/evaluations?quarter=2026Q3", headers=d1)).status_code == 403
        r = await p.intake.post("/v1/networks/evaluations?quarter=2026Q3", headers=hq)
        assert r.status_code == 200, r.text
        assert r.json()["evaluated"] == ["D001", "HQ"]
        r = await p.intake.post("/v1/networks/evaluations?quarter=2026Q3", headers=hq)
        assert (r.json()["evaluated"], r.json()["already_evaluated"]) == ([], 2)

        # A dealer sees its own evaluation only; another owner's is not found.
        r = await p.intake.get("/v1/networks/evaluations?quarter=2026Q3", headers=d1)
        [mine] = r.json()["items"]
        assert (mine["owner"], mine["records"], mine["kinds_expected"], mine["kinds_missing"]) == ("D001", 1, 13, 11)
        assert mine["kinds_present"] == ["fleet", "vehicle_admin_office"]
        assert mine["lines"][0]["network_class"] == "D-3"
        assert (mine["networks_planned"], mine["networks_developed"], mine["development_rating"]) == (2, 1, "poor")
        assert (await p.intake.get("/v1/networks/evaluations?quarter=2026Q3&owner=HQ", headers=d1)).status_code == 404
        assert (await p.intake.get("/v1/networks/evaluations?quarter=2026Q3", headers=d2)).json()["items"] == []
        r = await p.intake.get("/v1/networks/evaluations?quarter=2026Q3", headers=p.auth("hq_analyst"))
        assert [e["owner"] for e in r.json()["items"]] == ["D001", "HQ"]

        # October's collection target follows from policy: D001 is 300_999 and its one network was D in 2026Q3
        # (50 records a month, under the level's floor of 300); its breakdown names its own networks only.
        r = await p.intake.get("/v1/collection-plans/2026-10/dealers/D001", headers=d1)
        assert r.status_code == 200, r.text
        assert (r.json()["target"], r.json()["graded_in"], r.json()["networks"][0]["grade"]) == (300, "2026Q3", "D")
        assert (await p.intake.get("/v1/collection-plans/2026-10/dealers/D001", headers=d2)).status_code == 404
        # Nor its networks, nor its breakdown: another dealer's are not found (404), not refused.
        assert (await p.intake.get("/v1/networks/NET-SD-0007", headers=d2)).status_code == 404
        assert (await p.intake.get("/v1/networks/NET-SD-0007/stats", headers=d2)).status_code == 404
        r = await p.intake.put("/v1/collection-plans/2026-10/dealers/D001", json={"people": {"li": 1}}, headers=d2)
        assert r.status_code == 404
        r = await p.intake.put(
            "/v1/collection-plans/2026-10/dealers/D001",
            json={"networks": {"NET-SD-0007": 300, "NET-CN-X": 5}, "people": {"wang": 300}},
            headers=d1,
        )
        assert {(e["field"], e["code"]) for e in r.json()["errors"]} == {("/networks/NET-CN-X", "unknown_network")}
        r = await p.intake.put(
            "/v1/collection-plans/2026-10/dealers/D001",
            json={"networks": {"NET-SD-0007": 300}, "people": {"wang": 300}},
            headers=d1,
        )
        assert (r.json()["breakdown_networks"], r.json()["networks"][0]["planned"]) == (300, 300)

        # One event per owner for 2026Q3, on the public networks topic (the timer also evaluated HQ for 2026Q2,
        # the quarter due when the test's clock started).
        runtime = p.apps["intake"].state.runtime
        async with runtime.db.sessions() as session:
            sent = await session.execute(
                text("SELECT aggregate_id, topic, payload FROM outbox WHERE event_type = 'leadnet.network.evaluated'")
            )
            rows = [(key, topic, orjson.loads(payload)["data"]["quarter"]) for key, topic, payload in sent.all()]
        topic = f"{runtime.settings.topic_prefix}leadnet.public.networks.v1"
        assert sorted(r for r in rows if r[2] == "2026Q3") == [("D001", topic, "2026Q3"), ("HQ", topic, "2026Q3")]

        # HQ's monthly plan by industry (hq_admin only; an industry outside the policy list is named with the allowed
        # ones), then October's roll-up: planned against collected per industry, dealer and region.
        bad = {"industries": {"coal": 100, "fishing": 1}}
        r = await p.intake.put("/v1/collection-plans/2026-10", json=bad, headers=hq)
        assert r.status_code == 422 and "sand_gravel" in r.json()["errors"][0]["message"], r.text
        plan = {"industries": {"coal": 100, "logistics": 50}}
        assert (await p.intake.put("/v1/collection-plans/2026-10", json=plan, headers=d1)).status_code == 403
        r = await p.intake.put("/v1/collection-plans/2026-10", json=plan, headers=hq)
        assert (r.status_code, r.json()["plan"]["total"]) == (200, 150), r.text
        refused = record("13900000002")
        refused["customer"]["industry"] = "fishing"
        r = await p.intake.post("/v1/leads", json=refused, headers=d1)
        assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "/customer/industry")
        coal = record("13900000003")
        coal["customer"]["industry"] = "coal"
        assert (await p.intake.post("/v1/leads", json=coal, headers=d1)).status_code in (201, 202)
        assert (await p.intake.get("/v1/collection-plans/2026-10", headers=d1)).status_code == 403
        r = await p.intake.get("/v1/collection-plans/2026-10", headers=p.auth("hq_analyst"))
        month = r.json()
        assert {x["key"]: (x["planned"], x["collected"]) for x in month["industries"]}["coal"] == (100, 1)
        [mine] = [d for d in month["dealers"] if d["dealer"] == "D001"]
        assert (mine["target"], mine["collected"], mine["hand_on"], mine["region"]) == (300, 1, "open", "37")
        assert month["planned"] == 150 + 300
        async with runtime.db.sessions() as session:
            found = await session.execute(
                text(
                    "SELECT count(*) FROM outbox "
                    "WHERE event_type IN ('leadnet.collection.plan_issued', 'leadnet.network.upserted')"
                )
            )
            assert found.scalar_one() >= 2  # the plan, and the network registered


async def test_a_service_providers_party_type_reaches_intake_from_the_router(infra: Infra) -> None:
    """domain.md §1: a service provider is expected 5 or 6 network kinds, a dealer 12-14; the router registers which
    one a party is and intake learns it from `leadnet.dealer.upserted`."""
    async with pipeline(infra) as p:
        hq = p.auth("hq_admin")
        bad = {**DEALER, "code": "S001", "party_type": "agent"}
        r = await p.router.post("/v1/dealers", json=bad, headers=hq)
        assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "/party_type")
        await p.register_dealers({**DEALER, "code": "S001", "party_type": "service_provider_exclusive"}, "D009")
        r = await p.router.get("/v1/dealers/S001", headers=hq)
        assert r.json()["party_type"] == "service_provider_exclusive"
        r = await p.router.patch("/v1/dealers/S001", json={"party_type": "service_provider_non_exclusive"}, headers=hq)
        assert r.status_code == 200, r.text

        async def learnt() -> bool:
            async with p.apps["intake"].state.runtime.db.sessions() as session:
                rows = await session.execute(text("SELECT code, party_type FROM dealers ORDER BY code"))
                return dict(rows.all()) == {"D009": "dealer", "S001": "service_provider_non_exclusive"}

        await eventually(learnt, within=30)
