"""The maker's vehicle registry: which dealer holds which VIN, with its model and product line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import literal_column, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from dedup_router.models import Vehicle

_REPLACED = ("model", "product_line", "delivered_to", "delivered_at", "updated_at")


async def vehicle_by_vin(session: AsyncSession, vin: str) -> Vehicle | None:
    return await session.get(Vehicle, vin)


async def vehicles_by_vin(session: AsyncSession, vins: Sequence[str]) -> dict[str, Vehicle]:
    return {v.vin: v for v in (await session.execute(select(Vehicle).where(Vehicle.vin.in_(vins)))).scalars()}


async def upsert_vehicles(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> list[bool]:
    """Insert or replace the rows (one per VIN) in VIN order; per row, True when it was new."""
    insert = pg_insert(Vehicle).values(sorted(rows, key=lambda r: str(r["vin"])))
    upsert: ReturningInsert[Any] = insert.on_conflict_do_update(
        index_elements=["vin"], set_={c: insert.excluded[c] for c in _REPLACED}
    ).returning(literal_column("xmax = 0"))  # xmax is 0 on a freshly inserted row, set on an updated one
    return [bool(x) for x in (await session.execute(upsert)).scalars()]
