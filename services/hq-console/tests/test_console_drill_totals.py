"""Every linked number has its list: for each number the funnel and dealers pages link, the masked list behind it
(`GET /v1/insights/records?metric=`, the same filters plus the cell's own dimension) has exactly that many rows; and
sales pending confirmation and rejected, counted and listed, against a count made here from the seeded stream.

Runs on the stream of `test_figures` (one console fed through the real broker for the module's one test)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import httpx

from leadnet_shared.testing import Infra

from .test_figures import DEALERS_, NOW, Filter, World, fed_console, month_bounds, world  # noqa: F401

STAGES = {"accepted": "funnel_accepted", "verified": "funnel_verified", "promoted": "funnel_promoted"}
STAGES["sold"] = "funnel_sold"
GROUP_FILTER = {"source": "source", "network": "network", "tier": "tier", "product_line": "product_line"}
# the dealers page's linked cells: (path in the row, the list it links to)
DEALER_CELLS = [
    *((("callbacks", part), f"callbacks_{part}") for part in ("due", "on_time", "late", "open")),
    *((("promotions", part), f"promotions_{part}") for part in ("due", "on_time", "late", "open")),
    (("overdue",), "tasks_became_overdue"),
    (("escalated",), "tasks_escalated"),
    (("plan_done",), "callbacks_completed"),
    (("cross_region_sales",), "cross_region_sales"),
    (("sales_pending",), "sales_pending"),
    (("sales_rejected",), "sales_rejected"),
    (("records_received",), "records_received"),
    (("verified",), "verified"),
    (("sold",), "sold"),
]


async def _total(client: httpx.AsyncClient, headers: dict[str, str], params: dict[str, str], metric: str) -> int:
    answer = await client.get("/v1/insights/records", params=params | {"metric": metric, "limit": "1"}, headers=headers)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["total"])


def _cell(row: dict[str, Any], path: tuple[str, ...]) -> int:
    value: Any = row
    for key in path:
        value = value[key]
    return int(value)


async def test_every_linked_number_equals_its_lists_total_and_pending_sales_are_counted(
    fed_console: httpx.AsyncClient,  # noqa: F811 (the fixture of test_figures)
    infra: Infra,
    world: World,  # noqa: F811
) -> None:
    client, headers = fed_console, infra.auth("hq_analyst")
    checked = nonzero = 0
    for at in ("2026-11-15", "2026-12-16"):
        params = {"period": "month", "at": at}
        # the funnel: the whole and each group's row, every stage after "received"; "received" links to the
        # records that reached the router, the refusals at intake being their own list (docs/console-kpis.md)
        for by in ("none", *GROUP_FILTER):
            rows = (await client.get("/v1/insights/funnel", params=params | {"by": by}, headers=headers)).json()["rows"]
            for row in rows:
                if by != "none" and row["key"] is None:
                    continue  # a group of unknown value links nowhere
                narrowed = params | ({GROUP_FILTER[by]: row["key"]} if by != "none" else {})
                received = await _total(client, headers, narrowed, "records_received")
                refused = await _total(client, headers, narrowed, "refused_at_intake")
                assert row["received"] == received + refused, (by, row)
                for stage, metric in STAGES.items():
                    assert row[stage] == await _total(client, headers, narrowed, metric), (by, row, stage)
                    checked, nonzero = checked + 1, nonzero + bool(row[stage])
        # the dealers page: every linked cell of every dealer, the list narrowed to the dealer
        for region in (None, "37"):
            scoped = params | ({"region": region} if region else {})
            rows = (await client.get("/v1/insights/dealers", params=scoped, headers=headers)).json()["rows"]
            assert {r["dealer"] for r in rows} >= (set(DEALERS_) if region is None else set())
            for row in rows:
                for path, metric in DEALER_CELLS:
                    number = _cell(row, path)
                    assert number == await _total(client, headers, scoped | {"dealer": row["dealer"]}, metric), (
                        at,
                        region,
                        row["dealer"],
                        metric,
                    )
                    checked, nonzero = checked + 1, nonzero + bool(number)
    assert checked > 200 and nonzero > 100  # the seeded stream fills most cells

    # sales pending confirmation and rejected: the overview's figures, their lists and the dealers' columns
    for first in (date(2026, 11, 1), date(2026, 12, 1)):
        start, end = month_bounds(first)
        as_of = min(end, NOW)
        params = {"period": "month", "at": first.isoformat()}

        def within(at: datetime | None, start: datetime = start, end: datetime = end) -> bool:
            return at is not None and start <= at < end

        for f in (Filter(), Filter(region="3707"), Filter(dealer="D002")):
            query = params | {k: v for k, v in (("region", f.region), ("dealer", f.dealer)) if v}
            kept = [p for p in world.pending if f.keeps(p.region, p.line, p.seller)]
            pending = [p for p in kept if p.reported < as_of and (p.settled is None or p.settled >= as_of)]
            rejected = [p for p in kept if within(p.rejected)]
            kpis = (await client.get("/v1/insights/kpis", params=query, headers=headers)).json()
            assert (kpis["sales_pending"], kpis["sales_rejected"]) == (len(pending), len(rejected)), (first, f)
            for metric, expected in (("sales_pending", pending), ("sales_rejected", rejected)):
                page = (
                    await client.get("/v1/insights/records", params=query | {"metric": metric}, headers=headers)
                ).json()
                assert page["total"] == len(expected), (first, f, metric)
                assert sorted(item["id"] for item in page["items"]) == sorted(p.sale_id for p in expected)
                assert all(item["kind"] == "pending_sale" for item in page["items"])
        rows = (await client.get("/v1/insights/dealers", params=params, headers=headers)).json()["rows"]
        for row in rows:
            mine = [p for p in world.pending if p.seller == row["dealer"]]
            assert row["sales_pending"] == len(
                [p for p in mine if p.reported < as_of and (p.settled is None or p.settled >= as_of)]
            )
            assert row["sales_rejected"] == len([p for p in mine if within(p.rejected)])
    november = month_bounds(date(2026, 11, 1))
    assert any(p.rejected and november[0] <= p.rejected < november[1] for p in world.pending)
    assert any(p.settled is None for p in world.pending)  # the seeded stream has both kinds
