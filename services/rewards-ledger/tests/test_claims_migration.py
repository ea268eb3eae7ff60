"""Migration 0003: sales the ledger stored before it kept the router's claims get, as claims, what the ledger's own
rule made of them until then (so settling them again after the upgrade changes no posting)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest

from leadnet_shared.migrate import upgrade
from leadnet_shared.settings import to_plain_url
from leadnet_shared.testing import Infra, fresh_database

pytestmark = [pytest.mark.postgres]

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


async def test_stored_sales_keep_what_they_were_paid_on(infra: Infra) -> None:
    url = await fresh_database(infra.database_server_url)  # empty: migrated by hand below
    await asyncio.to_thread(upgrade, "rewards_ledger", url, "0002")
    conn = await asyncpg.connect(to_plain_url(url))
    try:
        await conn.execute(
            "INSERT INTO leads (lead_id, customer_id, entered_by, authorized_dealer, reward_eligible, cross_region,"
            " tier, updated_at) VALUES ('L1', 'C1', 'D002', 'D001', true, true, 'retail', $1)",
            T0,
        )
        sales = [("S1", "D001", None), ("S2", "D002", "D001"), ("S3", "D002", None), ("S4", "D002", "D077")]
        for sale_id, seller, supplied_by in sales:
            await conn.execute(
                "INSERT INTO sales (sale_id, lead_id, customer_id, seller, supplied_by, lead_entered_by, sold_at,"
                " received_at) VALUES ($1, 'L1', 'C1', $2, $3, 'D002', $4, $4)",
                sale_id,
                seller,
                supplied_by,
                T0,
            )
            await conn.execute(
                "INSERT INTO sale_vehicles VALUES ($1, $2, 'tractor'), ($1, $3, 'dump')",
                sale_id,
                sale_id + "V1",
                sale_id + "V2",
            )
    finally:
        await conn.close()
    await asyncio.to_thread(upgrade, "rewards_ledger", url)
    conn = await asyncpg.connect(to_plain_url(url))
    try:
        rows = {r["sale_id"]: r["claims"] for r in await conn.fetch("SELECT sale_id, claims::text FROM sales")}
    finally:
        await conn.close()
    assert rows["S1"] == '[{"kind": "purchase_reward", "dealer": "D002"}]'  # another dealer sold
    assert rows["S2"] == (
        '[{"vin": "S2V1", "kind": "profit_guarantee", "dealer": "D002", "product_line": "tractor"}, '
        '{"vin": "S2V2", "kind": "profit_guarantee", "dealer": "D002", "product_line": "dump"}]'
    )
    assert rows["S3"] == "[]" and rows["S4"] == "[]"  # own stock; a supplier not authorized there
