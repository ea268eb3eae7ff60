"""What the intake routers share: the caller, the problem responses they declare, the owner check of the
per-owner resources and reading a small JSON body."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Path, Request
from pydantic import BaseModel

from lead_intake.settings import IntakeSettings
from leadnet_shared.app import runtime_of
from leadnet_shared.auth import Principal, bearer_principal
from leadnet_shared.http import nul_problems
from leadnet_shared.problems import PROBLEM_JSON, MalformedJson, PayloadTooLarge, ValidationFailed

M = TypeVar("M", bound=BaseModel)
Caller = Annotated[Principal, Depends(bearer_principal)]
# A dealer's code or HQ's, as a path segment.
OwnerPath = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
_DESCRIPTIONS = {
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    422: "validation_failed",
}


def problems(*statuses: int, described: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these problem statuses (`application/problem+json`); `described` names the problem
    codes of a status where they are not the usual ones (`{409: "network_exists"}`)."""
    named = {**{s: _DESCRIPTIONS[s] for s in statuses}, **(described or {})}
    return {status: {"description": text, "content": {PROBLEM_JSON: {}}} for status, text in named.items()}


async def read_json(request: Request, *, limit: int) -> tuple[bytes, Any]:
    """The body and its parsed JSON; 413 past `limit` (checked on the declared length before reading, if any)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The body is {declared} bytes; the limit is {limit}.")
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLarge(f"The body is {len(body)} bytes; the limit is {limit}.")
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedJson(f"The request body is not valid JSON: {exc}") from exc
    nul = nul_problems(parsed, body=body)
    if nul:  # PostgreSQL cannot store it: refused here, not as a failed group commit
        raise ValidationFailed("The request has field problems; see errors.", errors=nul)
    return body, parsed


def model_of(model: type[M], source: object, **given: Any) -> M:
    """An answer `model` whose every field is taken from `given`, or else from the attribute of `source` of that
    name (a row, a rule's result)."""
    return model(**{name: given[name] if name in given else getattr(source, name) for name in model.model_fields})


async def small_body(request: Request) -> Any:
    """The parsed JSON body of a write that is not a record upload (the per-record size limit applies)."""
    settings: IntakeSettings = runtime_of(request).settings  # type: ignore[assignment]
    _, body = await read_json(request, limit=settings.max_record_bytes)
    return body
