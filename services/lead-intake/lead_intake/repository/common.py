"""What several aggregates' statements share."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

M = TypeVar("M", bound=DeclarativeBase)


async def upsert(
    session: AsyncSession, model: type[M], values: dict[str, Any], *, key: Iterable[str], changes: Iterable[str]
) -> M:
    """Insert the row, or on its key update only the `changes` columns (what the first insert set otherwise stays,
    e.g. when a plan was first issued); the row as stored."""
    insert = pg_insert(model).values(values)
    statement = insert.on_conflict_do_update(
        index_elements=list(key), set_={column: insert.excluded[column] for column in changes}
    ).returning(model)
    stored: M = (await session.execute(statement)).scalar_one()
    return stored


def columns(rows: Sequence[object], *names: str) -> list[list[Any]]:
    """The rows' attributes as one array per name, in that order: the parameters of an `unnest` statement."""
    return [[getattr(row, name) for row in rows] for name in names]
