"""Ingest: the facts the console keeps do not depend on the order the events arrive in (topics are read in any
order relative to each other, and a lead's events are spread over five of them), nor on how polls batch them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hq_console.facts import ingest
from leadnet_shared.events import Envelope

from .conftest import NOW, envelope

pytestmark = [pytest.mark.postgres]

T0 = NOW - timedelta(days=20)


def life(p: str) -> list[Envelope]:
    """One customer's records as the producers publish them, ids prefixed with `p`."""
    facts = {
        "lead_id": f"{p}L1",
        "customer_id": f"{p}C1",
        "entered_by": "D001",
        "assigned_dealer": "D002",
        "region_code": "370782",
        "product_line": "tractor",
        "tier": "retail",
        "source": "walk_in",
        "cross_region": True,
        "lead_version": 1,
    }
    task = {
        "lead_id": f"{p}L1",
        "customer_id": f"{p}C1",
        "dealer": "D002",
        "due_at": (T0 + timedelta(days=3)).isoformat(),
    }

    def at(days: float) -> str:
        return (T0 + timedelta(days=days)).isoformat()

    def task_event(event_type: str, n: int, kind: str, status: str, days: float, **more: str) -> Envelope:
        """`event_type` of the lead's task T<n>, in `status` since `days` after T0."""
        return envelope(
            event_type,
            task | {"task_id": f"{p}T{n}", "kind": kind, "status": status, "occurred_at": at(days)} | more,
            at=T0,
        )

    return [
        envelope("leadnet.lead.accepted", facts | {"accepted_at": at(0), "customer": {"phone": "139****0000"}}, at=T0),
        envelope(
            "leadnet.customer.tier_changed",
            {
                "customer_id": f"{p}C1",
                "old_tier": "retail",
                "new_tier": "gold_silver",
                "lead_id": f"{p}L1",
                "changed_at": at(0.1),
            },
            at=T0,
        ),
        task_event("leadnet.task.scheduled", 1, "callback", "open", 0.01),
        task_event("leadnet.task.completed", 1, "callback", "done", 2, outcome="within_1_month"),
        envelope("leadnet.lead.verified", facts | {"verified_at": at(2)}, at=T0),
        task_event("leadnet.task.scheduled", 2, "promotion", "open", 2.1),
        task_event("leadnet.task.overdue", 2, "promotion", "overdue", 4),
        task_event("leadnet.task.scheduled", 3, "maintenance", "open", 6),
        envelope(
            "leadnet.sale.attributed",
            {
                "sale_id": f"{p}S1",
                "customer_id": f"{p}C1",
                "seller": "D002",
                "attributed_lead_id": f"{p}L1",
                "lead_cross_region": True,
                "credited_dealer": "D002",
                "sold_at": at(5),
                "vehicles": [{"vin": "V1", "product_line": "tractor"}],
            },
            at=T0,
        ),
        envelope(
            "leadnet.ledger.entry_posted",
            {
                "entry_id": f"{p}E1",
                "kind": "info_fee",
                "dealer": "D001",
                "amount_fen": 200,
                "lead_id": f"{p}L1",
                "customer_id": f"{p}C1",
                "posted_at": at(2),
            },
            at=T0,
        ),
        envelope(
            "leadnet.ledger.entry_posted",
            {
                "entry_id": f"{p}E2",
                "kind": "purchase_reward",
                "dealer": "D001",
                "amount_fen": 10000,
                "sale_id": f"{p}S1",
                "customer_id": f"{p}C1",
                "posted_at": at(5),
            },
            at=T0,
        ),
    ]


async def facts_of(client: httpx.AsyncClient, p: str) -> dict[str, Any]:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    out: dict[str, Any] = {}
    async with runtime.db.sessions() as session:
        from sqlalchemy import text

        for table, key in (
            ("leads", "lead_id"),
            ("tasks", "task_id"),
            ("sales", "sale_id"),
            ("ledger_entries", "entry_id"),
            ("tier_changes", "customer_id"),
        ):
            rows = (
                (
                    await session.execute(
                        text(f"SELECT * FROM {table} WHERE {key} LIKE :p ORDER BY {key}"), {"p": p + "%"}
                    )
                )
                .mappings()
                .all()
            )
            out[table] = [
                {
                    k: (v.replace(p, "") if isinstance(v, str) else v)
                    for k, v in row.items()
                    if k not in ("event_id", "updated_at")
                }
                for row in rows
            ]
    return out


async def test_the_same_life_in_order_gives_the_expected_facts(console: httpx.AsyncClient) -> None:
    runtime = console.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.db.transaction() as session:
        await ingest(session, life("ord-"))
    got = await facts_of(console, "ord-")
    (lead,) = got["leads"]
    assert lead["promoted_at"] is not None and lead["sold_at"] is not None and lead["verified_at"] is not None
    tasks = {t["task_id"]: t for t in got["tasks"]}
    assert tasks["T1"]["close_reason"] == "completed"
    assert tasks["T2"]["close_reason"] == "sold" and tasks["T2"]["region_code"] == "370782"  # filled from the lead
    assert tasks["T3"]["closed_at"] is None  # maintenance after the sale stays open
    assert {e["entry_id"]: e["region_code"] for e in got["ledger_entries"]} == {"E1": "370782", "E2": "370782"}


async def ingest_in_any_order(runtime: Any, data: st.DataObject, events: list[Envelope], *, batches: int) -> None:
    """The events in an order and in at most `batches` polls that Hypothesis draws."""
    shuffled = data.draw(st.permutations(events))
    cuts = sorted(data.draw(st.sets(st.integers(min_value=1, max_value=len(shuffled) - 1), max_size=batches - 1)))
    for first, last in zip([0, *cuts], [*cuts, len(shuffled)], strict=True):
        async with runtime.db.transaction() as session:
            await ingest(session, list(shuffled[first:last]))


async def ingested_twice(
    console: httpx.AsyncClient, data: st.DataObject, life: Callable[[str], list[Envelope]], *, tag: str, batches: int
) -> tuple[str, str]:
    """`life` under two new id prefixes (returned): in order in one transaction, and in an order and polls that
    Hypothesis draws."""
    runtime = console.app.state.runtime  # type: ignore[attr-defined]
    run = data.draw(st.uuids()).hex[:8]
    ordered, shuffled = f"{tag}o{run}-", f"{tag}s{run}-"
    async with runtime.db.transaction() as session:
        await ingest(session, life(ordered))
    await ingest_in_any_order(runtime, data, life(shuffled), batches=batches)
    return ordered, shuffled


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_arrival_order_and_batching_do_not_change_the_facts(
    console: httpx.AsyncClient, data: st.DataObject
) -> None:
    ordered, shuffled = await ingested_twice(console, data, life, tag="", batches=5)
    assert await facts_of(console, shuffled) == await facts_of(console, ordered)


def pending_sales_life(p: str) -> list[Envelope]:
    """Three sales reported for a confirmation: one confirmed (its attribution names confirmed_at), one rejected,
    one cancelled while pending; and one still waiting."""

    def at(hours: int) -> str:
        return (T0 + timedelta(hours=hours)).isoformat()

    def reported(sale: str) -> Envelope:
        data = {
            "sale_id": f"{p}{sale}",
            "customer_id": f"{p}C{sale}",
            "seller": "D002",
            "supplied_by": "D001",
            "confirmer": "D001",
            "region_code": "370782",
            "product_line": "tractor",
            "vehicle_count": 2,
            "sold_at": at(0),
            "reported_at": at(1),
        }
        return envelope("leadnet.sale.pending_confirmation", data, at=T0)

    confirmed = {
        "sale_id": f"{p}P1",
        "customer_id": f"{p}CP1",
        "seller": "D002",
        "credited_dealer": "D002",
        "sold_at": at(0),
        "vehicles": [{"vin": "V9", "product_line": "tractor"}, {"vin": "V8", "product_line": "tractor"}],
        "confirmed_by": "D001",
        "confirmed_at": at(3),
    }
    rejected = {"sale_id": f"{p}P2", "customer_id": f"{p}CP2", "seller": "D002", "rejected_by": "D001"}
    cancelled = {"sale_id": f"{p}P3", "customer_id": f"{p}CP3", "cancelled_at": at(5), "was_pending": True}
    return [
        *(reported(sale) for sale in ("P1", "P2", "P3", "P4")),
        envelope("leadnet.sale.attributed", confirmed, at=T0),
        envelope("leadnet.sale.rejected", rejected | {"rejected_at": at(4), "vehicle_count": 2}, at=T0),
        envelope("leadnet.sale.cancelled", cancelled, at=T0),
    ]


async def _pending_rows(client: httpx.AsyncClient, p: str) -> list[dict[str, Any]]:
    from sqlalchemy import text

    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.db.sessions() as session:
        sql = "SELECT * FROM pending_sales WHERE sale_id LIKE :p ORDER BY sale_id"
        rows = (await session.execute(text(sql), {"p": p + "%"})).mappings().all()
    return [{k: (v.replace(p, "") if isinstance(v, str) else v) for k, v in row.items()} for row in rows]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_pending_sales_settle_the_same_whatever_the_arrival_order(
    console: httpx.AsyncClient, data: st.DataObject
) -> None:
    ordered, shuffled = await ingested_twice(console, data, pending_sales_life, tag="p", batches=4)
    got = await _pending_rows(console, ordered)
    assert [(r["sale_id"], r["outcome"], r["vehicles"], r["seller"]) for r in got] == [
        ("P1", "confirmed", 2, "D002"),
        ("P2", "rejected", 2, "D002"),
        ("P3", "cancelled", 2, "D002"),
        ("P4", None, 2, "D002"),
    ]
    assert got[1]["rejected_by"] == "D001" and got[1]["settled_at"] == got[1]["rejected_at"]
    assert await _pending_rows(console, shuffled) == got
