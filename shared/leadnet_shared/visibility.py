"""Who may see which object, one rule per kind of object, written once per service (its `visibility.py`) on these
primitives: HQ roles see everything; a dealer sees what names it (as owner, seller, assigned or entering dealer);
anything else is "not found" (contract.md: never reveal that another dealer's object exists).

A rule answers both questions an endpoint asks: may this caller see this row (`may_see`), and which rows may it
list (`condition`, a WHERE clause, None for "all")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import false, or_
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from leadnet_shared.auth import Principal
from leadnet_shared.problems import NotFound

T = TypeVar("T")


def names_caller(principal: Principal, *dealers: str | None) -> bool:
    """HQ sees everything; a dealer sees what one of `dealers` names it."""
    return principal.is_hq or (principal.dealer is not None and principal.dealer in dealers)


@dataclass(frozen=True, slots=True)
class DealerScoped(Generic[T]):
    """A kind of object a dealer sees when one of its dealer columns names it."""

    what: str  # "task", "sale": the NotFound says "No such task."
    dealers_of: Callable[[T], tuple[str | None, ...]]
    columns: tuple[InstrumentedAttribute[Any], ...] = ()

    def may_see(self, principal: Principal, obj: T) -> bool:
        return names_caller(principal, *self.dealers_of(obj))

    def visible(self, principal: Principal, obj: T | None) -> T:
        """The object, or NotFound for a missing one and for one the caller may not see alike."""
        if obj is None or not self.may_see(principal, obj):
            raise NotFound(f"No such {self.what}.")
        return obj

    def condition(self, principal: Principal) -> ColumnElement[bool] | None:
        if principal.is_hq:
            return None
        if principal.dealer is None or not self.columns:
            return false()
        return or_(*(column == principal.dealer for column in self.columns))


def dealer_own(principal: Principal, dealer: str, *, what: str) -> None:
    """For a path naming a dealer (its account, its plan): another dealer's is not found."""
    if not names_caller(principal, dealer):
        raise NotFound(f"No such {what}.")
