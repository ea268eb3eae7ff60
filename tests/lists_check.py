"""Support for the "Lists" checks (contract.md): which operations of an OpenAPI document are lists, and a call of
each on a running service with `?updated_since=` (tests/test_lists.py, tests/test_openapi_schemathesis.py)."""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

import httpx

from leadnet.services import SERVICES


@cache
def openapi_documents() -> dict[str, dict[str, Any]]:
    """The OpenAPI document of every service `leadnet up` starts, by service name (built once per test run)."""
    return {s.name: importlib.import_module(f"{s.package}.app").create_app().openapi() for s in SERVICES}


def schema_of(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return document["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else schema  # type: ignore[no-any-return]


def lists_of(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every GET answering a collection: a bare array, or an object whose `items` is an array."""
    found = []
    for path, item in document["paths"].items():
        operation = item.get("get")
        if operation is None:
            continue
        content = operation["responses"].get("200", {}).get("content", {}).get("application/json")
        if content is None:
            continue
        schema = schema_of(document, content["schema"])
        if schema.get("type") == "array" or schema.get("properties", {}).get("items", {}).get("type") == "array":
            found.append((path, operation))
    return found


async def check_lists(client: httpx.AsyncClient, document: dict[str, Any], headers: dict[str, str]) -> list[str]:
    """Each list without path parameters, called with `updated_since` in the past, in the future and malformed:
    what did not answer as contract.md "Lists" says, one line each."""
    problems: list[str] = []
    for path, operation in lists_of(document):
        if "{" in path:
            continue  # a list under one object (a customer's timeline): its document is checked by test_lists.py
        # A required query parameter (the console's `metric`) gets the first value its schema allows.
        required = {
            p["name"]: _first_value(document, p["schema"])
            for p in operation.get("parameters", [])
            if p.get("in") == "query" and p.get("required")
        }
        past = await client.get(
            path, params={**required, "updated_since": "2000-01-01T00:00:00+08:00", "limit": 1}, headers=headers
        )
        if past.status_code != 200 or not isinstance(past.json().get("total"), int):
            problems.append(f"{path}: {past.status_code} {past.text[:200]}")
            continue
        future = await client.get(path, params={**required, "updated_since": "2999-01-01T00:00:00Z"}, headers=headers)
        if future.status_code != 200 or future.json()["items"] or future.json()["total"] != 0:
            problems.append(f"{path} (future): {future.status_code} {future.text[:200]}")
        bad = await client.get(path, params={**required, "updated_since": "yesterday"}, headers=headers)
        if bad.status_code != 422 or bad.headers["content-type"] != "application/problem+json":
            problems.append(f"{path} (malformed): {bad.status_code} {bad.text[:200]}")
    return problems


def _first_value(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A value the parameter's schema accepts: its first enum member (through $ref), else a placeholder."""
    resolved = schema_of(document, schema)
    for option in [resolved, *resolved.get("anyOf", [])]:
        option = schema_of(document, option)
        if option.get("enum"):
            return option["enum"][0]
    return "x"
