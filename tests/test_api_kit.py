"""The kit's API habits, the same in every service on the real pipeline: one way to refuse a bad body (malformed,
empty, too deep, not UTF-8, too large even when chunked, NUL in text), one cursor format, `total` and
`?updated_since=` on every list."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from leadnet.demo import DEMO_RECORD
from leadnet_shared.testing import Infra
from tests.pipeline import Pipeline, pipeline

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

# One creating request with a JSON body per service (service, method, path, role, a valid-shaped body, a text
# field of that body as (key, pointer)).
BODIES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("intake", "POST", "/v1/leads", DEMO_RECORD),
    (
        "intake",
        "POST",
        "/v1/networks",
        {"code": "NET-1", "name": "n", "kind": "fixed", "members": [{"name": "m", "type": "insurer"}]},
    ),
    (
        "router",
        "POST",
        "/v1/dealers",
        {"code": "D001", "name": "n", "territories": ["3707"], "product_lines": ["tractor"], "capability": 1},
    ),
    ("scheduler", "POST", "/v1/tasks", {"lead_id": "L1", "kind": "callback", "due_at": "2026-12-01T00:00:00Z"}),
    ("ledger", "PUT", "/v1/ledger/guarantees/S1/V1", {"amount_fen": 1}),
]
LISTS = [
    ("intake", "/v1/networks"),
    ("intake", "/v1/leads/access-log"),
    ("router", "/v1/customers"),
    ("router", "/v1/customers/access-log"),
    ("scheduler", "/v1/tasks"),
    ("ledger", "/v1/ledger/entries"),
]


@pytest.fixture(scope="module")  # nothing below changes what another test reads: one pipeline start for all
async def services(infra: Infra) -> AsyncIterator[Pipeline]:
    async with pipeline(infra) as p:
        yield p


async def _send(p: Pipeline, service: str, method: str, path: str, **kwargs: Any) -> Any:
    client = getattr(p, service)
    return await client.request(method, path, headers={**p.auth("hq_admin"), **kwargs.pop("headers", {})}, **kwargs)


def _problem(response: Any) -> tuple[int, str]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return response.status_code, response.json()["code"]


async def test_every_service_refuses_a_bad_body_the_same_way(services: Pipeline) -> None:
    json_header = {"content-type": "application/json"}
    for service, method, path, _ in BODIES:
        where = f"{service} {method} {path}"
        for name, content in [
            ("not json", b"{not json"),
            ("not utf-8", b'{"code": "\xff\xfe"}'),
            ("too deep", b"[" * 5_000 + b"]" * 5_000),
            ("empty", b""),
        ]:
            response = await _send(services, service, method, path, content=content, headers=json_header)
            assert _problem(response) == (400, "malformed_json"), (where, name)


async def test_every_service_refuses_a_body_past_its_limit_declared_or_chunked(services: Pipeline) -> None:
    padded = b'{"name": "x"' + b" " * (100 * 1024) + b"}"  # 64 KiB is the limit of a record, of any other body

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(padded), 8192):
            yield padded[start : start + 8192]

    for service, method, path, _ in BODIES:
        declared = await _send(
            services, service, method, path, content=padded, headers={"content-type": "application/json"}
        )
        assert _problem(declared) == (413, "payload_too_large"), (service, path)
        chunked = await _send(
            services, service, method, path, content=chunks(), headers={"content-type": "application/json"}
        )
        assert "content-length" not in chunked.request.headers
        assert _problem(chunked) == (413, "payload_too_large"), (service, path, "chunked")
    # intake's batch route takes more than a record (8 MiB): the same padding is read, then judged as a batch.
    batch = await _send(
        services,
        "intake",
        "POST",
        "/v1/leads/batch",
        content=b'{"records": []' + b" " * 100_000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert batch.status_code == 200, batch.text


async def test_a_nul_character_in_text_is_a_422_naming_the_field(services: Pipeline) -> None:
    cases = [
        (
            "intake",
            "POST",
            "/v1/leads",
            {**DEMO_RECORD, "customer": {**DEMO_RECORD["customer"], "name": "王\x00"}},
            "/customer/name",
        ),
        ("intake", "POST", "/v1/networks", {**BODIES[1][3], "name": "n\x00"}, "/name"),
        ("router", "POST", "/v1/dealers", {**BODIES[2][3], "territories": ["3707\x00"]}, "/territories"),
        ("scheduler", "POST", "/v1/tasks", {**BODIES[3][3], "lead_id": "L\x00"}, "/lead_id"),
    ]
    for service, method, path, body, pointer in cases:
        response = await _send(services, service, method, path, json=body)
        assert _problem(response) == (422, "validation_failed"), (service, path, response.text)
        assert {(e["field"], e["code"]) for e in response.json()["errors"]} == {(pointer, "invalid_character")}


async def test_every_list_refuses_a_cursor_it_did_not_issue(services: Pipeline) -> None:
    for service, path in LISTS:
        client = getattr(services, service)
        for cursor in ("abc", "MTIz", "eyJhIjoxfQ"):  # garbage, base64 of "123", base64 of a JSON object
            response = await client.get(path, params={"cursor": cursor}, headers=services.auth("hq_admin"))
            assert _problem(response) == (400, "invalid_cursor"), (service, path, cursor)
        # A cursor of another list has another key shape.
        response = await client.get(path, params={"cursor": "AAAAAAAAAAA"}, headers=services.auth("hq_admin"))
        assert _problem(response) == (400, "invalid_cursor")


async def test_a_list_pages_by_cursor_with_total_first_and_updated_since(services: Pipeline) -> None:
    hq = services.auth("hq_admin")
    for code in ("NET-A", "NET-B", "NET-C"):
        response = await services.intake.post("/v1/networks", headers=hq, json={**BODIES[1][3], "code": code})
        assert response.status_code == 201, response.text
    first = (await services.intake.get("/v1/networks", params={"limit": 2}, headers=hq)).json()
    assert ([n["code"] for n in first["items"]], first["total"]) == (["NET-A", "NET-B"], 3)
    second = (
        await services.intake.get("/v1/networks", params={"limit": 2, "cursor": first["next_cursor"]}, headers=hq)
    ).json()
    assert ([n["code"] for n in second["items"]], second["next_cursor"], second["total"]) == (["NET-C"], None, None)
    later = (
        await services.intake.get("/v1/networks", params={"updated_since": "2999-01-01T00:00:00Z"}, headers=hq)
    ).json()
    assert (later["items"], later["total"]) == ([], 0)
    naive = await services.intake.get("/v1/networks", params={"updated_since": "2026-01-01T00:00:00"}, headers=hq)
    assert _problem(naive) == (422, "validation_failed")
    for service, path in LISTS:
        page = (
            await getattr(services, service).get(
                path, params={"updated_since": "2000-01-01T00:00:00+08:00"}, headers=hq
            )
        ).json()
        assert isinstance(page["total"], int) and "next_cursor" in page, (service, path)
