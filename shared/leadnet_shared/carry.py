"""A model built from an object that holds most of its fields under the same names (an ORM row, a dataclass,
another model): the fields are listed once, in the model, instead of again at every place that copies one into the
other. `model_validate(obj, from_attributes=True)` does the same when the object holds every field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def carried(model: type[M], source: object, /, **values: Any) -> M:
    """`model` from `values`; each of its other fields from `source`'s attribute of the same name (validated as
    the model's constructor would)."""
    taken = {name: getattr(source, name) for name in model.model_fields if name not in values and hasattr(source, name)}
    return model.model_validate(taken | values)
