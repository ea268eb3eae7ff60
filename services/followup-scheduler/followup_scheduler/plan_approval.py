"""The plan approval chain (domain.md §4 "Who makes, reviews and approves (制定 / 審核 / 批準) depends on the customer
tier"; §5 the same for promotion plans): who may make a plan, the stages a plan passes given its lines' tiers, and
who may act at each stage (policy/work_plans.toml).

Rules a token is judged by:
- a position the stage does not list: 403 `forbidden` (the caller sees the plan, it may not act on it);
- HQ regional staff (a `regions` claim) act and see only for dealers in their regions: another dealer's plan is
  404, as for a dealer reading another dealer's plan (contract.md "Conventions");
- a token without a position keeps its role's rights: a dealer token acts as the dealer's makers and at every
  dealer-side stage, an hq_admin token at every HQ-side stage (switches in the policy); hq_analyst only reads;
- an HQ token with a position acts by that position whatever its HQ role (a regional manager may hold an analyst's
  masked reading rights); HQ never acts at a dealer-side stage (plans are made bottom-up).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from leadnet_shared.auth import DEALER_POSITIONS, HQ_POSITIONS, Principal
from leadnet_shared.policy import PolicyError, cached_policy
from leadnet_shared.problems import Forbidden

from .policy_values import policy_bool, policy_int, policy_section
from .vocabulary import PACKAGE, TIERS

POLICY = "work_plans"
Action = Literal["review", "approve"]
Side = Literal["dealer", "hq"]


@dataclass(frozen=True)
class Stage:
    """One step of the approval chain."""

    name: str
    action: Action
    side: Side
    positions: frozenset[str]
    tiers: frozenset[str]
    regional: bool


@dataclass(frozen=True)
class WorkPlansPolicy:
    version: str
    makers: frozenset[str]
    positionless_dealer_acts: bool
    positionless_hq_admin_acts: bool
    stages: tuple[Stage, ...]
    flag_late: bool
    periodic_target_day: int
    approval_reminder_days_before: tuple[int, ...]
    default_channel: str
    channel_of_product_line: Mapping[str, str]


def _names(value: Any, *, what: str, allowed: Iterable[str]) -> frozenset[str]:
    allowed = set(allowed)
    if not isinstance(value, list) or not value or any(v not in allowed for v in value):
        raise PolicyError(f"{POLICY} policy {what} must list some of {sorted(allowed)}, got {value!r}")
    return frozenset(str(v) for v in value)


def parse_work_plans_policy(data: Mapping[str, Any]) -> WorkPlansPolicy:
    """Check and type the work plans policy document."""
    stages: list[Stage] = []
    raw = data.get("stage")
    if not isinstance(raw, list) or not raw:
        raise PolicyError(f"{POLICY} policy needs at least one [[stage]]")
    for index, entry in enumerate(raw):
        if not isinstance(entry, Mapping):
            raise PolicyError(f"{POLICY} policy [[stage]] {index} must be a table")
        side = entry.get("side")
        action = entry.get("action")
        if side not in ("dealer", "hq") or action not in ("review", "approve"):
            raise PolicyError(f"{POLICY} policy [[stage]] {index}: side dealer|hq and action review|approve")
        positions = _names(
            entry.get("positions"),
            what=f"[[stage]] {index} positions",
            allowed=DEALER_POSITIONS if side == "dealer" else HQ_POSITIONS,
        )
        regional = entry.get("regional", False)
        if not isinstance(regional, bool) or (regional and side != "hq"):
            raise PolicyError(f"{POLICY} policy [[stage]] {index}: regional is true/false, and for HQ stages only")
        stages.append(
            Stage(
                name=str(entry.get("name") or f"stage_{index}"),
                action=action,
                side=side,
                positions=positions,
                tiers=_names(entry.get("tiers"), what=f"[[stage]] {index} tiers", allowed=TIERS),
                regional=regional,
            )
        )
    if len({stage.name for stage in stages}) != len(stages):
        raise PolicyError(f"{POLICY} policy stage names must be unique")
    for tier in TIERS:
        applicable = [stage for stage in stages if tier in stage.tiers]
        if not applicable or applicable[-1].action != "approve":
            raise PolicyError(f"{POLICY} policy: the chain of {tier} lines must end with an approve stage")
    draft = policy_section(data, "draft", policy=POLICY)
    reminders = policy_section(data, "reminders", policy=POLICY)
    before = reminders.get("approval_days_before", [])
    if not isinstance(before, list) or any(not isinstance(d, int) or isinstance(d, bool) or d < 0 for d in before):
        raise PolicyError(f"{POLICY} policy [reminders] approval_days_before must list whole numbers >= 0")
    rollup = policy_section(data, "rollup", policy=POLICY)
    channels = rollup.get("channel_of_product_line", {})
    if not isinstance(channels, Mapping):
        raise PolicyError(f"{POLICY} policy [rollup.channel_of_product_line] must be a table")
    periodic_day = policy_int(draft, "periodic_target_day", policy=POLICY, minimum=1)
    if periodic_day > 31:
        raise PolicyError(f"{POLICY} policy [draft] periodic_target_day must be at most 31")
    return WorkPlansPolicy(
        version=str(data["version"]),
        makers=_names(data.get("makers"), what="makers", allowed=DEALER_POSITIONS),
        positionless_dealer_acts=policy_bool(data, "positionless_dealer_acts", policy=POLICY),
        positionless_hq_admin_acts=policy_bool(data, "positionless_hq_admin_acts", policy=POLICY),
        stages=tuple(stages),
        flag_late=policy_bool(policy_section(data, "late", policy=POLICY), "flag", policy=POLICY),
        periodic_target_day=periodic_day,
        approval_reminder_days_before=tuple(sorted(set(before), reverse=True)),
        default_channel=str(rollup.get("default_channel", "general")),
        channel_of_product_line={str(k): str(v) for k, v in channels.items()},
    )


def work_plans_policy() -> WorkPlansPolicy:
    """The plan approval chain in force."""
    return parse_work_plans_policy(cached_policy(PACKAGE, POLICY))


def chain_for(tiers: Iterable[str], *, policy: WorkPlansPolicy | None = None) -> tuple[Stage, ...]:
    """The stages a plan with lines of `tiers` passes, in order (an empty plan: the stages of retail lines)."""
    present = set(tiers) or {"retail"}
    return tuple(stage for stage in (policy or work_plans_policy()).stages if stage.tiers & present)


def next_stage(chain: tuple[Stage, ...], current: str | None) -> Stage | None:
    """The stage after `current` (None: the first), None when `current` was the last."""
    if current is None:
        return chain[0] if chain else None
    names = [stage.name for stage in chain]
    index = names.index(current)
    return chain[index + 1] if index + 1 < len(chain) else None


def stage_named(chain: tuple[Stage, ...], name: str | None) -> Stage | None:
    return next((stage for stage in chain if stage.name == name), None)


def may_make(principal: Principal, *, policy: WorkPlansPolicy | None = None) -> bool:
    """Whether the caller may save and submit its dealer's plan (the path's dealer is checked by visibility)."""
    rules = policy or work_plans_policy()
    if principal.role != "dealer":
        return False
    if principal.position is None:
        return rules.positionless_dealer_acts
    return principal.position in rules.makers


def require_maker(principal: Principal, *, policy: WorkPlansPolicy | None = None) -> None:
    if not may_make(principal, policy=policy):
        raise Forbidden("Only the dealer's plan makers (policy work_plans.toml `makers`) save and submit its plans.")


def may_act(principal: Principal, stage: Stage, *, policy: WorkPlansPolicy | None = None) -> bool:
    """Whether the caller may review, approve or reject at `stage` (regions are checked by visibility: a regional
    caller never reaches a plan outside its regions)."""
    rules = policy or work_plans_policy()
    if stage.side == "dealer":
        if principal.role != "dealer":
            return False
        return rules.positionless_dealer_acts if principal.position is None else principal.position in stage.positions
    if not principal.is_hq:
        return False
    if principal.position is None:
        # hq_analyst reads only; an HQ person with a position acts by the position, whatever its HQ role.
        return principal.role == "hq_admin" and rules.positionless_hq_admin_acts
    return principal.position in stage.positions


def require_actor(principal: Principal, stage: Stage, *, policy: WorkPlansPolicy | None = None) -> None:
    if not may_act(principal, stage, policy=policy):
        raise Forbidden(
            f"The plan waits at stage {stage.name}: {stage.action} by {', '.join(sorted(stage.positions))} "
            f"({stage.side})."
        )


def dealer_region(territories: Iterable[str]) -> str | None:
    """The dealer's region for the roll-up and for regional staff: the province of its first territory."""
    for territory in territories:
        if len(territory) >= 2 and territory[:2].isdigit():
            return territory[:2]
    return None


def dealer_channel(product_lines: Iterable[str], *, policy: WorkPlansPolicy | None = None) -> str:
    """The dealer's sales channel (銷售通路) by its first product line (policy `[rollup]`)."""
    rules = policy or work_plans_policy()
    for line in product_lines:
        return rules.channel_of_product_line.get(line, rules.default_channel)
    return rules.default_channel


def periodic_target(*, first: date, last: date, policy: WorkPlansPolicy | None = None) -> date:
    """The target date of a periodic callback in the month from `first` to `last`."""
    day = min((policy or work_plans_policy()).periodic_target_day, last.day)
    return first.replace(day=day)
