"""Who works a callback or promotion and how (domain.md §4 "Who calls" and "How", §5 staff table).

Two policy matrices (`policy/staffing.toml`): the staff matrix, nature × tier → the dealer positions that call and
the HQ positions that accompany (參陪人); the method matrix, nature × tier × demand → the methods, worked
periodically or on demand. `assignment_for` reads both for one task: the first caller is the task's position,
the first method its method. Only callbacks and promotions are staffed by the seed; other kinds have no cell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

from leadnet_shared.auth import DEALER_POSITIONS, HQ_POSITIONS
from leadnet_shared.policy import PolicyError, cached_policy

from .policy_values import policy_section
from .vocabulary import (
    DEMANDS,
    HORIZONS,
    METHOD_MODES,
    METHODS,
    NATURES,
    PACKAGE,
    TIERS,
    Demand,
    Method,
    MethodMode,
    Nature,
    Tier,
)

POLICY: Final = "staffing"
ANY_NATURE: Final = "any"  # a kind's table that holds for every nature (promotions: by tier only)
UNKNOWN_HORIZON: Final = "unknown"  # the demand row of a record without a purchase intent


@dataclass(frozen=True)
class Staff:
    """A staff-matrix cell: dealer positions that call (first works the task), HQ positions that accompany."""

    call: tuple[str, ...]
    accompany: tuple[str, ...]


@dataclass(frozen=True)
class Methods:
    """A method-matrix cell: the methods, first preferred, and whether the work is periodic or on demand."""

    methods: tuple[Method, ...]
    mode: MethodMode


@dataclass(frozen=True)
class Assignment:
    """Who works a task and how, as the matrices say for its kind, nature, tier and demand."""

    position: str
    method: str
    accompany: tuple[str, ...]
    positions: tuple[str, ...]  # every dealer position the staff cell lists (position first)
    methods: tuple[str, ...]  # every method the method cell lists (method first)
    mode: MethodMode
    demand: Demand
    policy_version: str


@dataclass(frozen=True)
class StaffingPolicy:
    """The parsed matrices, checked whole at load: a bad file fails at start, not on some later task."""

    version: str
    demand_of_horizon: Mapping[str, Demand]
    fixed_demand: Mapping[str, Demand]
    staff: Mapping[tuple[str, Nature, Tier], Staff]
    methods: Mapping[tuple[str, Nature, Tier, Demand], Methods]

    @property
    def kinds(self) -> frozenset[str]:
        """The task kinds the matrices staff (callback, promotion)."""
        return frozenset(kind for kind, _, _ in self.staff)


def _names(raw: Any, *, allowed: tuple[str, ...], where: str, may_be_empty: bool) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise PolicyError(f"staffing policy {where} must be a list of names")
    unknown = [item for item in raw if item not in allowed]
    if unknown:
        raise PolicyError(f"staffing policy {where} names unknown {unknown}; allowed: {', '.join(allowed)}")
    if not raw and not may_be_empty:
        raise PolicyError(f"staffing policy {where} must name at least one")
    if len(set(raw)) != len(raw):
        raise PolicyError(f"staffing policy {where} repeats a name")
    return tuple(raw)


def _by_nature(raw: Mapping[str, Any], *, where: str) -> dict[Nature, Any]:
    """A kind's table keyed by nature, or `any` for every nature."""
    if ANY_NATURE in raw:
        if len(raw) != 1:
            raise PolicyError(f"staffing policy {where} has `any` and single natures: use one or the other")
        return {nature: raw[ANY_NATURE] for nature in NATURES}
    missing = [nature for nature in NATURES if nature not in raw]
    extra = [key for key in raw if key not in NATURES]
    if missing or extra:
        raise PolicyError(
            f"staffing policy {where} must have every nature {NATURES} (missing {missing}, extra {extra})"
        )
    return {nature: raw[nature] for nature in NATURES}


def _by_tier(raw: Any, *, where: str) -> dict[Tier, Any]:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"staffing policy {where} must be a table by tier")
    missing = [tier for tier in TIERS if tier not in raw]
    if missing:
        raise PolicyError(f"staffing policy {where} lacks tiers {missing}")
    return {tier: raw[tier] for tier in TIERS}


def _parse_staff(data: Mapping[str, Any]) -> dict[tuple[str, Nature, Tier], Staff]:
    cells: dict[tuple[str, Nature, Tier], Staff] = {}
    for kind, by_nature in policy_section(data, "staff", policy=POLICY).items():
        if not isinstance(by_nature, Mapping):
            raise PolicyError(f"staffing policy [staff.{kind}] must be a table by nature")
        for nature, by_tier in _by_nature(by_nature, where=f"[staff.{kind}]").items():
            for tier, cell in _by_tier(by_tier, where=f"[staff.{kind}.{nature}]").items():
                where = f"[staff.{kind}.{nature}.{tier}]"
                if not isinstance(cell, Mapping):
                    raise PolicyError(f"staffing policy {where} must be a table")
                cells[(kind, nature, tier)] = Staff(
                    call=_names(cell.get("call"), allowed=DEALER_POSITIONS, where=f"{where} call", may_be_empty=False),
                    accompany=_names(
                        cell.get("accompany", []), allowed=HQ_POSITIONS, where=f"{where} accompany", may_be_empty=True
                    ),
                )
    return cells


def _parse_methods(
    data: Mapping[str, Any], *, fixed_demand: Mapping[str, Demand]
) -> dict[tuple[str, Nature, Tier, Demand], Methods]:
    cells: dict[tuple[str, Nature, Tier, Demand], Methods] = {}
    for kind, by_nature in policy_section(data, "methods", policy=POLICY).items():
        if not isinstance(by_nature, Mapping):
            raise PolicyError(f"staffing policy [methods.{kind}] must be a table by nature")
        # A kind with a fixed demand needs only that column; every other kind all three.
        columns: tuple[Demand, ...] = (fixed_demand[kind],) if kind in fixed_demand else DEMANDS
        for nature, by_tier in _by_nature(by_nature, where=f"[methods.{kind}]").items():
            for tier, by_demand in _by_tier(by_tier, where=f"[methods.{kind}.{nature}]").items():
                for demand in columns:
                    where = f"[methods.{kind}.{nature}.{tier}] {demand}"
                    cell = by_demand.get(demand)
                    if not isinstance(cell, Mapping):
                        raise PolicyError(f"staffing policy {where} is missing")
                    mode = cell.get("mode")
                    if mode not in METHOD_MODES:
                        raise PolicyError(f"staffing policy {where} mode must be one of {METHOD_MODES}")
                    methods = _names(cell.get("methods"), allowed=METHODS, where=f"{where} methods", may_be_empty=False)
                    cells[(kind, nature, tier, demand)] = Methods(
                        methods=cast(tuple[Method, ...], methods), mode=cast(MethodMode, mode)
                    )
    return cells


def _demand(raw: Any, *, where: str) -> Demand:
    if raw not in DEMANDS:
        raise PolicyError(f"staffing policy {where} must be one of {DEMANDS}, got {raw!r}")
    return cast(Demand, raw)


def parse_staffing_policy(data: Mapping[str, Any]) -> StaffingPolicy:
    """Check and type a staffing policy document (the TOML as a dict)."""
    by_horizon = policy_section(data, "demand_of_horizon", policy=POLICY)
    missing = [h for h in (*HORIZONS, UNKNOWN_HORIZON) if h not in by_horizon]
    if missing:
        raise PolicyError(f"staffing policy [demand_of_horizon] lacks {missing}")
    demand_of_horizon = {h: _demand(v, where=f"[demand_of_horizon] {h}") for h, v in by_horizon.items()}
    fixed = {k: _demand(v, where=f"[fixed_demand] {k}") for k, v in data.get("fixed_demand", {}).items()}
    staff = _parse_staff(data)
    methods = _parse_methods(data, fixed_demand=fixed)
    staffed = {kind for kind, _, _ in staff}
    with_methods = {kind for kind, _, _, _ in methods}
    if staffed != with_methods:
        raise PolicyError(
            f"staffing policy: kinds with staff {sorted(staffed)} and with methods {sorted(with_methods)} differ"
        )
    return StaffingPolicy(
        version=str(data["version"]),
        demand_of_horizon=demand_of_horizon,
        fixed_demand=fixed,
        staff=staff,
        methods=methods,
    )


def staffing_policy() -> StaffingPolicy:
    """The matrices in force (`policy/staffing.toml` or HQ's override)."""
    return parse_staffing_policy(cached_policy(PACKAGE, POLICY))


def demand_for(*, kind: str, horizon: str | None, policy: StaffingPolicy | None = None) -> Demand:
    """The method matrix's column for a task of `kind` following a record with purchase horizon `horizon`."""
    rules = policy or staffing_policy()
    if kind in rules.fixed_demand:
        return rules.fixed_demand[kind]
    key = UNKNOWN_HORIZON if horizon is None else horizon
    if key not in rules.demand_of_horizon:
        raise ValueError(f"unknown purchase horizon {horizon!r}")
    return rules.demand_of_horizon[key]


def is_staffed(kind: str, *, policy: StaffingPolicy | None = None) -> bool:
    """Whether the matrices give tasks of `kind` a position and method (callbacks and promotions)."""
    return kind in (policy or staffing_policy()).kinds


def assignment_for(
    *, kind: str, nature: str, tier: str, horizon: str | None, policy: StaffingPolicy | None = None
) -> Assignment:
    """Who works a `kind` task for a customer of `nature` and `tier` whose purchase horizon is `horizon`, and how.

    Raises ValueError for a kind the matrices do not staff (see `is_staffed`) or an unknown nature/tier/horizon.
    """
    rules = policy or staffing_policy()
    if kind not in rules.kinds:
        raise ValueError(f"the staffing matrices do not staff {kind!r} tasks")
    if nature not in NATURES:
        raise ValueError(f"unknown customer nature {nature!r}")
    if tier not in TIERS:
        raise ValueError(f"unknown customer tier {tier!r}")
    demand = demand_for(kind=kind, horizon=horizon, policy=rules)
    staff = rules.staff[(kind, nature, tier)]
    cell = rules.methods[(kind, nature, tier, demand)]
    return Assignment(
        position=staff.call[0],
        method=cell.methods[0],
        accompany=staff.accompany,
        positions=staff.call,
        methods=cell.methods,
        mode=cell.mode,
        demand=demand,
        policy_version=rules.version,
    )
