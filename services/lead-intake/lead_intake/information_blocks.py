"""A valid record has four information blocks; which blocks each source must supply (domain.md §2).

The table itself is policy data (`policy/information_blocks.toml`); this module reads it once and answers
two questions: which required blocks a record lacks (`missing_block`) and which required fields a present
block lacks (`missing_field`). A not-expected block that is present is kept and checked like an optional one
(see the TOML).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from leadnet_shared.policy import PolicyError, cached_policy
from leadnet_shared.problems import FieldProblem, json_pointer

POLICY_PACKAGE = "lead_intake"
POLICY_NAME = "information_blocks"

# The four blocks of the record shape (contract.md), in the order problems are reported.
BLOCKS: tuple[str, ...] = ("customer", "vehicles_in_use", "usage", "purchase_intent")


class Presence(enum.StrEnum):
    """How a source must supply a block: ★ required, ☆ optional, – not expected."""

    REQUIRED = "required"
    OPTIONAL = "optional"
    NOT_EXPECTED = "not_expected"


@dataclass(frozen=True, slots=True)
class InformationBlocksPolicy:
    """The compiled table: per source, per block, a presence; per block, its required fields."""

    version: str
    sources: Mapping[str, Mapping[str, Presence]]
    required_fields: Mapping[str, tuple[str, ...]]

    def presence(self, *, source: str, block: str) -> Presence:
        return self.sources[source][block]


@cache
def information_blocks_policy() -> InformationBlocksPolicy:
    """Compile the TOML table once per process, refusing a table that would let a rule be guessed."""
    data = cached_policy(POLICY_PACKAGE, POLICY_NAME)
    blocks = data.get("blocks", {})
    required_fields: dict[str, tuple[str, ...]] = {}
    for block in BLOCKS:
        fields = blocks.get(block, {}).get("required_fields")
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise PolicyError(f"information_blocks: blocks.{block}.required_fields must be a list of names")
        required_fields[block] = tuple(fields)
    sources: dict[str, Mapping[str, Presence]] = {}
    for source, row in data.get("sources", {}).items():
        compiled: dict[str, Presence] = {}
        for block in BLOCKS:
            try:
                compiled[block] = Presence(row[block])
            except (KeyError, ValueError) as exc:
                raise PolicyError(
                    f"information_blocks: sources.{source}.{block} must be one of {[p.value for p in Presence]}"
                ) from exc
        # The customer IS the normalized phone: a record without the basic block cannot be stored at all.
        if compiled["customer"] is not Presence.REQUIRED:
            raise PolicyError(f"information_blocks: sources.{source}.customer must be required")
        sources[source] = MappingProxyType(compiled)
    if not sources:
        raise PolicyError("information_blocks: no sources")
    return InformationBlocksPolicy(
        version=str(data["version"]),
        sources=MappingProxyType(sources),
        required_fields=MappingProxyType(required_fields),
    )


def known_sources() -> tuple[str, ...]:
    """The `source` enum is the table's rows, so adding a source is a policy change, not a deploy."""
    return tuple(information_blocks_policy().sources)


def blocks_source_must_supply(*, source: str) -> Mapping[str, Presence]:
    """The table row for `source` (KeyError for an unknown source: check the enum first)."""
    return information_blocks_policy().sources[source]


def missing_blocks(*, source: str, present: Mapping[str, bool]) -> list[FieldProblem]:
    """A required block must be present; optional and not-expected blocks may be absent."""
    row = information_blocks_policy().sources[source]
    return [
        FieldProblem(
            json_pointer(block),
            "missing_block",
            f"source {source!r} must supply the {block} block",
        )
        for block in BLOCKS
        if row[block] is Presence.REQUIRED and not present.get(block, False)
    ]


def is_blank(value: object) -> bool:
    """Absent, null and blank text all mean the dealer did not fill the field in."""
    return value is None or (isinstance(value, str) and not value.strip())


def missing_fields(*, block: str, entry: Mapping[str, object], pointer: tuple[str | int, ...]) -> list[FieldProblem]:
    """A present block must have all its required fields, whether the source had to supply it or not."""
    return [
        missing_field_problem(block=block, pointer=(*pointer, name))
        for name in information_blocks_policy().required_fields[block]
        if is_blank(entry.get(name))
    ]


def missing_field_problem(*, block: str, pointer: tuple[str | int, ...]) -> FieldProblem:
    """The one wording of a missing required field, wherever the absence is noticed."""
    return FieldProblem(json_pointer(*pointer), "missing_field", f"the {block} block needs {pointer[-1]}")
