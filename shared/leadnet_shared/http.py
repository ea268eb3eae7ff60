"""One way to refuse a bad request, in every service: a body size limit enforced before anything parses the body,
and the request-model base whose text fields refuse the NUL character.

The limit is checked twice: on the declared `Content-Length` before the app runs (413 without reading a byte), and
on the bytes as they arrive (a chunked body declares no length), so no service ever buffers more than its limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadnet_shared.problems import PROBLEM_JSON, FieldProblem, PayloadTooLarge, json_pointer

DEFAULT_BODY_LIMIT = 64 * 1024
"""Bytes of request body a route takes unless its service says otherwise (contract.md: 64 KiB per record)."""


class BodyLimit:
    """Plain ASGI middleware: 413 `payload_too_large` past the route's limit, declared or streamed.

    `limits` maps (method, path) to a route's own limit (intake's batch route takes 8 MiB); every other request
    gets `default`. Past the limit while streaming, `receive` raises `PayloadTooLarge`, which the route's body
    reading turns into the same problem (see `install_problem_handlers`)."""

    def __init__(
        self, app: ASGIApp, *, default: int = DEFAULT_BODY_LIMIT, limits: Mapping[tuple[str, str], int] | None = None
    ) -> None:
        self.app = app
        self.default = default
        self.limits = dict(limits or {})

    def limit_for(self, method: str, path: str) -> int:
        return self.limits.get((method, path), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await refuse(PayloadTooLarge(f"The body is {declared} bytes; the limit is {limit}."), scope, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"The body is more than {limit} bytes; the limit is {limit}.")
            return message

        await self.app(scope, counted_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def refuse(error: PayloadTooLarge, scope: Scope, send: Send) -> None:
    """Answer a problem from ASGI middleware, outside FastAPI's exception handlers."""
    body = orjson.dumps(error.to_problem(instance=scope["path"]))
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def nul_problems(document: Any, *, body: bytes) -> list[FieldProblem]:
    """Where a parsed JSON body holds text with the NUL character, for routes that validate raw JSON by hand.
    JSON writes NUL only as the escape `\\u0000`: a body without it (nearly all) costs one byte search."""
    if b"\\u0000" not in body:
        return []
    found: list[FieldProblem] = []

    def walk(value: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(value, str):
            if "\x00" in value:
                found.append(
                    FieldProblem(
                        json_pointer(*path), "invalid_character", "Text must not contain the NUL character (\\u0000)."
                    )
                )
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*path, index))

    walk(document, ())
    return found


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        if "\x00" in value:
            # PostgreSQL cannot store NUL in text: let through, it surfaces as a 500 from the database.
            raise PydanticCustomError("nul_character", "Text must not contain the NUL character (\\u0000).")
    elif isinstance(value, list | tuple):
        for item in value:
            _without_nul(item)
    return value


class RequestModel(BaseModel):
    """Base of every request body: unknown fields are refused (a caller cannot set what the system decides) and no
    text field, nor any text in a list, takes the NUL character (422 naming the field)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        return _without_nul(value)
