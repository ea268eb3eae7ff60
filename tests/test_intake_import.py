"""`leadnet import` on the real pipeline: a broken file reports each bad row and imports the rest; an interrupted
import resumes without submitting anything twice."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from lead_intake.importer import ImportState, ImportSummary, read_results, run_import_async, state_path_for
from lead_intake.models import Lead
from leadnet.demo import DEMO_RECORD
from leadnet_shared.testing import Infra
from tests.fixtures import lead_record
from tests.pipeline import Pipeline, pipeline
from tests.test_intake_http import warm_up

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


def record(i: int) -> dict[str, Any]:
    return lead_record(phone=f"139{i:08d}")


@asynccontextmanager
async def importing(infra: Infra, dealer: str, **intake_overrides: Any) -> AsyncIterator[Pipeline]:
    """A pipeline in which `dealer` is registered and the router answers (so imports get verdicts, not 202s)."""
    async with pipeline(infra, intake_overrides=intake_overrides) as p:
        await p.register_dealers(dealer)  # only registered dealers write
        await warm_up(p)
        yield p


async def import_file(p: Pipeline, path: Path, token: str, **options: Any) -> ImportSummary:
    """`leadnet import` of `path` into the pipeline's intake (or through `options["client"]`), without progress."""
    options.setdefault("client", p.intake)
    return await run_import_async(path=path, base_url="http://test", token=token, progress=False, **options)


async def saved_leads(p: Pipeline, dealer: str) -> int:
    async with p.apps["intake"].state.runtime.db.sessions() as session:
        query = select(func.count()).select_from(Lead).where(Lead.entered_by == dealer)
        return int((await session.execute(query)).scalar_one())


CSV_COLUMNS = [
    "source",
    "network_code",
    "customer.name",
    "customer.phone",
    "customer.address",
    "vehicles_in_use.0.brand",
    "vehicles_in_use.0.model",
    "vehicles_in_use.0.quantity",
    "vehicles_in_use.0.function",
    "vehicles_in_use.0.horsepower",
    "vehicles_in_use.0.body_spec",
    "vehicles_in_use.1.brand",
    "vehicles_in_use.1.model",
    "vehicles_in_use.1.quantity",
    "vehicles_in_use.1.function",
    "vehicles_in_use.1.horsepower",
    "vehicles_in_use.1.body_spec",
    "purchase_intent.brand",
    "purchase_intent.model",
    "purchase_intent.quantity",
    "purchase_intent.function",
    "purchase_intent.horsepower",
    "purchase_intent.body_spec",
    "purchase_intent.horizon",
]


def csv_row(i: int, *, phone: str | None = None, address: str = "山東省濰坊市諸城市密州街道") -> list[str]:
    return [
        "walk_in",
        "NET-SD-0007",
        "張三",
        phone or f"137 {i:04d} {i:04d}",
        address,
        "歐曼",
        "EST 6",
        "2輛",
        "tractor",
        "460",
        "半掛牽引",
        "",
        "",
        "",
        "",
        "",
        "",
        "歐曼",
        "EST 6",
        "1",
        "tractor",
        "560匹",
        "半掛牽引",
        "within_2_weeks",
    ]


class TestBrokenFiles:
    async def test_ndjson_utf8_reports_each_bad_row_and_imports_the_rest(self, infra: Infra, tmp_path: Path) -> None:
        lines = [orjson.dumps(record(i)) for i in range(10)]
        lines[2] = orjson.dumps(record(2)).replace("张三".encode(), b"\xff\xfe")  # not UTF-8
        lines[4] = b'{"source": "walk_in", '  # cut off
        bad_phone = record(6)
        bad_phone["customer"]["phone"] = "12345"
        lines[6] = orjson.dumps(bad_phone)
        lines[7] = orjson.dumps({**record(7), "assigned_dealer": "D001"})
        lines[9] = orjson.dumps(record(0))  # the same customer again: a duplicate
        source = tmp_path / "leads.ndjson"
        source.write_bytes(b"\n".join(lines[:5]) + b"\n\n" + b"\n".join(lines[5:]) + b"\n")
        async with importing(infra, "D005", wait_budget_seconds=10) as p:
            # One batch at a time, so "the same customer again" is the later row of the file: with concurrent
            # batches the copy that reaches the router first is the one saved, which may be either row.
            summary = await import_file(p, source, infra.token("dealer", "D005"), batch_size=4, concurrency=1)
            results = read_results(summary.result_path)
            assert [(r["row"], r["line"], r["status"], r["codes"]) for r in results if r["status"] != "201"] == [
                ("3", "3", "400", "bad_encoding"),
                ("5", "5", "400", "malformed_json"),
                ("7", "8", "422", "invalid_phone"),
                ("8", "9", "422", "unknown_field"),
                ("10", "11", "409", "duplicate_lead"),
            ]
            assert [r["row"] for r in results] == [str(i) for i in range(1, 11)]
            assert (summary.rows, summary.accepted, summary.unreadable, summary.refused, summary.duplicates) == (
                10,
                5,
                2,
                2,
                1,
            )
            assert results[9]["lead_id"] == results[0]["lead_id"]  # the duplicate names the existing lead
            assert await saved_leads(p, "D005") == 6  # five accepted + the refused duplicate attempt

    async def test_gb18030_csv_with_bad_rows(self, infra: Infra, tmp_path: Path) -> None:
        source = tmp_path / "leads.csv"
        with source.open("w", encoding="gb18030", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            for i in range(6):
                writer.writerow(
                    csv_row(
                        i, phone="abc" if i == 3 else None, address="火星" if i == 4 else "山東省濰坊市諸城市密州街道"
                    )
                )
        data = source.read_bytes().split(b"\r\n")
        data[2] = data[2].replace("張三".encode("gb18030"), b"\x81\x20")  # not GB18030: row 2
        source.write_bytes(b"\r\n".join(data))
        async with importing(infra, "D006", wait_budget_seconds=10) as p:
            summary = await import_file(p, source, infra.token("dealer", "D006"))
            assert summary.encoding == "gb18030"
            results = read_results(summary.result_path)
            assert [(r["row"], r["status"], r["codes"]) for r in results] == [
                ("1", "201", ""),
                ("2", "400", "bad_encoding"),
                ("3", "201", ""),
                ("4", "422", "invalid_phone"),
                ("5", "422", "address_unresolved"),
                ("6", "201", ""),
            ]
            lead = await p.intake.get(f"/v1/leads/{results[0]['lead_id']}", headers=p.auth("hq_admin"))
            stored = lead.json()["record"]
            # Traditional to simplified, text numbers parsed, the second (empty) vehicle dropped.
            assert stored["customer"]["name"] == "张三"
            assert stored["vehicles_in_use"] == DEMO_RECORD["vehicles_in_use"]  # 欧曼 EST 6, 2 x 460 hp, 半挂牵引
            assert stored["purchase_intent"]["horsepower"] == 560


class _CrashAfter(httpx.AsyncBaseTransport):
    """Lets `n` batches through, then loses the answer of the next one after intake saved it (a crash)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, n: int) -> None:
        self.inner, self.left = inner, n

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        if self.left == 0:
            raise RuntimeError("the importing process died")
        self.left -= 1
        return response


class TestResume:
    async def test_an_interrupted_import_resumes_without_double_submission(self, infra: Infra, tmp_path: Path) -> None:
        source = tmp_path / "leads.ndjson"
        source.write_bytes(b"\n".join(orjson.dumps(record(100 + i)) for i in range(25)) + b"\n")
        result = tmp_path / "out" / "results.csv"
        result.parent.mkdir()
        token = infra.token("dealer", "D007")
        async with importing(infra, "D007", wait_budget_seconds=10) as p:
            crashing = httpx.AsyncClient(
                transport=_CrashAfter(httpx.ASGITransport(app=p.apps["intake"]), 2), base_url="http://test"
            )
            with pytest.raises(RuntimeError, match="died"):
                await import_file(p, source, token, result_path=result, batch_size=5, concurrency=1, client=crashing)
            state = ImportState.load(state_path_for(result))
            assert state is not None and (state.next_row, state.next_batch) == (11, 2)
            assert await saved_leads(p, "D007") == 15  # the third batch was saved; its answer was lost
            summary = await import_file(p, source, token, result_path=result, batch_size=5)
            assert summary.resumed_from_row == 10
            assert (summary.rows, summary.accepted) == (25, 25)
            assert await saved_leads(p, "D007") == 25  # the third batch was replayed, not saved again
            rows = read_results(result)
            assert [r["row"] for r in rows] == [str(i) for i in range(1, 26)]
            assert {r["status"] for r in rows} == {"201"}


class TestVerdictsAfterSending:
    async def test_rows_left_pending_get_their_verdicts_when_the_import_is_run_again(
        self, infra: Infra, tmp_path: Path
    ) -> None:
        source = tmp_path / "leads.ndjson"
        source.write_bytes(b"\n".join(orjson.dumps(record(200 + i)) for i in range(12)) + b"\n")
        result = tmp_path / "results.csv"
        token = infra.token("dealer", "D008")
        async with importing(infra, "D008") as p:
            # Sent with Prefer: respond-async and no time to collect verdicts: every saved row stays 202.
            first = await import_file(p, source, token, result_path=result, batch_size=5, settle_seconds=0)
            assert (first.rows, first.pending, first.accepted) == (12, 12, 0)
            pending = read_results(result)
            assert {r["status"] for r in pending} == {"202"} and all(r["lead_id"] for r in pending)
            # Run again: nothing is sent twice; the verdicts are collected and the result file rewritten.
            again = await import_file(p, source, token, result_path=result, batch_size=5, settle_seconds=30)
            assert (again.rows, again.pending, again.accepted) == (12, 0, 12)
            final = read_results(result)
            assert [(r["row"], r["status"], r["lead_id"]) for r in final] == [
                (r["row"], "201", r["lead_id"]) for r in pending
            ]
            assert await saved_leads(p, "D008") == 12
