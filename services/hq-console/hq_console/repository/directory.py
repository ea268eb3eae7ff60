"""The dealers, information networks and plans as their public topics published them (see the package docstring
for the style): the registers the pages join their figures to, and the filter menus."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

_DEALERS = text("SELECT code, name, status FROM dealers")
_DEALER_NAMES = text("SELECT code, name FROM dealers ORDER BY code")
_PRODUCT_LINES = text("SELECT DISTINCT jsonb_array_elements_text(product_lines) FROM dealers ORDER BY 1")
_CALLBACK_QUOTAS = text(
    "SELECT dealer, sum(quota) FROM plan_facts WHERE plan = 'callback' AND period >= :first AND period <= :last "
    "AND quota IS NOT NULL GROUP BY 1"
)
_NETWORKS = text("SELECT * FROM networks")
_EVALUATIONS = text(
    "SELECT n.*, d.territories FROM network_evaluations n LEFT JOIN dealers d ON d.code = n.owner "
    "WHERE n.quarter = ANY(CAST(:quarters AS text[])) ORDER BY n.quarter DESC, n.owner"
)


async def dealers(session: AsyncSession) -> dict[str, tuple[str | None, str | None]]:
    """Every registered dealer: code → (name, status)."""
    return {code: (name, status) for code, name, status in (await session.execute(_DEALERS)).all()}


async def dealer_names(session: AsyncSession) -> list[tuple[str, str | None]]:
    """(code, name) of every registered dealer, by code."""
    return [(code, name) for code, name in (await session.execute(_DEALER_NAMES)).all()]


async def product_lines(session: AsyncSession) -> list[str]:
    """Every product line some dealer sells, sorted."""
    return [line for line in (await session.execute(_PRODUCT_LINES)).scalars() if line]


async def callback_quotas(session: AsyncSession, first: str, last: str) -> dict[str, int]:
    """Per dealer, the quotas of its callback plans for the months `first` to `last` (YYYY-MM), where published."""
    rows = (await session.execute(_CALLBACK_QUOTAS, {"first": first, "last": last})).all()
    return {dealer: int(quota) for dealer, quota in rows}


async def networks(session: AsyncSession) -> dict[str, RowMapping]:
    """Every information network as last graded: code → its row."""
    return {row["code"]: row for row in (await session.execute(_NETWORKS)).mappings().all()}


async def evaluations(session: AsyncSession, quarters: Sequence[str]) -> Sequence[RowMapping]:
    """The network evaluations of `quarters`, each with its owner's territories (None: HQ or an unknown dealer)."""
    rows: Sequence[RowMapping] = (await session.execute(_EVALUATIONS, {"quarters": list(quarters)})).mappings().all()
    return rows
