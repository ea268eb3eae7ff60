"""RFC 9457 problem details: one error hierarchy, rendered by one handler.

Every field problem is reported at once, as a JSON pointer into the request body, so a DMS developer fixes a record
in one round trip instead of one error at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PROBLEM_JSON = "application/problem+json"
PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One problem with one field: `field` is a JSON pointer (`/usage/load_tons`), `code` a stable snake_case code."""

    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


def json_pointer(*parts: str | int) -> str:
    """Build an RFC 6901 pointer from path parts, escaping `~` and `/`."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def pointer_from_loc(loc: Iterable[str | int]) -> str:
    """Turn a pydantic error location (`("body", "customer", "phone")`) into a pointer into the body."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return json_pointer(*parts)


class ServiceError(Exception):
    """Base of every error a service reports to a caller. Subclasses fix status and code."""

    status: int = 500
    code: str = "internal_error"
    title: str = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldProblem] = (),
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = list(errors)
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})
        if code is not None:
            self.code = code

    @property
    def type_uri(self) -> str:
        return "/problems/" + self.code.replace("_", "-")

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class BadRequest(ServiceError):
    status, code, title = 400, "bad_request", "Bad request"


class MalformedJson(BadRequest):
    code, title = "malformed_json", "Malformed JSON"


class InvalidCursor(BadRequest):
    code, title = "invalid_cursor", "Invalid cursor"


class Unauthenticated(ServiceError):
    status, code, title = 401, "unauthenticated", "Authentication required"


class Forbidden(ServiceError):
    status, code, title = 403, "forbidden", "Forbidden"


class DealerNotActive(Forbidden):
    """A dealer token whose dealer the router never registered or has withdrawn: it may not write."""

    code, title = "dealer_not_active", "Dealer not active"


class NotFound(ServiceError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(ServiceError):
    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(ServiceError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class ValidationFailed(ServiceError):
    status, code, title = 422, "validation_failed", "Validation failed"


class IdempotencyKeyReused(ValidationFailed):
    code, title = "idempotency_key_reused", "Idempotency-Key reused"


class RateLimited(ServiceError):
    status, code, title = 429, "rate_limited", "Too many requests"


class Unavailable(ServiceError):
    status, code, title = 503, "unavailable", "Service unavailable"


def problem_responses(*errors: type[ServiceError] | tuple[type[ServiceError], str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the problems an endpoint answers: an error class, or (class, code) for a code the
    class is raised with. Codes of one status are listed together in its description."""
    codes: dict[int, list[str]] = {}
    for error in errors:
        cls, code = error if isinstance(error, tuple) else (error, error.code)
        codes.setdefault(cls.status, []).append(code)
    return {
        status: {"description": " / ".join(names), "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_SCHEMA_REF}}}}
        for status, names in sorted(codes.items())
    }


@dataclass(slots=True)
class ProblemCollector:
    """Accumulates field problems so a validator reports all of them, then raises once."""

    problems: list[FieldProblem] = field(default_factory=list)

    def add(self, pointer: str, code: str, message: str) -> None:
        self.problems.append(FieldProblem(pointer, code, message))

    def extend(self, problems: Iterable[FieldProblem]) -> None:
        self.problems.extend(problems)

    def __bool__(self) -> bool:
        return bool(self.problems)

    def raise_if_any(self, detail: str = "The request has field problems; see errors.") -> None:
        if self.problems:
            raise ValidationFailed(detail, errors=self.problems)
