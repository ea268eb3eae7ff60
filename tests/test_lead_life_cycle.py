"""A lead's life cycle across the services, on the real broker (contract.md "Lead life cycle across the services"):
a closed lead stops blocking its dealer; HQ's return -> re-check -> confirmed / invalid loop; the HQ queue worked by
hand and by a dealer gaining a county; a duplicate's answer and its stored audit row agreeing."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from leadnet_shared.testing import Infra, eventually
from tests.pipeline import Pipeline, pipeline
from tests.test_end_to_end import DEALERS, RECORD

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


async def _dealers(p: Pipeline, dealers: list[dict[str, Any]] = DEALERS) -> None:
    await p.register_dealers(*dealers)


async def _enter(p: Pipeline, record: dict[str, Any], *, dealer: str | None = "D002") -> dict[str, Any]:
    headers = p.auth("dealer", dealer) if dealer else p.auth("hq_admin")
    r = await p.intake.post("/v1/leads", json=record, headers=headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def _lead(p: Pipeline, lead_id: str, role: str = "hq_admin", dealer: str | None = None) -> dict[str, Any]:
    r = await p.intake.get(f"/v1/leads/{lead_id}", headers=p.auth(role, dealer))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _open_tasks(p: Pipeline, dealer: str, *, kind: str | None = None) -> list[dict[str, Any]]:
    query = "?status=open" + (f"&kind={kind}" if kind else "")
    r = await p.scheduler.get(f"/v1/tasks{query}", headers=p.auth("dealer", dealer))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def _router_rows(p: Pipeline, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async with p.apps["router"].state.runtime.db.sessions() as session:
        return [tuple(row) for row in (await session.execute(text(sql), params)).all()]


async def _status_becomes(p: Pipeline, lead_id: str, status: str) -> dict[str, Any]:
    async def shown() -> dict[str, Any] | None:
        lead = await _lead(p, lead_id)
        return lead if lead["status"] == status else None

    found: dict[str, Any] = await eventually(shown)
    return found


class TestAClosedLeadNoLongerBlocksItsDealer:
    async def test_three_unreachable_callbacks_close_it_everywhere_and_the_dealer_enters_the_customer_again(
        self, infra: Infra
    ) -> None:
        async with pipeline(infra) as p:
            await _dealers(p)
            first = await _enter(p, RECORD)  # D002 enters a Weifang customer: D001's lead
            for _ in range(3):  # the customer cannot be reached three times: closed as invalid (scheduler)
                [task] = await eventually(lambda: _open_tasks(p, "D001"))
                r = await p.scheduler.post(
                    f"/v1/tasks/{task['task_id']}/complete",
                    json={"outcome": "unreachable"},
                    headers=p.auth("dealer", "D001"),
                )
                assert r.status_code == 200, r.text

            closed = await _status_becomes(p, first["lead_id"], "closed")  # intake shows it
            assert closed["closed_reason"] == "invalid_information"

            async def router_closed() -> list[tuple[Any, ...]]:
                rows = await _router_rows(p, "SELECT status FROM leads WHERE lead_id = :id", id=first["lead_id"])
                return rows if rows == [("closed",)] else []

            await eventually(router_closed)

            again = copy.deepcopy(RECORD)
            again["customer"]["phone"] = "+86 138-0013-8000"
            second = await _enter(p, again)  # 201, not 409 duplicate_lead
            assert second["lead_id"] != first["lead_id"]
            assert second["customer_id"] == first["customer_id"]
            assert second["customer_existed"] is True
            assert (await _lead(p, first["lead_id"]))["status"] == "closed"


class TestHqReturnsARecordAndTheEntrantRechecksIt:
    async def test_confirmed_reopens_with_corrections_and_invalid_closes(self, infra: Infra) -> None:
        async with pipeline(infra) as p:
            await _dealers(p)
            lead = await _enter(p, RECORD)
            lead_id = lead["lead_id"]

            r = await p.intake.post(
                f"/v1/leads/{lead_id}/return",
                json={"reason": "电话 13800138000 是空号"},
                headers=p.auth("dealer", "D002"),
            )
            assert r.status_code == 403
            r = await p.intake.post(
                f"/v1/leads/{lead_id}/return", json={"reason": "电话 13800138000 是空号"}, headers=p.auth("hq_admin")
            )
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "returned"
            assert r.json()["return_round"] == 1
            again = await p.intake.post(f"/v1/leads/{lead_id}/return", json={"reason": "x"}, headers=p.auth("hq_admin"))
            assert again.status_code == 409 and again.json()["code"] == "lead_not_returnable"

            # The public event is masked: HQ's words without the phone number.
            async with p.apps["intake"].state.runtime.db.sessions() as session:
                payload = (
                    await session.execute(text("SELECT payload FROM outbox WHERE event_type = 'leadnet.lead.returned'"))
                ).scalar_one()
            assert "13800138000" not in payload and "138****8000" in payload

            # The entering dealer (not the assigned one) gets the re-check, due in 3 days by policy.
            [recheck] = await eventually(lambda: _open_tasks(p, "D002", kind="recheck"))
            assert recheck["lead_id"] == lead_id and recheck["dealer"] == "D002"
            assert await _open_tasks(p, "D001", kind="recheck") == []

            r = await p.scheduler.post(
                f"/v1/tasks/{recheck['task_id']}/complete",
                json={"outcome": "within_1_month"},
                headers=p.auth("dealer", "D002"),
            )
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "/outcome"
            r = await p.scheduler.post(
                f"/v1/tasks/{recheck['task_id']}/complete",
                json={
                    "outcome": "confirmed",
                    "corrections": {
                        "customer": {"name": "张三丰"},
                        "usage": {"cargo": "砂石", "load_tons": 40, "haul_distance_km": 120},
                    },
                },
                headers=p.auth("dealer", "D002"),
            )
            assert r.status_code == 200, r.text
            assert r.json()["task"]["status"] == "done" and r.json()["task"]["outcome"] == "confirmed"

            async def corrected() -> dict[str, Any] | None:
                shown = await _lead(p, lead_id)
                return shown if shown["status"] == "accepted" and shown["record_version"] == 2 else None

            reopened = await eventually(corrected)
            assert reopened["record"]["customer"]["name"] == "张三丰"
            assert reopened["record"]["customer"]["phone"] == "+8613800138000"  # the identity is not corrected
            assert reopened["record"]["usage"]["cargo"] == "砂石"
            masked = await _lead(p, lead_id, "dealer", "D002")  # the entrant sees its corrected record masked
            assert masked["record"]["customer"]["name"] == "张*"

            # HQ returns it again; this time the entrant finds it invalid: closed everywhere.
            r = await p.intake.post(
                f"/v1/leads/{lead_id}/return", json={"reason": "仍然无效"}, headers=p.auth("hq_admin")
            )
            assert r.status_code == 200 and r.json()["return_round"] == 2
            [recheck2] = await eventually(lambda: _open_tasks(p, "D002", kind="recheck"))
            assert recheck2["task_id"] != recheck["task_id"]
            r = await p.scheduler.post(
                f"/v1/tasks/{recheck2['task_id']}/complete",
                json={"outcome": "invalid", "corrections": {"customer": {"name": "李四"}}},
                headers=p.auth("dealer", "D002"),
            )
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "/corrections"
            r = await p.scheduler.post(
                f"/v1/tasks/{recheck2['task_id']}/complete",
                json={"outcome": "invalid"},
                headers=p.auth("dealer", "D002"),
            )
            assert r.status_code == 200, r.text

            closed = await _status_becomes(p, lead_id, "closed")
            assert closed["return_round"] == 2

            async def router_state() -> list[tuple[Any, ...]]:
                rows = await _router_rows(
                    p, "SELECT status, return_round, reopen_round FROM leads WHERE lead_id = :id", id=lead_id
                )
                return rows if rows == [("closed", 2, 1)] else []

            await eventually(router_state)
            # Its open work is cancelled, and the entrant may enter the customer again.
            assert await eventually(lambda: _no_open_work(p, lead_id))
            await _enter(p, RECORD)


async def _no_open_work(p: Pipeline, lead_id: str) -> bool:
    r = await p.scheduler.get("/v1/tasks", headers=p.auth("hq_admin"))
    return all(t["status"] in ("done", "cancelled") for t in r.json()["items"] if t["lead_id"] == lead_id)


def _queued_record(phone: str, region: str) -> dict[str, Any]:
    record = copy.deepcopy(RECORD)
    record["customer"]["phone"] = phone
    record["customer"]["address"] = "山东省某地某街道"
    record["customer"]["region_code"] = region
    return record


class TestTheHqQueueIsWorked:
    async def test_hq_assigns_one_and_a_dealer_gaining_a_county_picks_up_the_other(self, infra: Infra) -> None:
        async with pipeline(infra) as p:
            await _dealers(p)
            # Two customers nobody is authorized for (Qingdao 370211, Jining 370811): the HQ queue.
            a = await _enter(p, _queued_record("13900139000", "370211"), dealer=None)
            b = await _enter(p, _queued_record("13700137000", "370811"), dealer=None)
            assert a["assigned_dealer"] is None and b["assigned_dealer"] is None
            r = await p.router.get("/v1/customers?queue=hq", headers=p.auth("hq_admin"))
            assert {c["customer_id"] for c in r.json()["items"]} == {a["customer_id"], b["customer_id"]}

            r = await p.router.post(
                f"/v1/customers/{a['customer_id']}/assign", json={"dealer": "D002"}, headers=p.auth("hq_analyst")
            )
            assert r.status_code == 403
            r = await p.router.post(
                f"/v1/customers/{a['customer_id']}/assign", json={"dealer": "D404"}, headers=p.auth("hq_admin")
            )
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "/dealer"
            r = await p.router.post(
                f"/v1/customers/{a['customer_id']}/assign", json={"dealer": "D002"}, headers=p.auth("hq_admin")
            )
            assert r.status_code == 200, r.text
            assert r.json()["assigned_dealer"] == "D002"
            r = await p.router.post(
                f"/v1/customers/{a['customer_id']}/assign", json={"dealer": "D001"}, headers=p.auth("hq_admin")
            )
            assert r.status_code == 409 and r.json()["code"] == "customer_not_queued"

            # D001 gains Jining (3708): the queued Jining customer is routed to it by the same rule.
            r = await p.router.patch(
                "/v1/dealers/D001", json={"territories": ["3707", "3708"]}, headers=p.auth("hq_admin")
            )
            assert r.status_code == 200, r.text
            assert r.json()["rerouted_from_queue"] == 1
            r = await p.router.get(f"/v1/customers/{b['customer_id']}", headers=p.auth("hq_admin"))
            assert r.json()["assigned_dealer"] == "D001"
            r = await p.router.get("/v1/customers?queue=hq", headers=p.auth("hq_admin"))
            assert r.json()["items"] == []

            # One event per lead reached intake and the scheduler: shown reassigned, first tasks planned.
            shown_a = await _status_becomes(p, a["lead_id"], "reassigned")
            shown_b = await _status_becomes(p, b["lead_id"], "reassigned")
            assert shown_a["lead_id"] == a["lead_id"] and shown_b["lead_id"] == b["lead_id"]
            [task_a] = await eventually(lambda: _open_tasks(p, "D002"))
            assert task_a["lead_id"] == a["lead_id"]
            [task_b] = await eventually(lambda: _open_tasks(p, "D001"))
            assert task_b["lead_id"] == b["lead_id"]
            rows = await _router_rows(
                p,
                "SELECT lead_id, assigned_dealer, version, explanation -> 'hq_queue' ->> 'to' FROM leads ORDER BY 2",
            )
            assert sorted(rows) == sorted([(b["lead_id"], "D001", 2, "D001"), (a["lead_id"], "D002", 2, "D002")])


class TestADuplicatesAnswerAndItsAuditRowAgree:
    async def test_the_refused_record_is_kept_only_masked_and_the_entrant_sees_that(self, infra: Infra) -> None:
        async with pipeline(infra) as p:
            await _dealers(p)
            first = await _enter(p, RECORD)
            r = await p.intake.post("/v1/leads", json=RECORD, headers=p.auth("dealer", "D002"))
            assert r.status_code == 409, r.text
            refusal = r.json()
            assert refusal["code"] == "duplicate_lead"
            assert refusal["existing_lead_id"] == first["lead_id"]
            assert "nothing was saved" not in refusal["detail"]
            assert "not saved as a lead" in refusal["detail"] and "masked" in refusal["detail"]

            for role, dealer in (("dealer", "D002"), ("hq_admin", None)):
                shown = await _lead(p, refusal["lead_id"], role, dealer)
                assert shown["status"] == "rejected_duplicate"
                assert shown["record"]["customer"]["phone"] == "138****8000"
                assert shown["record"]["customer"]["name"] == "张*"
            async with p.apps["intake"].state.runtime.db.sessions() as session:
                raw, normalized = (
                    await session.execute(
                        text("SELECT raw, normalized FROM leads WHERE lead_id = :id"), {"id": refusal["lead_id"]}
                    )
                ).one()
            stored = orjson.dumps([raw, normalized]).decode()
            assert "8000" in stored and "13800138000" not in stored and "0013 8000" not in stored
            assert "张三" not in stored
            # The accepted record itself is untouched.
            assert (await _lead(p, first["lead_id"]))["record"]["customer"]["phone"] == "+8613800138000"
