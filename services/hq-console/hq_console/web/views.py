"""Page views: the insights a page shows, shaped into tiles, charts and tables (filled in on the insights API)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from hq_console.web.filters import Filters
from hq_console.web.i18n import Translator
from hq_console.web.viewmodel import PageView, Table
from leadnet_shared.auth import Principal

MEASURES: frozenset[str] = frozenset()
EXPORT_LIMIT = 50_000


async def build(
    name: str, db: AsyncSession, principal: Principal, filters: Filters, params: Mapping[str, str]
) -> PageView:
    return PageView(name=name, title=f"nav.{name}")


async def filter_options(db: AsyncSession, principal: Principal, filters: Filters, t: Translator) -> list[Any]:
    return []


async def drill_list(
    db: AsyncSession,
    principal: Principal,
    filters: Filters,
    measure: str,
    params: Mapping[str, str],
    *,
    limit: int = 100,
) -> tuple[Table, str | None]:
    raise NotImplementedError


async def watermark(db: AsyncSession) -> str:
    """How far the console's history has got: changes whenever an event was ingested."""
    row = (await db.execute(text("SELECT max(processed_at)::text FROM inbox"))).scalar()
    return str(row or "")
