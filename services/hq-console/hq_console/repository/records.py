"""The rows behind a figure (see the package docstring for the style): the figure's condition over its fact table,
keyset-paged with the kit's cursor."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hq_console.models import Lead, LedgerEntry, PendingSale, Refusal, Sale, Task, TierChange
from hq_console.repository.measures import Measure, Where
from leadnet_shared.pagination import PageOf, PageParams, fetch_page

_MODELS: dict[str, Any] = {
    "leads": Lead,
    "refusals": Refusal,
    "sales": Sale,
    "ledger_entries": LedgerEntry,
    "tasks": Task,
    "tier_changes": TierChange,
    "pending_sales": PendingSale,
}


async def facts_of(session: AsyncSession, measure: Measure, where: Where, page: PageParams) -> PageOf[Any]:
    """One page of `measure`'s rows that `where` keeps, oldest first by the instant the figure counts them by."""
    model = _MODELS[measure.table]
    # The figure's condition names the table by its alias: the ORM entity is aliased the same.
    entity = aliased(model, name=measure.alias)
    query = select(entity).where(text(where.sql()).bindparams(**where.used_params()))
    time_column, key_column = getattr(entity, measure.time), getattr(entity, measure.key)
    # `?updated_since=` (contract.md "Lists"): a fact that changes (a lead's status, a task) by its updated_at; an
    # immutable one (a refusal, a posting, a tier change) by the instant it counts at.
    changed_at = getattr(entity, "updated_at", None) if hasattr(model, "updated_at") else time_column
    return await fetch_page(session, query, order=[time_column, key_column], params=page, changed_at=changed_at)
