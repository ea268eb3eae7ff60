"""Information networks HTTP API (`/v1/networks`): thin; the rules live in `information_networks`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from lead_intake.api import Caller, small_body
from lead_intake.information_networks import (
    HQ_OWNER,
    NetworkRegistration,
    authenticity,
    check_registration,
    parse_quarter,
    quarter_bounds,
    quarter_of,
)
from lead_intake.models import InformationNetwork
from lead_intake.network_grades import grade_network
from lead_intake.repository import networks
from lead_intake.state import intake_state
from lead_intake.visibility import visible_network
from leadnet_shared.app import runtime_of
from leadnet_shared.auth import Principal, require_roles
from leadnet_shared.carry import carried
from leadnet_shared.events import NetworkUpserted
from leadnet_shared.pagination import Page, PageParams
from leadnet_shared.problems import Conflict, DealerNotActive, Forbidden, NotFound, ValidationFailed, problem_responses

router = APIRouter(prefix="/v1/networks", tags=["networks"])


class Member(BaseModel):
    name: str
    type: str


class NetworkOut(BaseModel):
    code: str
    name: str
    kind: str
    scope: str
    owner: str
    members: list[Member]


class NetworkList(Page[NetworkOut]):
    pass


class NetworkStats(BaseModel):
    """Counts for one quarter (Asia/Shanghai), by the quarter the records were submitted in."""

    code: str
    quarter: str
    records: int
    verified: int
    authenticity: float | None


class NetworkQuarterEvaluation(BaseModel):
    """A network's quarter by the grade and authenticity tables (domain.md §1), counted now."""

    code: str
    quarter: str
    scope: str
    records: int
    verified: int
    grade: str  # A-D on the national or regional thresholds
    collection_cycle: str  # quarterly (A, B) | monthly (C, D)
    authenticity_share: float | None
    authenticity_level: int | None  # 1 (≥ 50 %) | 2 | 3; null without records
    network_class: str | None  # e.g. "B-2"
    management: str | None  # main (levels 1-2) | auxiliary (level 3)


def _out(network: InformationNetwork | NetworkRegistration) -> NetworkOut:
    return carried(NetworkOut, network)


@router.post(
    "",
    status_code=201,
    summary="Register an information network",
    responses=problem_responses(Forbidden, DealerNotActive, (Conflict, "network_exists"), ValidationFailed),
)
async def register_network(request: Request, principal: Caller) -> NetworkOut:
    """HQ (hq_admin) registers national networks, a dealer its regional ones (domain.md §1)."""
    require_roles(principal, "dealer", "hq_admin")
    runtime = runtime_of(request)
    await intake_state(runtime).dealers.require(runtime.db, principal)
    reg = check_registration(principal=principal, body=await small_body(request))
    now = runtime.clock.now()
    async with runtime.db.transaction() as session:
        if not await networks.register(session, **asdict(reg), registered_by=principal.caller_key, created_at=now):
            raise Conflict(f"A network with code {reg.code!r} is already registered.", code="network_exists")
        # For dashboards: the network without its members' names (they can name people); no grade until evaluated.
        registered = NetworkUpserted(
            code=reg.code,
            kind=reg.kind,
            scope=reg.scope,
            owner=reg.owner,
            member_types=sorted({str(m["type"]) for m in reg.members if m.get("type")}),
            registered_at=now,
            updated_at=now,
        )
        await runtime.outbox.publish(session, registered, key=reg.code, subject=reg.code, time=now)
    return _out(reg)


@router.get("", summary="The networks the caller may see")
async def list_networks(
    request: Request,
    principal: Caller,
    page: Annotated[PageParams, Depends()] = PageParams(),
) -> NetworkList:
    """By code; a network is never changed once registered, so `updated_since` is by registration time."""
    owners = None if principal.is_hq else [HQ_OWNER, str(principal.dealer)]
    async with runtime_of(request).db.sessions() as session:
        found = await networks.page(session, owners=owners, params=page)
    return NetworkList(items=[_out(n) for n in found.rows], next_cursor=found.next_cursor, total=found.total)


async def _visible_network(request: Request, principal: Principal, code: str) -> InformationNetwork:
    async with runtime_of(request).db.sessions() as session:
        return visible_network(principal, await networks.network(session, code))


@router.get("/{code}", responses=problem_responses(NotFound), summary="One information network")
async def get_network(code: str, request: Request, principal: Caller) -> NetworkOut:
    return _out(await _visible_network(request, principal, code))


@router.get(
    "/{code}/stats",
    responses={**problem_responses(NotFound), 422: {"description": "invalid quarter"}},
    summary="Records and verified records of a network in a quarter",
)
async def network_stats(code: str, request: Request, principal: Caller, quarter: str | None = None) -> NetworkStats:
    """Records saved (duplicates refused are not) with the network's code, and how many were verified true."""
    await _visible_network(request, principal, code)
    quarter, records, verified = await _quarter_counts(request, code, quarter)
    return NetworkStats(
        code=code,
        quarter=quarter,
        records=records,
        verified=verified,
        authenticity=authenticity(records=records, verified=verified),
    )


async def _quarter_counts(request: Request, code: str, quarter: str | None) -> tuple[str, int, int]:
    runtime = runtime_of(request)
    quarter = quarter or quarter_of(runtime.clock.now())
    parse_quarter(quarter)
    start, end = quarter_bounds(quarter)
    async with runtime.db.sessions() as session:
        records, verified = await networks.count_records(session, code=code, start=start, end=end)
    return quarter, records, verified


@router.get(
    "/{code}/evaluation",
    responses=problem_responses(NotFound, ValidationFailed),
    summary="A network's grade, authenticity level and collection cycle in a quarter",
)
async def network_evaluation(
    code: str, request: Request, principal: Caller, quarter: str | None = None
) -> NetworkQuarterEvaluation:
    """Counted when asked (the quarterly evaluation keeps what it found at the time)."""
    network = await _visible_network(request, principal, code)
    quarter, records, verified = await _quarter_counts(request, code, quarter)
    graded = grade_network(scope=network.scope, records=records, verified=verified)
    return carried(
        NetworkQuarterEvaluation,
        graded,
        code=code,
        quarter=quarter,
        scope=network.scope,
        records=records,
        verified=verified,
    )
