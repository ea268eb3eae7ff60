"""Each service's OpenAPI document, read without starting it: the bearer scheme, and every error as a problem."""

from __future__ import annotations

from typing import Any

import pytest

from dedup_router.app import create_app as router_app
from followup_scheduler.app import create_app as scheduler_app
from hq_console.app import create_app as console_app
from lead_intake.app import create_app as intake_app
from rewards_ledger.app import create_app as ledger_app

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


@pytest.mark.parametrize(
    "factory",
    [intake_app, router_app, scheduler_app, ledger_app, console_app],
    ids=["intake", "router", "scheduler", "ledger", "console"],
)
def test_every_operation_declares_its_token_and_its_problems(factory: Any) -> None:
    document = factory().openapi()
    assert document["components"]["securitySchemes"] == {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A JWT from the identity provider (`leadnet token` in development).",
        }
    }
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for method, path, operation in _operations(document):
        where = f"{method} {path}"
        assert operation["security"] == [{"bearerAuth": []}], where
        responses = operation["responses"]
        assert {"401", "403", "422"} <= set(responses), where
        if method in ("POST", "PUT", "PATCH"):
            assert {"400", "413"} <= set(responses), where
        if "{" in path:
            assert "404" in responses, where
        for status, response in responses.items():
            if int(status) >= 400:
                assert response["content"] == PROBLEM, (where, status)
    lists = [
        (path, op)
        for method, path, op in _operations(document)
        if method == "GET" and any(p["name"] == "cursor" for p in op.get("parameters", []))
    ]
    for path, operation in lists:
        assert {p["name"] for p in operation["parameters"]} >= {"cursor", "limit", "updated_since"}, path
        assert "invalid_cursor" in operation["responses"]["400"]["description"], path
        page = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        assert set(document["components"]["schemas"][page]["properties"]) == {"items", "next_cursor", "total"}


def test_an_endpoint_declares_the_problems_of_its_own_rules() -> None:
    operation = router_app().openapi()["paths"]["/v1/dealers"]["post"]
    assert operation["responses"]["409"] == {"description": "dealer_exists", "content": PROBLEM}
