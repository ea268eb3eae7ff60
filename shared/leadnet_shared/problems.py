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

    def __init_subclass__(cls, *, status: int | None = None, code: str | None = None, title: str | None = None) -> None:
        # A problem type is one row: `class NotFound(ServiceError, status=404, code="not_found", title="Not found")`.
        super().__init_subclass__()
        for name, value in (("status", status), ("code", code), ("title", title)):
            if value is not None:
                setattr(cls, name, value)

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


# The catalogue: one row per problem type, its status, code and title (a subclass keeps what it does not set).
class BadRequest(ServiceError, status=400, code="bad_request", title="Bad request"): ...


class MalformedJson(BadRequest, code="malformed_json", title="Malformed JSON"): ...


class InvalidCursor(BadRequest, code="invalid_cursor", title="Invalid cursor"): ...


class Unauthenticated(ServiceError, status=401, code="unauthenticated", title="Authentication required"): ...


class Forbidden(ServiceError, status=403, code="forbidden", title="Forbidden"): ...


# A dealer token whose dealer the router never registered or has withdrawn: it may not write.
class DealerNotActive(Forbidden, code="dealer_not_active", title="Dealer not active"): ...


class NotFound(ServiceError, status=404, code="not_found", title="Not found"): ...


class Conflict(ServiceError, status=409, code="conflict", title="Conflict"): ...


class PayloadTooLarge(ServiceError, status=413, code="payload_too_large", title="Payload too large"): ...


class ValidationFailed(ServiceError, status=422, code="validation_failed", title="Validation failed"): ...


class IdempotencyKeyReused(ValidationFailed, code="idempotency_key_reused", title="Idempotency-Key reused"): ...


class RateLimited(ServiceError, status=429, code="rate_limited", title="Too many requests"): ...


class Unavailable(ServiceError, status=503, code="unavailable", title="Service unavailable"): ...


def problem_docs(descriptions: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` from a description per status (the codes, and field codes, a problem of that status
    may carry); `openapi.install_openapi` gives each its `application/problem+json` body."""
    return {
        status: {"description": text, "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_SCHEMA_REF}}}}
        for status, text in descriptions.items()
    }


def problem_responses(*errors: type[ServiceError] | tuple[type[ServiceError], str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the problems an endpoint answers: an error class, or (class, code) for a code the
    class is raised with. Codes of one status are listed together in its description."""
    codes: dict[int, list[str]] = {}
    for error in errors:
        cls, code = error if isinstance(error, tuple) else (error, error.code)
        codes.setdefault(cls.status, []).append(code)
    return problem_docs({status: " / ".join(names) for status, names in sorted(codes.items())})


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
