"""`leadnet import-vehicles`: a GB18030 CSV export of the maker's registry reaches the router's registry; refused
rows are reported at their line in the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from dedup_router.app import create_app
from dedup_router.settings import RouterSettings
from leadnet.vehicle_import import VehicleImport, account, read_batches
from leadnet_shared.testing import Infra, fresh_database, new_topic_prefix, running, service_settings
from tests.fixtures import WEIFANG_WITH_DUMPS

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

CSV = """product_line,vin,model,delivered_to,delivered_at,ignored
tractor,lrds6peb2kr000001,欧曼EST 6 牵引车,D001,2026-10-01,x
dump,LRDS6PEB4KR000002,欧曼GTL 自卸车,D001,2026-10-02T08:00:00+08:00,
tractor,LRDS6PEB5KR000003,欧曼EST 6 牵引车,D404,2026-10-03,
"""


async def test_a_gb18030_export_loads_and_bad_rows_are_named_by_line(infra: Infra, tmp_path: Path) -> None:
    path = tmp_path / "vehicles.csv"
    path.write_bytes(CSV.encode("gb18030"))
    batches = list(read_batches(path, size=2))
    assert [(line, [v["vin"] for v in rows]) for line, rows in batches] == [
        (2, ["lrds6peb2kr000001", "LRDS6PEB4KR000002"]),
        (4, ["LRDS6PEB5KR000003"]),
    ]
    assert batches[0][1][0]["model"] == "欧曼EST 6 牵引车"
    assert batches[0][1][0]["delivered_at"] == "2026-10-01T00:00:00+08:00"  # a date: midnight in Shanghai

    url = await fresh_database(infra.database_server_url, "dedup_router")
    settings = service_settings(
        RouterSettings, infra, database_url=url, topic_prefix=await new_topic_prefix(infra.bootstrap_servers)
    )
    result = VehicleImport()
    async with running(create_app(settings)) as client:
        r = await client.post(
            "/v1/dealers",
            headers=infra.auth("hq_admin"),
            json=WEIFANG_WITH_DUMPS,
        )
        assert r.status_code == 201, r.text
        for first_line, rows in batches:
            response = await client.put("/v1/vehicles", json={"vehicles": rows}, headers=infra.auth("hq_admin"))
            account(result, response, first_line=first_line)
        r = await client.get("/v1/vehicles/LRDS6PEB2KR000001", headers=infra.auth("hq_analyst"))
        assert (r.status_code, r.json()["model"], r.json()["delivered_to"]) == (200, "欧曼EST 6 牵引车", "D001")
    assert (result.created, result.updated) == (2, 0)
    # Line 4: a wrong check digit and a dealer nobody registered, both reported.
    assert [(line, column, code) for line, column, code, _ in result.problems] == [
        (4, "vin", "invalid_vin"),
        (4, "delivered_to", "unknown_dealer"),
    ]
