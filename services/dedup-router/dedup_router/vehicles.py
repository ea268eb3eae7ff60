"""The maker's vehicle registry (contract.md "Sales that pay money are confirmed facts"): which dealer holds which
VIN, with its model and product line. HQ loads it from its factory/wholesale system (`PUT /v1/vehicles`, `leadnet
import-vehicles`); a sale may only name vehicles in it, held by the seller or the supplier, and the product line
that decides a guarantee's amount is read from here, never from the seller's request."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dedup_router.repository import vehicles as vehicle_rows
from dedup_router.repository.dealers import known_dealer_codes
from dedup_router.schemas import VehicleIn
from dedup_router.vin import is_valid_vin
from leadnet_shared.problems import FieldProblem, ValidationFailed, json_pointer

# Before this no vehicle of the registry was delivered; an older date is a typo (year 0001 is not a date here).
DELIVERED_AT_FLOOR = datetime(1990, 1, 1, tzinfo=UTC)


async def vehicle_problems(
    session: AsyncSession, vehicles: Sequence[VehicleIn], *, now: datetime
) -> list[FieldProblem]:
    """Every bad VIN, unknown dealer and impossible delivery date of a registry upload, each at its pointer."""
    problems: list[FieldProblem] = []
    known = await known_dealer_codes(session, (v.delivered_to for v in vehicles))
    for i, vehicle in enumerate(vehicles):
        if not is_valid_vin(vehicle.vin):
            problems.append(
                FieldProblem(
                    json_pointer("vehicles", i, "vin"),
                    "invalid_vin",
                    "Not a VIN: 17 characters without I, O, Q and a matching check digit.",
                )
            )
        if vehicle.delivered_to not in known:
            problems.append(
                FieldProblem(json_pointer("vehicles", i, "delivered_to"), "unknown_dealer", "No dealer has this code.")
            )
        if not DELIVERED_AT_FLOOR <= vehicle.delivered_at <= now:
            problems.append(
                FieldProblem(
                    json_pointer("vehicles", i, "delivered_at"),
                    "invalid_delivered_at",
                    "A delivery is a past date after 1990.",
                )
            )
    return problems


async def upsert_vehicles(session: AsyncSession, vehicles: Sequence[VehicleIn], *, now: datetime) -> dict[str, int]:
    """Insert or replace the given vehicles (a VIN listed twice: the last line counts); all or nothing."""
    problems = await vehicle_problems(session, vehicles, now=now)
    if problems:
        raise ValidationFailed("The request has field problems; see errors.", errors=problems)
    if not vehicles:
        return {"created": 0, "updated": 0}
    rows: dict[str, dict[str, Any]] = {}
    for v in vehicles:
        rows[v.vin] = {
            "vin": v.vin,
            "model": v.model,
            "product_line": v.product_line,
            "delivered_to": v.delivered_to,
            "delivered_at": v.delivered_at,
            "updated_at": now,
        }
    inserted = await vehicle_rows.upsert_vehicles(session, list(rows.values()))
    return {"created": sum(inserted), "updated": len(inserted) - sum(inserted)}
