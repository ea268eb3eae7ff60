"""What the intake routers share: the caller, the problem responses they declare, the owner check of the
per-owner resources and reading a small JSON body."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request

from lead_intake.endpoints import read_json
from lead_intake.settings import IntakeSettings
from leadnet_shared.app import runtime_of
from leadnet_shared.auth import Principal, bearer_principal
from leadnet_shared.problems import PROBLEM_JSON, NotFound

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


def own_or_404(principal: Principal, owner: str, what: str) -> None:
    """HQ roles reach every owner's; a dealer its own only (another owner's is answered 404, never revealed)."""
    if not principal.is_hq and owner != principal.dealer:
        raise NotFound(f"No such {what}.")


async def small_body(request: Request) -> Any:
    """The parsed JSON body of a write that is not a record upload (the per-record size limit applies)."""
    settings: IntakeSettings = runtime_of(request).settings  # type: ignore[assignment]
    _, body = await read_json(request, limit=settings.max_record_bytes)
    return body
