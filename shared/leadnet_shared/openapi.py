"""The OpenAPI document tells the truth about errors: every problem an operation answers is declared with its status,
as `application/problem+json` with the problem schema, and the bearer token is a security scheme (so `/docs` has an
Authorize button and a DMS developer's generated client sends it).

Endpoints declare the errors of their own rules (`responses=problem_responses((Conflict, "dealer_exists"))`); what
every operation of a kind answers is added here, once: 401/403 where a token is required (the bearer scheme comes
from `auth.bearer_principal`), 422 for parameters and bodies (FastAPI's default says `application/json` with its own
schema, which the services never send), 400 and 413 on POST/PUT/PATCH, 400 where a list takes a cursor, 404 where the
path names an object, 503 when the database connection was lost.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict

from leadnet_shared.problems import PROBLEM_JSON, PROBLEM_SCHEMA_REF

_METHODS = ("get", "put", "post", "patch", "delete")


class FieldProblemDoc(BaseModel):
    field: str
    code: str
    message: str


class ProblemDoc(BaseModel):
    """RFC 9457 problem details as the services send them (an error may add members of its own)."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str
    title: str
    status: int
    code: str
    detail: str
    instance: str | None = None
    errors: list[FieldProblemDoc] | None = None


_UNAVAILABLE = "unavailable (the database connection was lost: retry, with the same Idempotency-Key)"


def install_openapi(app: FastAPI) -> None:
    """Replace the app's document builder by one that completes every operation's error responses."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            complete_document(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete_document(document: dict[str, Any]) -> None:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["FieldProblem"] = FieldProblemDoc.model_json_schema()
    problem = ProblemDoc.model_json_schema(ref_template="#/components/schemas/{model}")
    problem.pop("$defs", None)
    field_problems = {"type": "array", "items": {"$ref": "#/components/schemas/FieldProblem"}}
    problem["properties"]["errors"] = {"anyOf": [field_problems, {"type": "null"}]}
    schemas["Problem"] = problem
    for item in document.get("paths", {}).values():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            codes: dict[int, list[str]] = {422: ["validation_failed"], 503: [_UNAVAILABLE]}
            if operation.get("security"):  # the bearer scheme `bearer_principal` declares
                codes |= {401: ["unauthenticated"], 403: ["forbidden"]}
            if "requestBody" in operation or method in ("post", "put", "patch"):
                # Intake's hot routes read their body themselves; any body past its limit is refused (BodyLimit).
                codes |= {400: ["malformed_json"], 413: ["payload_too_large"]}
            parameters = operation.get("parameters", [])
            if any(p.get("name") == "cursor" and p.get("in") == "query" for p in parameters):
                codes.setdefault(400, []).append("invalid_cursor")
            if any(p.get("in") == "path" for p in parameters):
                codes[404] = ["not_found"]
            responses = operation.setdefault("responses", {})
            for status, names in sorted(codes.items()):
                responses.setdefault(str(status), {"description": " / ".join(names)})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    # Whatever FastAPI or the endpoint wrote, a problem is what the service sends.
                    if status == "422" and response.get("description") == "Validation Error":
                        response["description"] = "validation_failed"
                    response["content"] = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_SCHEMA_REF}}}
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
