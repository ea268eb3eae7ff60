"""The vehicle registry's HTTP API: HQ loads it; a dealer reads only the vehicles it holds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from dedup_router.repository.vehicles import vehicle_by_vin
from dedup_router.schemas import VehicleOut, VehiclesIn, VehiclesOut
from dedup_router.vehicles import upsert_vehicles
from dedup_router.vin import is_valid_vin
from leadnet_shared.app import runtime_of
from leadnet_shared.auth import Principal, bearer_principal, require_roles
from leadnet_shared.problems import NotFound, problem_docs

router = APIRouter(prefix="/v1", tags=["vehicles"])
Caller = Annotated[Principal, Depends(bearer_principal)]


@router.put(
    "/vehicles",
    summary="Load vehicles into the registry (hq_admin)",
    responses=problem_docs(
        {422: "validation_failed (invalid_vin, unknown_dealer, invalid_delivered_at at each vehicle's pointer)"}
    ),
)
async def put_vehicles(body: VehiclesIn, request: Request, principal: Caller) -> VehiclesOut:
    """Up to 1000 vehicles, inserted or replaced by VIN, all or nothing."""
    require_roles(principal, "hq_admin")
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        counts = await upsert_vehicles(session, body.vehicles, now=runtime.clock.now())
    return VehiclesOut(**counts)


@router.get("/vehicles/{vin}", responses=problem_docs({404: "not_found"}))
async def get_vehicle(vin: str, request: Request, principal: Caller) -> VehicleOut:
    """HQ roles; a dealer only for a vehicle it holds (any other is a 404, held elsewhere or not)."""
    vin = vin.strip().upper()
    if not is_valid_vin(vin):  # never in the registry (and a NUL byte never reaches PostgreSQL)
        raise NotFound("No such vehicle.")
    async with runtime_of(request).db.sessions() as session:
        vehicle = await vehicle_by_vin(session, vin)
    if vehicle is None or (not principal.is_hq and vehicle.delivered_to != principal.dealer):
        raise NotFound("No such vehicle.")
    return VehicleOut.model_validate(vehicle, from_attributes=True)
