"""What the ledger learns of records and sales (see the package docstring for the style): the records' facts from
the public lead events, the sales, their vehicles and cancellations from the public sale events, and the profit
guarantee amounts HQ sets. Settlement reads them all back to decide what is due."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from rewards_ledger.models import GuaranteeSetting, Sale, SaleCancellation, SaleVehicle

# The record's facts every public lead event repeats; they change when the router reassigns the lead.
FACT_COLUMNS = (
    "customer_id",
    "entered_by",
    "authorized_dealer",
    "reward_eligible",
    "cross_region",
    "tier",
    "product_line",
    "region_code",
)
# One statement each whatever the batch size, with a fixed text (arrays, not one bind per value) so the server keeps
# it prepared.
_UPSERT_LEADS = text(
    """
INSERT INTO leads (lead_id, customer_id, entered_by, authorized_dealer, reward_eligible, cross_region, tier,
                   product_line, region_code, lead_version, customer_existed, customer_name, customer_phone,
                   verified_at, updated_at)
SELECT *, CAST(:now AS timestamptz) FROM unnest(
    CAST(:lead_id AS text[]), CAST(:customer_id AS text[]), CAST(:entered_by AS text[]),
    CAST(:authorized_dealer AS text[]), CAST(:reward_eligible AS boolean[]), CAST(:cross_region AS boolean[]),
    CAST(:tier AS text[]), CAST(:product_line AS text[]), CAST(:region_code AS text[]),
    CAST(:lead_version AS integer[]),
    CAST(:customer_existed AS boolean[]), CAST(:customer_name AS text[]), CAST(:customer_phone AS text[]),
    CAST(:verified_at AS timestamptz[])
) AS r ORDER BY 1
ON CONFLICT (lead_id) DO UPDATE SET
    -- the facts of the newest lead_version: a verdict that a reassignment overtook (review M4) changes nothing
    """
    + ", ".join(
        f"{c} = CASE WHEN leads.lead_version <= excluded.lead_version THEN excluded.{c} ELSE leads.{c} END"
        for c in (*FACT_COLUMNS, "lead_version")
    )
    + """,
    updated_at = excluded.updated_at,
    -- the accepted-time customer, when this batch had a lead.accepted (customer_existed is never null there)
    customer_existed = coalesce(excluded.customer_existed, leads.customer_existed),
    customer_name = CASE WHEN excluded.customer_existed IS NULL THEN leads.customer_name
                         ELSE excluded.customer_name END,
    customer_phone = CASE WHEN excluded.customer_existed IS NULL THEN leads.customer_phone
                          ELSE excluded.customer_phone END,
    -- the first verification counts: a later one keeps the original time
    verified_at = coalesce(leads.verified_at, excluded.verified_at)
"""
)

_LEAD_COLUMNS = (
    "lead_id",
    *FACT_COLUMNS,
    "lead_version",
    "customer_existed",
    "customer_name",
    "customer_phone",
    "verified_at",
)

_INSERT_SALES = text("""
INSERT INTO sales (sale_id, lead_id, customer_id, seller, supplied_by, lead_entered_by, violation, sold_at,
                   claims, received_at)
SELECT *, CAST(:now AS timestamptz) FROM unnest(
    CAST(:sale_id AS text[]), CAST(:lead_id AS text[]), CAST(:customer_id AS text[]), CAST(:seller AS text[]),
    CAST(:supplied_by AS text[]), CAST(:lead_entered_by AS text[]), CAST(:violation AS text[]),
    CAST(:sold_at AS timestamptz[]), CAST(:claims AS jsonb[])
) AS r ORDER BY 1
ON CONFLICT (sale_id) DO NOTHING
""")

_INSERT_VEHICLES = text("""
INSERT INTO sale_vehicles (sale_id, vin, product_line)
SELECT * FROM unnest(CAST(:sale_id AS text[]), CAST(:vin AS text[]), CAST(:product_line AS text[])) AS r
ORDER BY 1, 2
ON CONFLICT (sale_id, vin) DO NOTHING
""")

_INSERT_CANCELLATIONS = text("""
INSERT INTO sale_cancellations (sale_id, cancelled_at)
SELECT * FROM unnest(CAST(:sale_id AS text[]), CAST(:cancelled_at AS timestamptz[])) AS r ORDER BY 1
ON CONFLICT (sale_id) DO NOTHING
""")

_LEADS_OF_SALES = text("SELECT sale_id, lead_id FROM sales WHERE sale_id = ANY(CAST(:sales AS text[]))")

_LEADS = text(
    "SELECT lead_id, customer_id, entered_by, authorized_dealer, reward_eligible, cross_region, tier, "
    "verified_at IS NOT NULL, customer_existed FROM leads WHERE lead_id = ANY(CAST(:ids AS text[]))"
)

# The sales of the records with their vehicles, cancellation and the latest amount HQ set per vehicle.
_SALES = text(
    "SELECT s.lead_id, s.sale_id, s.seller, s.supplied_by, s.sold_at, s.claims, v.vin, v.product_line, "
    "c.sale_id IS NOT NULL, (SELECT g.amount_fen FROM guarantee_settings g WHERE g.sale_id = s.sale_id "
    "AND g.vin = v.vin ORDER BY g.seq DESC LIMIT 1) "
    "FROM sales s LEFT JOIN sale_vehicles v ON v.sale_id = s.sale_id "
    "LEFT JOIN sale_cancellations c ON c.sale_id = s.sale_id "
    "WHERE s.lead_id = ANY(CAST(:ids AS text[])) ORDER BY s.lead_id, s.sale_id, v.vin"
)

# What a dashboard groups money by (issue 20), from what the ledger stored of the records and sales it pays on: the
# record's county adcode and entrant, and the line of the posting's vehicle (else the record's line).
_ENTRY_FACTS = text("""
SELECT r.lead_id, r.sale_id, r.vin, l.region_code, l.entered_by, coalesce(v.product_line, l.product_line)
FROM unnest(CAST(:lead_id AS text[]), CAST(:sale_id AS text[]), CAST(:vin AS text[])) AS r(lead_id, sale_id, vin)
LEFT JOIN leads l ON l.lead_id = r.lead_id
LEFT JOIN sale_vehicles v ON v.sale_id = r.sale_id AND v.vin = r.vin
""")


def _columns(rows: Sequence[Mapping[str, Any]], names: Sequence[str] | None = None) -> dict[str, list[Any]]:
    """Rows as one array per column, the shape the unnest statements bind."""
    return {c: [r[c] for r in rows] for c in (names if names is not None else list(rows[0]))}


async def upsert_leads(session: AsyncSession, rows: Sequence[Mapping[str, Any]], *, now: datetime) -> None:
    """Store the records' facts, one row per record (folded by the caller: a row may be touched once per statement)."""
    if rows:
        await session.execute(_UPSERT_LEADS, {"now": now, **_columns(rows, _LEAD_COLUMNS)})


async def insert_sales(session: AsyncSession, rows: Sequence[Mapping[str, Any]], *, now: datetime) -> None:
    """Store sales not stored yet; a stored sale is never changed."""
    if rows:
        await session.execute(_INSERT_SALES, {"now": now, **_columns(rows)})


async def insert_vehicles(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Store sales' vehicles not stored yet."""
    if rows:
        await session.execute(_INSERT_VEHICLES, _columns(rows))


async def insert_cancellations(session: AsyncSession, cancelled_at: Mapping[str, datetime]) -> None:
    """Store each sale's cancellation time unless one is stored already."""
    if cancelled_at:
        await session.execute(
            _INSERT_CANCELLATIONS, {"sale_id": list(cancelled_at), "cancelled_at": list(cancelled_at.values())}
        )


async def leads_of_sales(session: AsyncSession, sale_ids: Sequence[str]) -> dict[str, str | None]:
    """The record each stored sale is attributed to (None: to no record); sales not stored are absent."""
    if not sale_ids:
        return {}
    return {sale: lead for sale, lead in await session.execute(_LEADS_OF_SALES, {"sales": list(sale_ids)})}


async def leads_by_id(session: AsyncSession, lead_ids: Sequence[str]) -> Sequence[Any]:
    """The stored records: id, customer, entrant, authorized dealer, eligibility, cross-region, tier, verified,
    customer existed (the fields of `rewards.LeadState`, in its order)."""
    return (await session.execute(_LEADS, {"ids": list(lead_ids)})).all()


async def sales_of_leads(session: AsyncSession, lead_ids: Sequence[str]) -> Sequence[Any]:
    """One row per sale of the records and vehicle: lead, sale, seller, supplier, sold at, claims, vin, product
    line, cancelled, the latest amount HQ set for the vehicle (or None)."""
    return (await session.execute(_SALES, {"ids": list(lead_ids)})).all()


async def entry_facts(
    session: AsyncSession, wanted: Sequence[tuple[str | None, str | None, str | None]]
) -> Sequence[Any]:
    """For each (lead, sale, vin): the record's county and entrant and the vehicle's (else the record's) line."""
    return (
        await session.execute(
            _ENTRY_FACTS,
            {"lead_id": [w[0] for w in wanted], "sale_id": [w[1] for w in wanted], "vin": [w[2] for w in wanted]},
        )
    ).all()


async def sale(session: AsyncSession, sale_id: str) -> Sale | None:
    return await session.get(Sale, sale_id)


async def sale_vehicle(session: AsyncSession, sale_id: str, vin: str) -> SaleVehicle | None:
    return await session.get(SaleVehicle, (sale_id, vin))


async def sale_cancelled(session: AsyncSession, sale_id: str) -> bool:
    return await session.get(SaleCancellation, sale_id) is not None


async def record_guarantee_setting(
    session: AsyncSession, *, sale_id: str, vin: str, amount_fen: int, set_by: str, now: datetime
) -> None:
    """Append the amount HQ set for a vehicle (appended only: the latest one counts)."""
    session.add(GuaranteeSetting(sale_id=sale_id, vin=vin, amount_fen=amount_fen, set_by=set_by, set_at=now))
    await session.flush()
