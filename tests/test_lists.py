"""contract.md "Lists": every list of every service takes `?cursor=`, `?limit=` and `?updated_since=` and returns
`total` on its first page, so a DMS that missed webhooks can catch up. Walks the OpenAPI documents of every service
`leadnet up` starts (a service added to `leadnet/services.py` is walked without touching this test): a GET answering
a collection is a list. The same lists are called on the running services by tests/test_openapi_schemathesis.py
(`tests/lists_check.py`), where the services are started anyway."""

from __future__ import annotations

import pytest

from leadnet.services import SERVICES
from tests.lists_check import lists_of, openapi_documents, schema_of


@pytest.mark.parametrize("service", [s.name for s in SERVICES])
def test_every_list_in_the_document_pages_syncs_and_counts(service: str) -> None:
    document = openapi_documents()[service]
    lists = lists_of(document)
    for path, operation in lists:
        content = operation["responses"]["200"]["content"]["application/json"]["schema"]
        page = schema_of(document, content)
        assert page.get("type") != "array", f"{service} {path}: a bare array cannot say what comes next"
        assert {"items", "next_cursor", "total"} <= set(page["properties"]), f"{service} {path}: {page['properties']}"
        parameters = {p["name"]: p for p in operation.get("parameters", [])}
        assert {"cursor", "limit", "updated_since"} <= set(parameters), f"{service} {path}: {sorted(parameters)}"
        since = schema_of(document, parameters["updated_since"]["schema"])
        formats = {since.get("format")} | {s.get("format") for s in since.get("anyOf", [])}
        assert "date-time" in formats, f"{service} {path}: updated_since is not an RFC 3339 instant"


def test_the_walk_finds_the_lists_of_the_contract() -> None:
    walked = {(service, path) for service, document in openapi_documents().items() for path, _ in lists_of(document)}
    assert {("router", "/v1/customers"), ("router", "/v1/sales"), ("scheduler", "/v1/tasks"),
            ("ledger", "/v1/ledger/entries"), ("notifier", "/v1/webhooks")} <= walked  # fmt: skip
