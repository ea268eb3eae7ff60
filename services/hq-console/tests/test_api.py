"""The insights API on facts fed through the console's own handler: who may see what, the filters' checks, the
masked lists behind the figures, and events the console does not know."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from hq_console.facts import ingest
from leadnet_shared.events import Envelope
from leadnet_shared.testing import Infra

from .conftest import NOW, envelope

pytestmark = [pytest.mark.postgres]


async def feed(client: httpx.AsyncClient, envelopes: list[Envelope]) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.db.transaction() as session:
        await ingest(session, envelopes)


def accepted(lead: str, customer_id: str, region: str, **extra: Any) -> Envelope:
    at = extra.pop("at", NOW - timedelta(days=1))
    data = {
        "lead_id": lead,
        "customer_id": customer_id,
        "entered_by": extra.pop("entered_by", "D001"),
        "assigned_dealer": extra.pop("assigned_dealer", "D001"),
        "region_code": region,
        "product_line": extra.pop("product_line", "tractor"),
        "tier": extra.pop("tier", "retail"),
        "source": extra.pop("source", "walk_in"),
        "accepted_at": at.isoformat(),
        "lead_version": 1,
        "customer": extra.pop("customer", {"name": "张*", "phone": "138****8000", "address": "山东省潍坊市诸城市***"}),
        **extra,
    }
    return envelope("leadnet.lead.accepted", data, at=at)


async def test_a_dealer_is_refused_and_hq_sees_its_regions(console: httpx.AsyncClient, infra: Infra) -> None:
    await feed(console, [accepted("L1", "C1", "370782"), accepted("L2", "C2", "130102")])
    for path in ("kpis", "trend", "funnel", "dealers", "regions", "networks", "customers", "records?metric=sold"):
        dealer = await console.get(f"/v1/insights/{path}", headers=infra.auth("dealer", "D001"))
        assert dealer.status_code == 403, path
        assert dealer.headers["content-type"].startswith("application/problem+json")
    assert (await console.get("/v1/insights/kpis")).status_code == 401
    everything = await console.get("/v1/insights/kpis", headers=infra.auth("hq_analyst"))
    assert everything.status_code == 200, everything.text
    assert everything.json()["records_accepted"] == 2
    assert set(everything.json()["period"]) >= {"from", "to", "granularity"}  # "from", not the Python name from_
    regional = await console.get("/v1/insights/kpis", headers=infra.auth("hq_admin", regions=["37"]))
    assert regional.json()["records_accepted"] == 1
    listed = await console.get(
        "/v1/insights/records", params={"metric": "records_accepted"}, headers=infra.auth("hq_admin", regions=["37"])
    )
    assert [item["lead_id"] for item in listed.json()["items"]] == ["L1"]


async def test_every_bad_parameter_is_reported_at_once(console: httpx.AsyncClient, infra: Infra) -> None:
    answer = await console.get(
        "/v1/insights/kpis",
        params={"from": "2026-13-01", "region": "3x", "period": "year", "dealer": "D 1"},
        headers=infra.auth("hq_admin"),
    )
    assert answer.status_code == 422
    fields = {e["field"] for e in answer.json()["errors"]}
    assert {"/from", "/region", "/period", "/dealer"} <= fields


async def test_the_list_behind_a_figure_is_masked_and_paged(console: httpx.AsyncClient, infra: Infra) -> None:
    leaky = accepted(
        "L9", "C9", "370782", customer={"name": "张三", "phone": "13800138000", "address": "诸城市密州街道1号"}
    )
    await feed(console, [accepted(f"L{i}", f"C{i}", "370782") for i in range(5)] + [leaky])
    seen, cursor, total = [], None, None
    while True:
        params = {"metric": "records_accepted", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await console.get("/v1/insights/records", params=params, headers=infra.auth("hq_admin"))).json()
        total = page.get("total") if total is None else total
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert total == 6 and len({i["id"] for i in seen}) == 6
    text = str(seen)
    assert "13800138000" not in text and "密州街道" not in text and "张三" not in text
    bad = await console.get(
        "/v1/insights/records", params={"metric": "records_accepted", "cursor": "abc"}, headers=infra.auth("hq_admin")
    )
    assert bad.status_code == 400


async def test_unknown_types_and_fields_are_kept_not_refused(console: httpx.AsyncClient, infra: Infra) -> None:
    future = envelope("leadnet.lead.teleported", {"lead_id": "L1", "where": "mars"}, at=NOW)
    odd = accepted("L1", "C1", "370782", brand_new_field={"x": 1}, tier=7)
    await feed(console, [future, odd])
    kpis = (await console.get("/v1/insights/kpis", headers=infra.auth("hq_admin"))).json()
    assert kpis["records_accepted"] == 1


def _callback(n: int, event_type: str, *, status: str = "open", due: datetime, occurred: datetime) -> Envelope:
    """`event_type` of D001's callback T<n> (lead L<n>, customer C<n>) due at `due`, in `status` since `occurred`."""
    task = {"task_id": f"T{n}", "lead_id": f"L{n}", "customer_id": f"C{n}", "dealer": "D001", "kind": "callback"}
    return envelope(
        event_type, task | {"due_at": due.isoformat(), "status": status, "occurred_at": occurred.isoformat()}, at=NOW
    )


async def test_an_erased_customer_leaves_no_personal_data_and_its_work_stops(
    console: httpx.AsyncClient, infra: Infra
) -> None:
    task = _callback(1, "leadnet.task.scheduled", due=NOW + timedelta(days=3), occurred=NOW - timedelta(hours=20))
    await feed(console, [accepted("L1", "C1", "370782"), task])
    headers = infra.auth("hq_admin")
    assert (await console.get("/v1/insights/kpis", headers=headers)).json()["tasks_open"] == 1
    erased = {"customer_id": "C1", "lead_ids": ["L1"], "erased_at": (NOW - timedelta(hours=1)).isoformat()}
    await feed(console, [envelope("leadnet.customer.erased", erased, at=NOW)])
    assert (await console.get("/v1/insights/kpis", headers=headers)).json()["tasks_open"] == 0
    (item,) = (
        await console.get("/v1/insights/records", params={"metric": "records_accepted"}, headers=headers)
    ).json()["items"]
    assert item["lead_id"] == "L1" and item["customer"] is None  # the figure stays, the person is gone


async def test_plan_completion_is_callbacks_done_against_the_approved_quota(
    console: httpx.AsyncClient, infra: Infra
) -> None:
    plan = {
        "plan_id": "P1",
        "dealer": "D001",
        "plan": "callback",
        "period": "2026-12",
        "status": "approved",
        "lines": 5,
        "quota": 4,
        "late": False,
        "due_by": NOW.isoformat(),
        "occurred_at": NOW.isoformat(),
    }
    events = [envelope("leadnet.plan.approved", plan, at=NOW)]
    due = NOW - timedelta(days=1)
    for n in range(3):
        events.append(_callback(n, "leadnet.task.scheduled", due=due, occurred=NOW - timedelta(days=3)))
        if n < 2:  # two done, one on time and one late; the third still open
            done = NOW - timedelta(days=2 - n * 1.5)
            events.append(_callback(n, "leadnet.task.completed", status="done", due=due, occurred=done))
    await feed(console, events)
    (row,) = (
        await console.get("/v1/insights/dealers", params={"dealer": "D001"}, headers=infra.auth("hq_analyst"))
    ).json()["rows"]
    assert (row["plan_quota"], row["plan_done"], row["plan_completion"]) == (4, 2, 0.5)
    assert row["callbacks"] == {"due": 3, "on_time": 1, "late": 1, "open": 1, "share_on_time": 0.3333}
