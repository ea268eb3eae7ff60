"""Column types every service's tables repeat, declared once: a service's Base (`class Base(columns.Typed,
DeclarativeBase)`) maps `Mapped[datetime]` to `timestamptz` and JSON documents to `jsonb` (`int` and `bool` are
SQLAlchemy's own `Integer` and `Boolean`), so a column whose type follows from its annotation needs no
`mapped_column(...)`, and is nullable where the annotation says `| None`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

TYPES: dict[Any, type[TypeEngine[Any]] | TypeEngine[Any]] = {
    datetime: DateTime(timezone=True),  # every instant with its zone
    dict[str, Any]: JSONB,
    dict[str, int]: JSONB,
    dict[str, str]: JSONB,
    list[dict[str, Any]]: JSONB,
}


class Typed:
    """Mixed into a service's declarative Base, before `DeclarativeBase`, which reads the map from it."""

    type_annotation_map = TYPES
