"""Lists, one way in every service (contract.md "Lists"): keyset pages in a fixed order, an opaque cursor checked the
same way everywhere (`?cursor=abc` is 400 `invalid_cursor` in every service), `?limit=` (default 50, max 500),
`?updated_since=` for incremental sync, and `total` on the first page.

A cursor is the last item's sort key, as JSON, base64url, with a digest: a cursor cut short, edited or issued by
another list fails the digest or the key's shape and is refused rather than read as some other position. The digest
is not a secret (a forged cursor only moves within what the caller may see anyway: visibility is a filter of the
query, not of the cursor).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from leadnet_shared.problems import BadRequest, InvalidCursor

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_DIGEST_BYTES = 8
_DIGEST_KEY = b"leadnet-cursor-v1"

KeyValue = str | int | datetime


class Page(BaseModel, Generic[T]):
    """A list's page: `next_cursor` is null on the last one; `total` counts every match, on the first page only."""

    items: list[T]
    next_cursor: str | None
    total: int | None = None


@dataclass(frozen=True, slots=True)
class PageParams:
    """The query parameters every list takes; use as `Annotated[PageParams, Depends()]`."""

    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    updated_since: Annotated[
        AwareDatetime | None,
        Query(description="Only what was created or changed at or after this instant (RFC 3339 with offset)"),
    ] = None


def _digest(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, key=_DIGEST_KEY, digest_size=_DIGEST_BYTES).digest()


def encode_cursor(key: Sequence[KeyValue]) -> str:
    payload = orjson.dumps([v.isoformat() if isinstance(v, datetime) else v for v in key])
    return base64.urlsafe_b64encode(_digest(payload) + payload).rstrip(b"=").decode()


def decode_cursor(cursor: str, types: Sequence[type[KeyValue]]) -> tuple[KeyValue, ...]:
    """The sort key a cursor names, each value of the type its list sorts by; `InvalidCursor` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        digest, payload = raw[:_DIGEST_BYTES], raw[_DIGEST_BYTES:]
        values = orjson.loads(payload) if digest == _digest(payload) else None
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("not a cursor of this list")
        return tuple(_typed(value, kind) for value, kind in zip(values, types, strict=True))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidCursor("The cursor is not one this list issued; start again without it.") from exc


def _typed(value: Any, kind: type[KeyValue]) -> KeyValue:
    if kind is datetime and isinstance(value, str):
        return datetime.fromisoformat(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    raise TypeError(f"{value!r} is not a {kind.__name__}")


@dataclass(frozen=True, slots=True)
class PageOf(Generic[T]):
    rows: list[T]
    next_cursor: str | None
    total: int | None


async def fetch_page(
    session: AsyncSession,
    query: Select[T],
    *,
    order: Sequence[InstrumentedAttribute[Any]],
    params: PageParams,
    changed_at: ColumnElement[Any] | InstrumentedAttribute[Any] | None = None,
) -> PageOf[T]:
    """One page of `query` (filters applied, no ORDER BY) in `order` (ascending, unique together), after the
    cursor; with `changed_at`, only rows changed at or after `params.updated_since`."""
    if params.updated_since is not None:
        if changed_at is None:
            raise BadRequest("This list does not take updated_since.", code="unsupported_parameter")
        query = query.where(changed_at >= params.updated_since)
    total = None
    if params.cursor is None:
        total = int(await session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)
    else:
        after = decode_cursor(params.cursor, [_python_type(column) for column in order])
        query = query.where(tuple_(*order) > tuple_(*after))
    rows = list((await session.execute(query.order_by(*order).limit(params.limit + 1))).scalars())
    page = rows[: params.limit]
    next_cursor = None
    if len(rows) > params.limit:
        next_cursor = encode_cursor([getattr(page[-1], column.key) for column in order])
    return PageOf(rows=page, next_cursor=next_cursor, total=total)


def _python_type(column: InstrumentedAttribute[Any]) -> type[KeyValue]:
    kind = column.type.python_type
    if kind not in (str, int, datetime):
        raise TypeError(f"cannot page by {column} ({kind.__name__})")
    return kind  # type: ignore[no-any-return]
