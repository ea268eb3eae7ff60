"""What intake knows of each dealer (`models.DEALERS`, learnt from the dealers topic)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lead_intake.models import DEALERS


async def save_newest(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Store each dealer's state unless a newer one (by `updated_at`) is stored; a withdrawal keeps the level, party
    type and region the dealer had, and the first time it was seen is the earliest ever."""
    insert = pg_insert(DEALERS).values(rows)
    excluded = insert.excluded
    withdrawn = excluded.status == "withdrawn"
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=[DEALERS.c.code],
            set_={
                **{
                    column: case((withdrawn, DEALERS.c[column]), else_=excluded[column])
                    for column in ("sales_level", "party_type", "region")
                },
                "status": excluded.status,
                "first_seen_at": func.least(
                    func.coalesce(DEALERS.c.first_seen_at, excluded.first_seen_at), excluded.first_seen_at
                ),
                "updated_at": excluded.updated_at,
            },
            where=DEALERS.c.updated_at <= excluded.updated_at,
        )
    )
