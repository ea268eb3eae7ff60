"""What the intake routers share: the caller, an owner's code as a path segment, and reading a small JSON body."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Path, Request

from lead_intake.settings import IntakeSettings
from leadnet_shared.app import runtime_of
from leadnet_shared.auth import Principal, bearer_principal
from leadnet_shared.http import nul_problems
from leadnet_shared.problems import MalformedJson, PayloadTooLarge, ValidationFailed

Caller = Annotated[Principal, Depends(bearer_principal)]
# A dealer's code or HQ's, as a path segment.
OwnerPath = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]


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


async def small_body(request: Request) -> Any:
    """The parsed JSON body of a write that is not a record upload (the per-record size limit applies)."""
    settings: IntakeSettings = runtime_of(request).settings  # type: ignore[assignment]
    _, body = await read_json(request, limit=settings.max_record_bytes)
    return body
