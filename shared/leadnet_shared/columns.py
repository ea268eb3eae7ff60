"""Column types every service's tables repeat, declared once.

A service's declarative Base maps these Python types (`class Base(columns.Typed, DeclarativeBase)`), so a column
whose type follows from its annotation needs no `mapped_column(...)`: `at: Mapped[datetime]` is a `timestamptz`,
`doc: Mapped[dict[str, Any]]` a `jsonb`; `int` and `bool` are SQLAlchemy's own `Integer` and `Boolean`. Nullable
where the annotation says `| None`, as SQLAlchemy reads it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

# Every instant is stored with its zone; JSON documents as jsonb (indexable, compared by value).
TYPES: dict[Any, type[TypeEngine[Any]] | TypeEngine[Any]] = {
    datetime: DateTime(timezone=True),
    dict[str, Any]: JSONB,
    dict[str, int]: JSONB,
    dict[str, str]: JSONB,
    list[dict[str, Any]]: JSONB,
}


class Typed:
    """Mixed into a service's declarative Base, before `DeclarativeBase`, which reads the map from it."""

    type_annotation_map = TYPES
